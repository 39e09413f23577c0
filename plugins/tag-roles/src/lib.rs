//! The tag-roles policy as a rollcall plugin.
//!
//! Roles and clusters come from EC2 tags: the role tag names an instance's
//! role, the cluster tag lists its clusters. A map from role to roles says
//! whom each role registers with (by default agents with monitors, monitors
//! with each other), always within the clusters self belongs to.
//!
//! Layout: [`settings`] parses and checks the operator's JSON settings,
//! [`policy`] is the pure decision logic (native unit tests run it without
//! WebAssembly), and this file binds both to the `rollcall:policy` world.

pub mod policy;
pub mod settings;

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "policy",
    });
}

use bindings::rollcall::policy::host::log;
use bindings::rollcall::policy::types::LogLevel;
pub use bindings::rollcall::policy::types::{
    Decision, Instance, Inventory, Member, SecurityGroup, Tag,
};
use settings::Settings;
use std::cell::RefCell;

thread_local! {
    /// The settings `configure` accepted; defaults until then.
    static SETTINGS: RefCell<Settings> = RefCell::new(Settings::default());
}

struct TagRoles;

impl bindings::Guest for TagRoles {
    fn configure(config: String) -> Result<(), String> {
        let settings = Settings::from_json(&config)?;
        SETTINGS.with(|current| *current.borrow_mut() = settings);
        Ok(())
    }

    fn decide(inventory: Inventory) -> Result<Decision, String> {
        SETTINGS.with(|settings| {
            let decision = policy::decide(&settings.borrow(), &inventory)?;
            log(
                LogLevel::Debug,
                &format!(
                    "{} members of {} instances, self registers with {}",
                    decision.members.len(),
                    inventory.instances.len(),
                    decision.register_with.len()
                ),
            );
            Ok(decision)
        })
    }
}

bindings::export!(TagRoles with_types_in bindings);
