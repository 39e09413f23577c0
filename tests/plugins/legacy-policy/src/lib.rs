//! A genuine `rollcall:policy@0.1.0` plugin, built from a copy of that
//! version of the interface (`wit/policy.wit`, as it stood before 0.2.0):
//! every running instance an agent, no registration targets. It exists so
//! the host's test can check that a 0.1.0 plugin is refused with a message
//! naming both versions.

mod bindings {
    wit_bindgen::generate!({ path: "wit", world: "policy" });
}

use bindings::Guest;
use bindings::rollcall::policy::host::log;
use bindings::rollcall::policy::types::{Decision, Inventory, LogLevel, Member};

struct LegacyPolicy;

impl Guest for LegacyPolicy {
    fn configure(_config: String) -> Result<(), String> {
        Ok(())
    }

    fn decide(inventory: Inventory) -> Result<Decision, String> {
        let members: Vec<Member> = inventory
            .instances
            .into_iter()
            .filter(|instance| instance.state == "running")
            .map(|instance| Member {
                instance_id: instance.id,
                role: "agent".to_owned(),
                clusters: Vec::new(),
                address: instance.private_ipv4,
                port: None,
            })
            .collect();
        // Calling the host keeps its 0.1.0 import in the component.
        log(LogLevel::Debug, &format!("{} agents", members.len()));
        Ok(Decision {
            members,
            register_with: Vec::new(),
        })
    }
}

bindings::export!(LegacyPolicy with_types_in bindings);
