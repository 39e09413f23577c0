//! The registration graph: every member with its role, clusters and marks,
//! and who registers with whom, as the policy answers with each member as
//! self. `GET /v1/graph` serves it, the page at `GET /` draws it, and
//! `resolve --format dot` prints it for Graphviz ([`dot`]).

pub mod dot;

use crate::inventory::Inventory;
use crate::membership::Membership;
use crate::policy::{self, Policy};
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Above this many members only self's edges are drawn: the graph costs
/// one policy evaluation per member, each over the whole fleet, so its cost
/// grows with the square of the fleet; at 500 members it is 500
/// evaluations, a few seconds of one core at most.
pub const MAX_GRAPH_MEMBERS: usize = 500;

/// The graph of one answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Graph {
    /// The instance rollcall runs on, if any.
    #[serde(rename = "self")]
    pub own: Option<String>,
    /// Every member, sorted by instance id.
    pub nodes: Vec<Node>,
    /// Who registers with whom, sorted.
    pub edges: Vec<Edge>,
    /// What the graph leaves out, and why.
    pub notes: Vec<String>,
}

/// One member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    /// The instance id.
    pub id: String,
    /// Its role.
    pub role: String,
    /// Its clusters.
    pub clusters: Vec<String>,
    /// Where to reach it, if it has an address.
    pub address: Option<String>,
    /// The port to use, when the policy gives one.
    pub port: Option<u16>,
    /// What is unusual about it, in this order: `self`, `stale`, `leaving`,
    /// `unconfirmed`.
    pub flags: Vec<Flag>,
}

/// Something unusual about a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Flag {
    /// The instance rollcall runs on.
    #[serde(rename = "self")]
    Own,
    /// Its account-region could not be listed this time: as last listed.
    Stale,
    /// It is on its way out (Auto Scaling, spot, a scheduled event).
    Leaving,
    /// Missing from the latest listing, kept for its grace.
    Unconfirmed,
}

impl Flag {
    /// The flag's name, as the JSON writes it.
    pub fn name(self) -> &'static str {
        match self {
            Flag::Own => "self",
            Flag::Stale => "stale",
            Flag::Leaving => "leaving",
            Flag::Unconfirmed => "unconfirmed",
        }
    }
}

/// `from` registers with `to`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
}

impl Graph {
    /// The graph as the membership document alone tells it: every member,
    /// and self's edges only (the document names no one else's targets).
    pub fn of_answer(membership: &Membership) -> Graph {
        let mut graph = Graph::nodes_of(membership);
        graph.add_own_edges(membership);
        graph.notes.push(
            "edges for self only: the membership document names self's targets only".to_owned(),
        );
        graph
    }

    /// The whole graph of `membership`, decided from `inventory` by
    /// `policy`: the policy is asked again with each member as self (self's
    /// edges are the answer's own). Above `cap` members, self's edges only,
    /// and a note says so. Blocks: it runs the policy.
    pub fn decide(
        membership: &Membership,
        inventory: &Inventory,
        policy: &dyn Policy,
        cap: usize,
    ) -> Graph {
        let mut graph = Graph::nodes_of(membership);
        graph.add_own_edges(membership);
        if graph.nodes.len() > cap {
            graph.notes.push(format!(
                "edges for self only: {} members exceed {}",
                thousands(graph.nodes.len()),
                thousands(cap)
            ));
            return graph;
        }
        let own = graph.own.clone();
        let ids: Vec<String> = graph
            .nodes
            .iter()
            .map(|node| node.id.clone())
            .filter(|id| Some(id) != own.as_ref())
            .collect();
        for id in ids {
            match policy::evaluate(policy, &inventory.instances, Some(&id)) {
                Ok(decision) => graph.add_edges(&id, decision.register_with),
                Err(err) => graph
                    .notes
                    .push(format!("no edges from {id}: the policy failed: {err}")),
            }
        }
        graph.edges.sort();
        graph.edges.dedup();
        graph
    }

    /// [`Graph::decide`] on a blocking thread.
    pub async fn decide_off_loop(
        membership: Arc<Membership>,
        inventory: Arc<Inventory>,
        policy: Arc<dyn Policy>,
        cap: usize,
    ) -> Result<Graph, String> {
        tokio::task::spawn_blocking(move || Graph::decide(&membership, &inventory, &*policy, cap))
            .await
            .map_err(|err| format!("the graph's evaluation stopped unexpectedly: {err}"))
    }

