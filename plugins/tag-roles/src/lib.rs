//! The tag-roles policy as a rollcall plugin.
//!
//! Roles and clusters come from EC2 tags: the role tag names an instance's
//! role, the cluster tag lists its clusters. A map from role to roles says
//! whom each role registers with (by default agents with monitors, monitors
//! with each other), always within the clusters self belongs to.
//!
//! Layout: [`settings`] parses and checks the operator's JSON settings,
//! [`policy`] is the pure decision logic (native unit tests run it without
//! WebAssembly), and this file binds both to the `rollcall:policy` world
//! through [`rollcall_policy_sdk`].

pub mod policy;
pub mod settings;

use rollcall_policy_sdk::{Decision, Guest, Inventory, LogLevel, install_panic_hook, log, summary};
use settings::Settings;
use std::cell::RefCell;

thread_local! {
    /// The settings `configure` accepted; defaults until then.
    static SETTINGS: RefCell<Settings> = RefCell::new(Settings::default());
}

struct TagRoles;

impl Guest for TagRoles {
    fn configure(config: String) -> Result<(), String> {
        install_panic_hook();
        SETTINGS.set(Settings::from_json(&config)?);
        Ok(())
    }

    fn decide(inventory: Inventory) -> Result<Decision, String> {
        let decision = SETTINGS.with_borrow(|settings| policy::decide(settings, &inventory))?;
        log(LogLevel::Debug, &summary(&inventory, &decision));
        Ok(decision)
    }
}

rollcall_policy_sdk::export!(TagRoles);
