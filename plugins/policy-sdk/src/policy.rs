//! The contract between a policy and the SDK: [`Policy`], and what
//! [`crate::export_policy!`] runs for the host's two calls.

use crate::bindings::rollcall::policy::types;
use crate::{Answer, Fleet, LogLevel, install_panic_hook, log};
use std::any::Any;
use std::cell::RefCell;

/// A role-mapping policy. Export it with [`crate::export_policy!`].
pub trait Policy: Sized + 'static {
    /// Reads the operator's settings, a JSON document (`{}` when none were
    /// given; [`crate::settings_from_json`] helps). An error, meant for the
    /// operator, makes the host refuse the policy.
    fn configure(settings: &str) -> Result<Self, String>;

    /// Decides members, roles, clusters, addresses and self's registration
    /// targets for `fleet`, into `answer`; when the operator asks `rollcall
    /// explain`, also says why ([`Answer::note`], [`Answer::note_target`]).
    /// An error means the policy cannot decide this fleet.
    fn decide(&self, fleet: &Fleet, answer: &mut Answer) -> Result<(), String>;
}

thread_local! {
    /// The policy `configure` made. Every evaluation runs in a fresh
    /// instance of the plugin, so this lives for one fleet only.
    static CONFIGURED: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

/// The host's `configure`: installs the panic hook and keeps the policy.
#[doc(hidden)]
pub fn configure<P: Policy>(settings: String) -> Result<(), String> {
    install_panic_hook();
    let policy = P::configure(&settings)?;
    CONFIGURED.set(Some(Box::new(policy)));
    Ok(())
}

/// The host's `decide`: the question read into a [`Fleet`], the policy run,
/// its answer turned into what crosses back.
#[doc(hidden)]
pub fn decide<P: Policy>(question: types::Question) -> Result<types::Decision, String> {
    let fleet = Fleet::new(question)?;
    let mut answer = Answer::new(&fleet);
    CONFIGURED.with_borrow(|configured| {
        let policy = configured
            .as_ref()
            .and_then(|policy| policy.downcast_ref::<P>())
            .ok_or("decide was called before configure")?;
        policy.decide(&fleet, &mut answer)
    })?;
    log(
        LogLevel::Debug,
        &format!(
            "{} members of {} instances, self registers with {}",
            answer.members().len(),
            fleet.len(),
            answer.targets().len()
        ),
    );
    Ok(answer.into_decision())
}

/// Exports a [`Policy`] as the plugin's `rollcall:policy` world:
/// `rollcall_policy_sdk::export_policy!(MyPolicy);` at the crate root.
#[macro_export]
macro_rules! export_policy {
    ($policy:ty) => {
        /// The generated world's exports, run by the SDK.
        struct RollcallPolicyExports;

        impl $crate::bindings::Guest for RollcallPolicyExports {
            fn configure(config: String) -> Result<(), String> {
                $crate::policy::configure::<$policy>(config)
            }

            fn decide(
                question: $crate::bindings::rollcall::policy::types::Question,
            ) -> Result<$crate::bindings::rollcall::policy::types::Decision, String> {
                $crate::policy::decide::<$policy>(question)
            }
        }

        $crate::bindings::export!(RollcallPolicyExports with_types_in $crate::bindings);
    };
}
