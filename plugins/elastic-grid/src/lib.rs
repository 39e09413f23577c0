//! The Elastic Grid policy as a rollcall plugin.
//!
//! Roles come from security groups: instances in the monitor group are
//! monitors, instances in the agent group are agents. A monitor registers with
//! every other monitor, an agent with every monitor; an optional cluster
//! prefix scopes both to monitors that share a cluster with self, and
//! optional required tags keep other fleets on the same groups out.
//!
//! Layout: [`settings`] parses and checks the operator's JSON settings,
//! [`policy`] is the pure decision logic with its reasons (native unit tests
//! run it without WebAssembly), and this file binds both to the
//! `rollcall:policy` world through [`rollcall_policy_sdk`].

pub mod policy;
pub mod settings;

use rollcall_policy_sdk::{Answer, Fleet, Policy};
use settings::Settings;

struct ElasticGrid(Settings);

impl Policy for ElasticGrid {
    fn configure(settings: &str) -> Result<Self, String> {
        Settings::from_json(settings).map(ElasticGrid)
    }

    fn decide(&self, fleet: &Fleet, answer: &mut Answer) -> Result<(), String> {
        policy::decide(&self.0, fleet, answer);
        Ok(())
    }
}

rollcall_policy_sdk::export_policy!(ElasticGrid);
