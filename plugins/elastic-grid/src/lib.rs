//! The Elastic Grid policy as a rollcall plugin.
//!
//! Roles come from security groups: instances in the monitor group are
//! monitors, instances in the agent group are agents. A monitor registers with
//! every other monitor, an agent with every monitor; an optional cluster
//! prefix scopes both to monitors that share a cluster with self.
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

struct ElasticGrid;

impl Guest for ElasticGrid {
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

rollcall_policy_sdk::export!(ElasticGrid);
