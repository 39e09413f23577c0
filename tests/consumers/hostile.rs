//! Fleets for the structure checks: clean members every format must carry,
//! and members whose id, address or role carry what would break a format
//! (quotes, `;`, `#`, braces, `{{`, `%`, non-ASCII), which a format must
//! escape or leave out, never pass on to mean something else.

use super::harness::{Instance, resolve, write_fleet};
use kit::plugins::{ELASTIC_GRID, TAG_ROLES};
use serde_json::Value;
use std::path::Path;

/// The monitors' and agents' ports, as Elastic Grid and tag-roles give them.
/// Nothing listens there: a consumer that connects (haproxy's checks,
/// Prometheus's scrapes) meets a refusal on loopback.
pub const MONITOR_PORT: u16 = 9;
pub const AGENT_PORT: u16 = 19;

/// A member as the membership document has it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Member {
    pub id: String,
    pub role: String,
    pub address: String,
    pub port: Option<u16>,
}

impl Member {
    /// The member `id` of `role` at `endpoint` (`ADDR`, `ADDR:PORT` or
    /// `[V6]:PORT`), as a consumer read it.
    pub fn at(id: &str, role: &str, endpoint: &str) -> Member {
        let (address, port) = match endpoint.strip_prefix('[') {
            Some(bracketed) => {
                let (address, port) = bracketed.split_once(']').expect("a closing bracket");
                (address, port.strip_prefix(':'))
            }
            None => match endpoint.rsplit_once(':') {
                Some((address, port)) => (address, Some(port)),
                None => (endpoint, None),
            },
        };
        Member {
            id: id.to_owned(),
            role: role.to_owned(),
            address: address.to_owned(),
            port: port.map(|port| port.parse().expect("a port")),
        }
    }

    /// Whether id, role and address are all plain words every format can
    /// carry as they are: such a member must be in every output.
    pub fn is_clean(&self) -> bool {
        [&self.id, &self.role, &self.address]
            .iter()
            .all(|text| is_plain(text))
    }
}

/// Letters, digits, `-`, `_` and `.` only.
pub fn is_plain(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-_.".contains(&byte))
}

/// The members with an address in a membership document.
pub fn members(document: &Value) -> Vec<Member> {
    document["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|member| {
            Some(Member {
                id: member["instance_id"].as_str()?.to_owned(),
                role: member["role"].as_str()?.to_owned(),
                address: member["address"].as_str()?.to_owned(),
                port: member["port"].as_u64().map(|port| port as u16),
            })
        })
        .collect()
}

/// A fleet, the policy and settings to resolve it with, and self.
pub struct Case {
    pub name: &'static str,
    pub fleet: std::path::PathBuf,
    pub plugin: &'static str,
    pub settings: String,
    pub self_id: &'static str,
}

impl Case {
    /// rollcall's output in `format`, and the members of its JSON document.
    pub fn resolve(&self, format: &str) -> (String, Vec<Member>) {
        let output = super::harness::resolve(
            &self.fleet,
            self.plugin,
            &self.settings,
            self.self_id,
            format,
        );
        let document: Value =
            serde_json::from_str(&self.resolve_json()).expect("--format json is JSON");
        (output, members(&document))
    }

    /// rollcall's membership document (`--format json`).
    pub fn resolve_json(&self) -> String {
        resolve(
            &self.fleet,
            self.plugin,
            &self.settings,
            self.self_id,
            "json",
        )
    }
}

/// Self in every case: a clean monitor.
pub const SELF: &str = "i-0000000000000c001";

