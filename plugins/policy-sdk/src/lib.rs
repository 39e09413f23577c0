//! What every rollcall policy plugin needs: the `rollcall:policy@0.3.0`
//! world behind a typed view of the fleet, an answer builder, and the few
//! rules policies share.
//!
//! A plugin depends on this crate only (not on `wit-bindgen`), implements
//! [`Policy`] and exports it:
//!
//! ```ignore
//! use rollcall_policy_sdk::{AddressKind, Answer, Fleet, Member, Policy};
//!
//! struct EveryoneAnAgent;
//!
//! impl Policy for EveryoneAnAgent {
//!     fn configure(_settings: &str) -> Result<Self, String> {
//!         Ok(EveryoneAnAgent)
//!     }
//!
//!     fn decide(&self, fleet: &Fleet, answer: &mut Answer) -> Result<(), String> {
//!         let agent = answer.role("agent");
//!         for instance in fleet.candidates() {
//!             answer.note(instance, || "every candidate is an agent".to_owned());
//!             answer.add_member(Member {
//!                 instance: instance.index(),
//!                 role: agent,
//!                 clusters: Vec::new(),
//!                 address: AddressKind::PrivateIp.of(instance),
//!                 port: None,
//!                 labels: Vec::new(),
//!             });
//!         }
//!         Ok(())
//!     }
//! }
//!
//! rollcall_policy_sdk::export_policy!(EveryoneAnAgent);
//! ```
//!
//! An [`Instance`] reads the fleet's columns through accessors (`id()`,
//! `state()`, `private_ipv4()`, `tags()`, `availability_zone()`,
//! `launch_time()`, ...). 0.3.0 added the fleet as it lives: `account()`,
//! `lifecycle()` (a [`LifecycleState`]), `lifecycle_group()`, `leaving()` (a
//! [`Leaving`] with its [`LeaveReason`] and deadline), and `serves()`: false
//! when the instance is leaving or Auto Scaling holds it out of service
//! (pending-wait, standby, terminating, terminating-wait, detaching,
//! warmed), with `unserving_reason()` saying why for a note; and each
//! [`SecurityGroup`]'s `owner`, the account that owns it.
//!
//! A [`Member`] carries labels for its consumers (team, zone, instance
//! type...): [`Answer::label`] interns a name and a value, so each crosses
//! to the host once however many members carry it.
//!
//! Layout: `bindings` is generated from `wit/policy.wit` (plugins use the
//! re-exports below, not the module); `fleet` reads the fleet's columns as
//! typed instances, `records` builds a fleet from plain records for native
//! tests, `answer` builds the decision and the notes `rollcall explain`
//! shows ([`quote`] quotes values in them as JSON, as every SDK does),
//! `address` picks the address peers use, `settings` reads a
//! policy's settings, `policy` runs a [`Policy`] for the host, `panic` sends
//! a panic's message to the host's log.

mod address;
mod answer;
mod fleet;
mod panic;
#[doc(hidden)]
pub mod policy;
mod records;
mod settings;

/// The generated bindings. Public only because [`export_policy!`] expands,
/// in the plugin's crate, to paths inside this module; use the re-exports at
/// the crate root instead.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "policy",
        // `export!` is used by the plugin crates, not by this one: make it
        // `#[macro_export]` and have it find the generated types here.
        pub_export_macro: true,
        default_bindings_module: "rollcall_policy_sdk::bindings",
        // Policies and their tests compare states and note topics.
        additional_derives: [PartialEq, Eq],
    });
}

pub use address::AddressKind;
pub use answer::{
    Address, Answer, ClusterId, Label, Member, NoteTopic, Resolved, ResolvedMember, RoleId, quote,
    share_a_cluster, shared_clusters,
};
pub use bindings::rollcall::policy::host::log;
pub use bindings::rollcall::policy::types::LogLevel;
pub use fleet::{
    Fleet, Instance, InstanceState, LeaveReason, Leaving, LifecycleState, SecurityGroup, Tag,
};
pub use panic::install_panic_hook;
pub use policy::Policy;
pub use records::InstanceRecord;
pub use settings::settings_from_json;
