//! A policy that misbehaves on request, for the end-to-end tests of the
//! host's defences. Its settings pick the misbehaviour: `{"mode": "..."}`.
//!
//! Modes: `well-behaved` (every running instance an agent, self registers with
//! everyone else), `unknown-member`, `empty-role`, `duplicate-member`,
//! `self-target`, `error`, `trap`, `reject-settings`, `chatty` (floods the
//! log and stdout, then behaves).

use rollcall_policy_sdk::{Decision, Guest, Inventory, LogLevel, Member, candidates, log};
use std::cell::RefCell;

thread_local! {
    static MODE: RefCell<String> = RefCell::new("well-behaved".to_owned());
}

struct Misbehaving;

impl Guest for Misbehaving {
    fn configure(config: String) -> Result<(), String> {
        let settings: serde_json::Value =
            serde_json::from_str(&config).map_err(|err| err.to_string())?;
        let mode = settings
            .get("mode")
            .and_then(|mode| mode.as_str())
            .unwrap_or("well-behaved")
            .to_owned();
        if mode == "reject-settings" {
            return Err("mode reject-settings: these settings are never good enough".to_owned());
        }
        MODE.with(|current| *current.borrow_mut() = mode);
        Ok(())
    }

    fn decide(inventory: Inventory) -> Result<Decision, String> {
        let mode = MODE.with(|mode| mode.borrow().clone());
        let mut decision = well_behaved(&inventory);
        let first = decision.members.first().cloned();
        match (mode.as_str(), first) {
            ("well-behaved", _) => {}
            ("unknown-member", _) => decision.members.push(agent("i-doesnotexist", None)),
            ("empty-role", Some(mut member)) => {
                member.role = String::new();
                decision.members[0] = member;
            }
            ("duplicate-member", Some(member)) => decision.members.push(member),
            ("self-target", _) => decision.register_with.extend(inventory.self_id.clone()),
            ("error", _) => return Err("mode error: this policy refuses to decide".to_owned()),
            ("trap", _) => panic!("mode trap: the policy panicked on purpose"),
            ("chatty", _) => {
                for line in 0..5_000 {
                    log(LogLevel::Info, &format!("chatty log line {line}"));
                }
                println!("chatty stdout line");
                eprintln!("chatty stderr line");
            }
            (other, _) => return Err(format!("unknown mode {other:?}")),
        }
        Ok(decision)
    }
}

/// Every running instance (and self) an agent; self registers with the rest.
fn well_behaved(inventory: &Inventory) -> Decision {
    let self_id = inventory.self_id.as_deref();
    let members: Vec<Member> = candidates(inventory)
        .map(|instance| agent(&instance.id, instance.private_ipv4.clone()))
        .collect();
    let register_with = match self_id {
        Some(own) => members
            .iter()
            .filter(|member| member.instance_id != own && member.address.is_some())
            .map(|member| member.instance_id.clone())
            .collect(),
        None => Vec::new(),
    };
    Decision {
        members,
        register_with,
    }
}

fn agent(id: &str, address: Option<String>) -> Member {
    Member {
        instance_id: id.to_owned(),
        role: "agent".to_owned(),
        clusters: Vec::new(),
        address,
        port: None,
    }
}

rollcall_policy_sdk::export!(Misbehaving);