/// The cases, their fleets written in `dir`: a clean fleet in clusters
/// `blue` and `green` (one agent in none); hostile ids and
/// addresses under Elastic Grid; hostile roles under tag-roles.
pub fn cases(dir: &Path) -> Vec<Case> {
    let clean = dir.join("clean.json");
    let in_clusters = |mut instance: Instance<'static>, clusters: &[&'static str]| {
        instance.groups.extend(clusters);
        instance
    };
    write_fleet(
        &clean,
        &[
            in_clusters(Instance::monitor(SELF, "127.0.0.41"), &["cluster-blue"]),
            in_clusters(
                Instance::monitor("i-0000000000000c002", "127.0.0.42"),
                &["cluster-blue", "cluster-green"],
            ),
            in_clusters(
                Instance::agent("i-0000000000000c003", "127.0.0.43"),
                &["cluster-blue"],
            ),
            Instance::agent("i-0000000000000c004", "127.0.0.44"),
        ],
    );
    let hostile_ids = dir.join("hostile-ids.json");
    write_fleet(
        &hostile_ids,
        &[
            Instance::monitor(SELF, "127.0.0.41"),
            Instance::monitor("i-quote\"d", "127.0.0.51"),
            Instance::monitor("i-semi;colon", "127.0.0.52"),
            Instance::monitor("i-hash#tag", "127.0.0.53"),
            Instance::monitor("i-com,ma", "127.0.0.59"),
            Instance::monitor("i-eq=ual", "127.0.0.60"),
            Instance::agent("i-brace{}", "127.0.0.54"),
            Instance::agent("i-{{moustache}}", "127.0.0.55"),
            Instance::agent("i-per%cent", "127.0.0.56"),
            Instance::agent("i-apos'trophe", "127.0.0.57"),
            Instance::agent("i-bäckslash\\", "127.0.0.58"),
            Instance::agent("i-0000000000000c003", "127.0.0.43"),
            Instance::agent("i-0000000000000h001", "127.0.0.61;x"),
            Instance::agent("i-0000000000000h002", "127.0.0.62#x"),
            Instance::agent("i-0000000000000h003", "127.0.0.63}"),
            Instance::agent("i-0000000000000h004", "127.0.0.64\"x"),
        ],
    );
    let hostile_roles = dir.join("hostile-roles.json");
    let tagged = |id, address, role| Instance {
        id,
        address,
        groups: Vec::new(),
        tags: vec![("rollcall:role", role)],
    };
    write_fleet(
        &hostile_roles,
        &[
            tagged(SELF, "127.0.0.41", "monitor"),
            tagged("i-0000000000000c003", "127.0.0.43", "agent"),
            tagged("i-0000000000000r001", "127.0.0.71", "agent x"),
            tagged("i-0000000000000r002", "127.0.0.72", "a;b"),
            tagged("i-0000000000000r003", "127.0.0.73", "a{b}"),
            tagged("i-0000000000000r004", "127.0.0.74", "a#b"),
            tagged("i-0000000000000r005", "127.0.0.75", "a\"b"),
            tagged("i-0000000000000r006", "127.0.0.76", "{{a}}"),
            tagged("i-0000000000000r007", "127.0.0.77", "mönitor"),
            tagged("i-0000000000000r008", "127.0.0.78", "a%b"),
            tagged("i-0000000000000r009", "127.0.0.79", "a_b"),
        ],
    );
    let elastic_grid = format!(r#"{{"monitor_port": {MONITOR_PORT}, "agent_port": {AGENT_PORT}}}"#);
    vec![
        Case {
            name: "clean",
            fleet: clean,
            plugin: ELASTIC_GRID,
            settings: format!(
                r#"{{"monitor_port": {MONITOR_PORT}, "agent_port": {AGENT_PORT}, "cluster_group_prefix": "cluster-"}}"#
            ),
            self_id: SELF,
        },
        Case {
            name: "hostile ids and addresses",
            fleet: hostile_ids,
            plugin: ELASTIC_GRID,
            settings: elastic_grid,
            self_id: SELF,
        },
        Case {
            name: "hostile roles",
            fleet: hostile_roles,
            plugin: TAG_ROLES,
            settings: format!(r#"{{"ports": {{"monitor": {MONITOR_PORT}}}}}"#),
            self_id: SELF,
        },
    ]
}

/// Asserts that what a consumer understood (`read`: backend or upstream
/// name, and the member it stands for as the consumer read it) is exactly
/// the members: each one the consumer holds is a member as the document
/// has it, in its role's group; no member twice; every clean member there.
pub fn assert_means_the_members(
    case: &str,
    output: &str,
    read: &[(String, Member)],
    members: &[Member],
) {
    let context = || format!("case {case}; the output:\n{output}\nthe consumer read: {read:#?}");
    let plain_groups: Vec<String> = members
        .iter()
        .filter(|member| is_plain(&member.role))
        .map(|member| format!("rollcall_{}", member.role))
        .collect();
    let mut seen: Vec<Member> = Vec::new();
    for (group, understood) in read {
        let Some(member) = members.iter().find(|member| {
            member.address == understood.address
                && member.port == understood.port
                && (understood.id.is_empty() || member.id == understood.id)
                && !seen.contains(member)
        }) else {
            panic!("{understood:?} is no member of the fleet: {}", context());
        };
        if is_plain(&member.role) {
            assert_eq!(*group, format!("rollcall_{}", member.role), "{}", context());
        } else {
            assert!(
                group.starts_with("rollcall_") && !plain_groups.contains(group),
                "{member:?} is in {group}, another role's: {}",
                context()
            );
        }
        seen.push(member.clone());
    }
    for member in members.iter().filter(|member| member.is_clean()) {
        assert!(
            seen.contains(member),
            "{member:?} is missing: {}",
            context()
        );
    }
}
