//! {{name}}: a rollcall policy. Each running instance (and self, whatever its
//! state) whose security group is named in the `roles` setting gets that
//! role; self registers with every other `monitor` that has an address and
//! serves (is not leaving, nor held out of service by Auto Scaling).

use rollcall_policy_sdk::{AddressKind, Answer, Fleet, Member, Policy, settings_from_json};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The policy's settings, from the operator's JSON.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Settings {
    /// Security group name to role.
    roles: BTreeMap<String, String>,
}

impl Default for Settings {
    fn default() -> Self {
        let roles = [("eg-monitor", "monitor"), ("eg-cybernode", "agent")];
        Settings {
            roles: roles
                .into_iter()
                .map(|(group, role)| (group.to_owned(), role.to_owned()))
                .collect(),
        }
    }
}

struct RolesByGroup(Settings);

impl Policy for RolesByGroup {
    fn configure(settings: &str) -> Result<Self, String> {
        settings_from_json("{{name}}", settings).map(RolesByGroup)
    }

    fn decide(&self, fleet: &Fleet, answer: &mut Answer) -> Result<(), String> {
        for instance in fleet.candidates() {
            let Some((group, role)) = instance
                .security_groups()
                .find_map(|group| Some((group.name, self.0.roles.get(group.name)?)))
            else {
                answer.note(instance, || "no role: none of its groups is in `roles`".to_owned());
                continue;
            };
            answer.note(instance, || format!("role {role}: in group {group}"));
            let role = answer.role(role);
            answer.add_member(Member {
                instance: instance.index(),
                role,
                clusters: Vec::new(),
                address: AddressKind::PrivateIp.of(instance),
                port: None,
                labels: Vec::new(),
            });
        }
        let monitor = answer.role("monitor");
        let targets: Vec<u32> = answer
            .members()
            .iter()
            .filter(|member| member.role == monitor && member.address.is_some())
            .filter(|member| fleet.instance(member.instance).is_some_and(|it| it.serves()))
            .map(|member| member.instance)
            .collect();
        if let Some(own) = fleet.self_instance() {
            for target in targets.into_iter().filter(|&target| target != own.index()) {
                answer.register_with(fleet.instance(target).expect("a member is an instance"));
            }
        }
        Ok(())
    }
}

rollcall_policy_sdk::export_policy!(RolesByGroup);
