//! The tag-roles policy as a rollcall plugin.
//!
//! Roles and clusters come from EC2 tags: the role tag names an instance's
//! role, the cluster tag lists its clusters. A map from role to roles says
//! whom each role registers with (by default agents with monitors, monitors
//! with each other), always within the clusters self belongs to.
//!
//! Layout: [`settings`] parses and checks the operator's JSON settings,
//! [`policy`] is the pure decision logic with its reasons (native unit tests
//! run it without WebAssembly), and this file binds both to the
//! `rollcall:policy` world through [`rollcall_policy_sdk`].

pub mod policy;
pub mod settings;

use rollcall_policy_sdk::{Answer, Fleet, Policy};
use settings::Settings;

struct TagRoles(Settings);

impl Policy for TagRoles {
    fn configure(settings: &str) -> Result<Self, String> {
        Settings::from_json(settings).map(TagRoles)
    }

    fn decide(&self, fleet: &Fleet, answer: &mut Answer) -> Result<(), String> {
        policy::decide(&self.0, fleet, answer);
        Ok(())
    }
}

rollcall_policy_sdk::export_policy!(TagRoles);