    /// Every member as a node, no edges yet.
    fn nodes_of(membership: &Membership) -> Graph {
        let own = membership.own.as_ref().map(|own| own.instance_id.clone());
        let nodes = membership
            .members
            .iter()
            .map(|member| {
                let status = &member.status;
                let flags = [
                    (own.as_ref() == Some(&member.instance_id), Flag::Own),
                    (status.stale, Flag::Stale),
                    (status.leaving.is_some(), Flag::Leaving),
                    (status.unconfirmed, Flag::Unconfirmed),
                ]
                .into_iter()
                .filter_map(|(set, flag)| set.then_some(flag))
                .collect();
                Node {
                    id: member.instance_id.clone(),
                    role: member.role.clone(),
                    clusters: member.clusters.clone(),
                    address: member.address.clone(),
                    port: member.port,
                    flags,
                }
            })
            .collect();
        Graph {
            own,
            nodes,
            edges: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn add_own_edges(&mut self, membership: &Membership) {
        if let Some(own) = self.own.clone() {
            let targets = membership.register_with.iter();
            self.add_edges(&own, targets.map(|target| target.instance_id.clone()));
        }
    }

    /// Edges from `from` to each of `targets` that is a node; a target the
    /// answer has no member for is left out (the policy decided the fleet
    /// differently with `from` as self) and noted.
    fn add_edges(&mut self, from: &str, targets: impl IntoIterator<Item = String>) {
        let ids: BTreeSet<&str> = self.nodes.iter().map(|node| node.id.as_str()).collect();
        let (known, unknown): (Vec<String>, Vec<String>) = targets
            .into_iter()
            .partition(|target| ids.contains(target.as_str()));
        if !unknown.is_empty() {
            self.notes.push(format!(
                "edges from {from} to instances that are no members of the answer left out: {}",
                unknown.join(", ")
            ));
        }
        self.edges.extend(known.into_iter().map(|to| Edge {
            from: from.to_owned(),
            to,
        }));
    }
}

/// `n` with commas between thousands: `10,000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{Instance, LeavingEntry};
    use crate::membership::{InventorySummary, SelfEntry, Target};
    use crate::policy::{Decision, Member, PolicyError, PolicyIdentity};
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn member(id: &str, role: &str) -> Member {
        Member {
            instance_id: id.to_owned(),
            role: role.to_owned(),
            clusters: vec!["blue".to_owned()],
            address: Some("10.0.0.1".to_owned()),
            port: None,
            labels: Default::default(),
            status: Default::default(),
        }
    }

    /// Monitors `m-*` and agents `a-*`; self is `a-0`.
    fn fleet(monitors: usize, agents: usize) -> (Membership, Inventory) {
        let ids: Vec<String> = (0..monitors)
            .map(|n| format!("m-{n}"))
            .chain((0..agents).map(|n| format!("a-{n}")))
            .collect();
        let mut members: Vec<Member> = ids
            .iter()
            .map(|id| {
                member(
                    id,
                    if id.starts_with("m-") {
                        "monitor"
                    } else {
                        "agent"
                    },
                )
            })
            .collect();
        members.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
        let inventory = Inventory {
            instances: ids.iter().map(|id| Instance::running(id)).collect(),
            source: "test".to_owned(),
            fetched_at: std::time::UNIX_EPOCH,
            snapshot: None,
            unconfirmed: Vec::new(),
            stale_parts: Vec::new(),
        };
        let membership = Membership {
            own: Some(SelfEntry {
                instance_id: "a-0".to_owned(),
                role: Some("agent".to_owned()),
                clusters: vec!["blue".to_owned()],
                leaving: None,
            }),
            register_with: (0..monitors)
                .map(|n| Target {
                    instance_id: format!("m-{n}"),
                    role: "monitor".to_owned(),
                    address: "10.0.0.1".to_owned(),
                    port: None,
                })
                .collect(),
            members,
            policy: identity(),
            inventory: InventorySummary {
                source: "test".to_owned(),
                instances: ids.len(),
                fetched_at: "1970-01-01T00:00:00Z".to_owned(),
                stale: false,
                stale_for_seconds: None,
                error: None,
                snapshot: None,
                stale_parts: Vec::new(),
            },
        };
        (membership, inventory)
    }

    fn identity() -> PolicyIdentity {
        PolicyIdentity {
            path: "grid.wasm".into(),
            sha256: "0".repeat(64),
        }
    }

    /// Agents register with every monitor, monitors with every other
    /// monitor; `m-1` as self fails. Counts its evaluations.
    struct Grid {
        identity: PolicyIdentity,
        evaluations: AtomicUsize,
    }

    impl Policy for Grid {
        fn identity(&self) -> &PolicyIdentity {
            &self.identity
        }

        fn decide(
            &self,
            fleet: &crate::inventory::Fleet,
            self_id: Option<&str>,
            _explain: Option<&str>,
        ) -> Result<Decision, PolicyError> {
            let instances = &fleet.instances();
            self.evaluations.fetch_add(1, Ordering::SeqCst);
            if self_id == Some("m-1") {
                return Err(PolicyError::Rejected {
                    name: "grid".to_owned(),
                    message: "no answer for m-1".to_owned(),
                });
            }
            let mut members: Vec<Member> = instances
                .iter()
                .map(|instance| {
                    let role = if instance.id.starts_with("m-") {
                        "monitor"
                    } else {
                        "agent"
                    };
                    member(&instance.id, role)
                })
                .collect();
            members.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
            let register_with = members
                .iter()
                .filter(|member| member.role == "monitor" && Some(&*member.instance_id) != self_id)
                .map(|member| member.instance_id.clone())
                .collect();
            Ok(Decision {
                members,
                register_with,
                notes: Vec::new(),
            })
        }
    }

    fn grid() -> Grid {
        Grid {
            identity: identity(),
            evaluations: AtomicUsize::new(0),
        }
    }

    fn edges(graph: &Graph) -> Vec<(&str, &str)> {
        graph
            .edges
            .iter()
            .map(|edge| (edge.from.as_str(), edge.to.as_str()))
            .collect()
    }

    #[test]
    fn every_member_is_asked_as_self_once_and_self_from_the_answer() {
        let (membership, inventory) = fleet(3, 2);
        let policy = grid();
        let graph = Graph::decide(&membership, &inventory, &policy, MAX_GRAPH_MEMBERS);
        // Five members, self's edges from the answer: four evaluations.
        assert_eq!(policy.evaluations.load(Ordering::SeqCst), 4);
        assert_eq!(
            edges(&graph),
            [
                ("a-0", "m-0"),
                ("a-0", "m-1"),
                ("a-0", "m-2"),
                ("a-1", "m-0"),
                ("a-1", "m-1"),
                ("a-1", "m-2"),
                ("m-0", "m-1"),
                ("m-0", "m-2"),
                ("m-2", "m-0"),
                ("m-2", "m-1"),
            ]
        );
        assert_eq!(graph.own.as_deref(), Some("a-0"));
        assert_eq!(graph.nodes[0].flags, [Flag::Own]);
        assert!(
            graph.notes[0].starts_with("no edges from m-1: the policy failed:"),
            "{:?}",
            graph.notes
        );
    }

    #[test]
    fn above_the_cap_only_self_s_edges_are_drawn_and_the_graph_says_so() {
        let (membership, inventory) = fleet(2, 3);
        let policy = grid();
        let graph = Graph::decide(&membership, &inventory, &policy, 4);
        assert_eq!(policy.evaluations.load(Ordering::SeqCst), 0);
        assert_eq!(edges(&graph), [("a-0", "m-0"), ("a-0", "m-1")]);
        assert_eq!(graph.notes, ["edges for self only: 5 members exceed 4"]);
    }

    #[test]
    fn stale_leaving_and_unconfirmed_members_are_flagged() {
        let (mut membership, _) = fleet(1, 3);
        membership.members[1].status.stale = true;
        membership.members[2].status.leaving = Some(LeavingEntry {
            reason: "spot-interruption".to_owned(),
            deadline: None,
        });
        membership.members[3].status.unconfirmed = true;
        membership.members[3].status.stale = true;
        let graph = Graph::of_answer(&membership);
        let flags: Vec<(&str, Vec<&str>)> = graph
            .nodes
            .iter()
            .map(|node| {
                (
                    node.id.as_str(),
                    node.flags.iter().map(|f| f.name()).collect(),
                )
            })
            .collect();
        assert_eq!(
            flags,
            [
                ("a-0", vec!["self"]),
                ("a-1", vec!["stale"]),
                ("a-2", vec!["leaving"]),
                ("m-0", vec!["stale", "unconfirmed"]),
            ]
        );
        let json = serde_json::to_value(&graph).unwrap();
        assert_eq!(
            json["nodes"][3]["flags"],
            serde_json::json!(["stale", "unconfirmed"])
        );
        assert_eq!(
            json["edges"][0],
            serde_json::json!({"from": "a-0", "to": "m-0"})
        );
        assert_eq!(json["self"], "a-0");
    }

    #[test]
    fn thousands_are_separated_by_commas() {
        let cases = [(0, "0"), (500, "500"), (1000, "1,000"), (10_000, "10,000")];
        for (n, text) in cases {
            assert_eq!(thousands(n), text);
        }
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
