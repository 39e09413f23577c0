//! Building a policy's answer: members, self's registration targets and,
//! when the operator asks `rollcall explain`, the reasons.

use crate::bindings::rollcall::policy::types;
use crate::{AddressKind, Fleet, Instance};
use std::collections::HashMap;

pub use types::NoteTopic;

/// A role name of the answer; see [`Answer::role`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleId(u32);

/// A cluster name of the answer; see [`Answer::cluster`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClusterId(u32);

/// A label of a member, a name and a value of the answer; see
/// [`Answer::label`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    name: u32,
    value: u32,
}

/// The address peers should use to reach a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// One of the instance's own addresses: the host reads it from the
    /// fleet, nothing crosses back. Get it from [`AddressKind::of`], which
    /// checks that the instance has one.
    Own(AddressKind),
    /// Any other address, e.g. a name from a tag.
    Other(String),
}

/// One member of the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member's index in the fleet ([`Instance::index`]).
    pub instance: u32,
    pub role: RoleId,
    /// Each cluster at most once.
    pub clusters: Vec<ClusterId>,
    /// `None` when the instance has no address of the kind the policy chose.
    pub address: Option<Address>,
    pub port: Option<u16>,
    /// Labels from [`Answer::label`], each name at most once (the host's
    /// rules for names and values are `wit/policy.wit`'s `label`); may be
    /// empty.
    pub labels: Vec<Label>,
}

/// Names used by members, each once, in the order first asked for.
#[derive(Debug, Default)]
struct Names {
    names: Vec<String>,
    index: HashMap<String, u32>,
}

impl Names {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&index) = self.index.get(name) {
            return index;
        }
        let index = self.names.len() as u32;
        self.names.push(name.to_owned());
        self.index.insert(name.to_owned(), index);
        index
    }
}

/// A policy's answer under construction: [`crate::Policy::decide`] fills it.
#[derive(Debug)]
pub struct Answer {
    roles: Names,
    clusters: Names,
    label_names: Names,
    label_values: Names,
    members: Vec<Member>,
    register_with: Vec<u32>,
    notes: Vec<types::Note>,
    self_instance: Option<u32>,
    explain: Option<u32>,
}

impl Answer {
    /// An empty answer for `fleet`.
    pub fn new(fleet: &Fleet) -> Answer {
        Answer {
            roles: Names::default(),
            clusters: Names::default(),
            label_names: Names::default(),
            label_values: Names::default(),
            members: Vec::new(),
            register_with: Vec::new(),
            notes: Vec::new(),
            self_instance: fleet.self_instance().map(|own| own.index()),
            explain: fleet.explained().map(|explained| explained.index()),
        }
    }

    /// The role called `name` (added the first time it is asked for).
    pub fn role(&mut self, name: &str) -> RoleId {
        RoleId(self.roles.intern(name))
    }

    /// The cluster called `name` (added the first time it is asked for).
    pub fn cluster(&mut self, name: &str) -> ClusterId {
        ClusterId(self.clusters.intern(name))
    }

    /// The label `name` = `value` (each added the first time it is asked
    /// for): names and values cross to the host once however many members
    /// carry them.
    pub fn label(&mut self, name: &str, value: &str) -> Label {
        Label {
            name: self.label_names.intern(name),
            value: self.label_values.intern(value),
        }
    }

    /// The name and value of a label of this answer.
    pub fn label_text(&self, label: Label) -> (&str, &str) {
        (
            &self.label_names.names[label.name as usize],
            &self.label_values.names[label.value as usize],
        )
    }

    /// The name of a role of this answer.
    pub fn role_name(&self, role: RoleId) -> &str {
        &self.roles.names[role.0 as usize]
    }

    /// The name of a cluster of this answer.
    pub fn cluster_name(&self, cluster: ClusterId) -> &str {
        &self.clusters.names[cluster.0 as usize]
    }

    /// Cluster names joined with `, `, or `none`: for reasons.
    pub fn cluster_names(&self, clusters: &[ClusterId]) -> String {
        if clusters.is_empty() {
            return "none".to_owned();
        }
        clusters
            .iter()
            .map(|cluster| self.cluster_name(*cluster))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Sorts clusters by name and drops repeats.
    pub fn sort_clusters(&self, clusters: &mut Vec<ClusterId>) {
        clusters.sort_unstable_by(|a, b| self.cluster_name(*a).cmp(self.cluster_name(*b)));
        clusters.dedup();
    }

    /// Adds a member; each instance at most once.
    pub fn add_member(&mut self, member: Member) {
        self.members.push(member);
    }

    /// The members added so far, in the order they were added.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Makes `target` one of self's registration targets: it must be a
    /// member with an address, and not self.
    pub fn register_with(&mut self, target: Instance<'_>) {
        self.register_with.push(target.index());
    }

    /// Self's registration targets so far, as instance indices.
    pub fn targets(&self) -> &[u32] {
        &self.register_with
    }

    /// Whether the operator asked to explain `instance`: only then do
    /// [`Answer::note`]'s notes about it count.
    pub fn explains(&self, instance: Instance<'_>) -> bool {
        self.explain == Some(instance.index())
    }

    /// Whether the operator asked to explain self: only then do
    /// [`Answer::note_target`]'s notes count.
    pub fn explains_targets(&self) -> bool {
        self.explain.is_some() && self.explain == self.self_instance
    }

    /// A reason for what was decided about `instance` (its role or lack of
    /// one, its clusters, its address), kept when the operator asked to
    /// explain it. `text` is called only then: notes cost nothing otherwise.
    pub fn note(&mut self, instance: Instance<'_>, text: impl FnOnce() -> String) {
        if self.explains(instance) {
            self.push_note(instance, NoteTopic::Decision, text());
        }
    }

    /// Why `candidate` was taken as self's registration target or left out,
    /// kept when the operator asked to explain self. `text` is called only
    /// then.
    pub fn note_target(&mut self, candidate: Instance<'_>, text: impl FnOnce() -> String) {
        if self.explains_targets() {
            self.push_note(candidate, NoteTopic::Target, text());
        }
    }

    fn push_note(&mut self, instance: Instance<'_>, topic: NoteTopic, text: String) {
        self.notes.push(types::Note {
            instance: instance.index(),
            topic,
            text,
        });
    }

    /// The answer as it crosses back to the host. (Public for the host's
    /// round-trip test, which carries it into the host's types.)
    #[doc(hidden)]
    pub fn into_decision(self) -> types::Decision {
        types::Decision {
            roles: self.roles.names,
            clusters: self.clusters.names,
            label_names: self.label_names.names,
            label_values: self.label_values.names,
            members: self
                .members
                .into_iter()
                .map(|member| types::Member {
                    instance: member.instance,
                    role: member.role.0,
                    clusters: member
                        .clusters
                        .into_iter()
                        .map(|cluster| cluster.0)
                        .collect(),
                    address: member.address.map(|address| match address {
                        Address::Own(kind) => types::Address::Own(kind.into()),
                        Address::Other(text) => types::Address::Other(text),
                    }),
                    port: member.port,
                    labels: member
                        .labels
                        .into_iter()
                        .map(|label| types::Label {
                            name: label.name,
                            value: label.value,
                        })
                        .collect(),
                })
                .collect(),
            register_with: self.register_with,
            notes: self.notes,
        }
    }

    /// The answer with every index turned back into ids and names, as the
    /// host will read it: what native unit tests compare.
    pub fn resolved(&self, fleet: &Fleet) -> Resolved {
        let id = |index: u32| {
            fleet
                .instance(index)
                .map_or_else(|| format!("#{index}"), |instance| instance.id().to_owned())
        };
        Resolved {
            members: self
                .members
                .iter()
                .map(|member| ResolvedMember {
                    id: id(member.instance),
                    role: self.role_name(member.role).to_owned(),
                    clusters: member
                        .clusters
                        .iter()
                        .map(|cluster| self.cluster_name(*cluster).to_owned())
                        .collect(),
                    address: member.address.as_ref().and_then(|address| match address {
                        Address::Own(kind) => fleet
                            .instance(member.instance)
                            .and_then(|instance| kind.read(instance))
                            .map(str::to_owned),
                        Address::Other(text) => Some(text.clone()),
                    }),
                    port: member.port,
                    labels: member
                        .labels
                        .iter()
                        .map(|label| {
                            let (name, value) = self.label_text(*label);
                            (name.to_owned(), value.to_owned())
                        })
                        .collect(),
                })
                .collect(),
            register_with: self.register_with.iter().map(|&index| id(index)).collect(),
            notes: self
                .notes
                .iter()
                .map(|note| (id(note.instance), note.topic, note.text.clone()))
                .collect(),
        }
    }
}

/// An answer in ids and names (see [`Answer::resolved`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// In the order the policy added them.
    pub members: Vec<ResolvedMember>,
    pub register_with: Vec<String>,
    /// `(instance id, topic, text)`.
    pub notes: Vec<(String, NoteTopic, String)>,
}

/// A member in ids and names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedMember {
    pub id: String,
    pub role: String,
    pub clusters: Vec<String>,
    pub address: Option<String>,
    pub port: Option<u16>,
    /// `(name, value)`, in the order the policy gave them.
    pub labels: Vec<(String, String)>,
}

impl Resolved {
    /// `(id, role)` of every member.
    pub fn roles(&self) -> Vec<(&str, &str)> {
        self.members
            .iter()
            .map(|member| (member.id.as_str(), member.role.as_str()))
            .collect()
    }

    /// The texts of the notes about `id` on `topic`.
    pub fn notes_about(&self, id: &str, topic: NoteTopic) -> Vec<&str> {
        self.notes
            .iter()
            .filter(|(about, on, _)| about == id && *on == topic)
            .map(|(_, _, text)| text.as_str())
            .collect()
    }
}

/// The clusters of `ours` that `theirs` has too, in the order of `ours`.
pub fn shared_clusters(ours: &[ClusterId], theirs: &[ClusterId]) -> Vec<ClusterId> {
    ours.iter()
        .filter(|cluster| theirs.contains(cluster))
        .copied()
        .collect()
}

/// Whether two members' clusters have one in common; two empty lists count
/// as sharing (instances without any cluster form one group), an empty and a
/// non-empty one do not.
pub fn share_a_cluster(ours: &[ClusterId], theirs: &[ClusterId]) -> bool {
    (ours.is_empty() && theirs.is_empty()) || ours.iter().any(|cluster| theirs.contains(cluster))
}

/// `text` quoted as a JSON string (`"green"`, `"a \"b\""`): how a reason
/// quotes a value (a tag's, a setting's), the same in every SDK so that a
/// policy's reasons read the same in Rust, Python and JavaScript.
pub fn quote(text: &str) -> String {
    // Into a `String`, a `str` always serializes; the fallback is never taken.
    serde_json::to_string(text).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InstanceRecord, InstanceState};

    fn fleet(self_id: Option<&str>, explain: Option<&str>) -> Fleet {
        let records = ["i-1", "i-2", "i-3"].map(|id| InstanceRecord {
            private_ipv4: Some(format!("10.0.0.{}", &id[2..])),
            ..InstanceRecord::new(id, InstanceState::Running)
        });
        Fleet::from_records(&records, self_id, explain).unwrap()
    }

    #[test]
    fn names_are_interned_once_in_first_use_order() {
        let mut answer = Answer::new(&fleet(None, None));
        let agent = answer.role("agent");
        let monitor = answer.role("monitor");
        assert_eq!(answer.role("agent"), agent);
        assert_ne!(agent, monitor);
        assert_eq!(answer.role_name(monitor), "monitor");
        let decision = answer.into_decision();
        assert_eq!(decision.roles, ["agent", "monitor"]);
    }

    #[test]
    fn labels_cross_as_names_and_values_each_listed_once() {
        let fleet = fleet(None, None);
        let mut answer = Answer::new(&fleet);
        let agent = answer.role("agent");
        for (index, zone) in [(0, "us-east-1a"), (1, "us-east-1b"), (2, "us-east-1a")] {
            let labels = vec![answer.label("zone", zone), answer.label("team", "blue")];
            answer.add_member(Member {
                instance: index,
                role: agent,
                clusters: Vec::new(),
                address: None,
                port: None,
                labels,
            });
        }
        let zone_a = answer.label("zone", "us-east-1a");
        assert_eq!(answer.label_text(zone_a), ("zone", "us-east-1a"));
        let resolved = answer.resolved(&fleet);
        assert_eq!(
            resolved.members[1].labels,
            [
                ("zone".to_owned(), "us-east-1b".to_owned()),
                ("team".to_owned(), "blue".to_owned())
            ]
        );
        let decision = answer.into_decision();
        assert_eq!(decision.label_names, ["zone", "team"]);
        assert_eq!(decision.label_values, ["us-east-1a", "blue", "us-east-1b"]);
        let crossed: Vec<Vec<(u32, u32)>> = decision
            .members
            .iter()
            .map(|member| {
                member
                    .labels
                    .iter()
                    .map(|label| (label.name, label.value))
                    .collect()
            })
            .collect();
        assert_eq!(
            crossed,
            [
                vec![(0, 0), (1, 1)],
                vec![(0, 2), (1, 1)],
                vec![(0, 0), (1, 1)]
            ]
        );
    }

    #[test]
    fn clusters_sort_by_name_without_repeats() {
        let mut answer = Answer::new(&fleet(None, None));
        let red = answer.cluster("red");
        let blue = answer.cluster("blue");
        let mut clusters = vec![red, blue, red];
        answer.sort_clusters(&mut clusters);
        assert_eq!(clusters, [blue, red]);
    }

    #[test]
    fn the_resolved_answer_names_ids_roles_and_own_addresses() {
        let fleet = fleet(Some("i-1"), None);
        let mut answer = Answer::new(&fleet);
        let monitor = answer.role("monitor");
        let blue = answer.cluster("blue");
        let second = fleet.instance(1).unwrap();
        answer.add_member(Member {
            instance: second.index(),
            role: monitor,
            clusters: vec![blue],
            address: AddressKind::PrivateIp.of(second),
            port: Some(7070),
            labels: Vec::new(),
        });
        answer.register_with(second);
        let resolved = answer.resolved(&fleet);
        assert_eq!(
            resolved.members,
            [ResolvedMember {
                id: "i-2".to_owned(),
                role: "monitor".to_owned(),
                clusters: vec!["blue".to_owned()],
                address: Some("10.0.0.2".to_owned()),
                port: Some(7070),
                labels: Vec::new(),
            }]
        );
        assert_eq!(resolved.register_with, ["i-2"]);
    }

    #[test]
    fn notes_are_kept_only_for_what_was_asked() {
        let texts_called = std::cell::Cell::new(0);
        let text = |words: &str| {
            texts_called.set(texts_called.get() + 1);
            words.to_owned()
        };
        for (explain, expected) in [
            (None, vec![]),
            (Some("i-2"), vec![("i-2", NoteTopic::Decision, "about 2")]),
            (
                Some("i-1"),
                vec![
                    ("i-1", NoteTopic::Decision, "about 1"),
                    ("i-3", NoteTopic::Target, "3 as a target"),
                ],
            ),
        ] {
            texts_called.set(0);
            let fleet = fleet(Some("i-1"), explain);
            let mut answer = Answer::new(&fleet);
            let [one, two, three] = [0, 1, 2].map(|index| fleet.instance(index).unwrap());
            answer.note(one, || text("about 1"));
            answer.note(two, || text("about 2"));
            answer.note_target(three, || text("3 as a target"));
            let notes = answer.resolved(&fleet).notes;
            let notes: Vec<(&str, NoteTopic, &str)> = notes
                .iter()
                .map(|(id, topic, text)| (id.as_str(), *topic, text.as_str()))
                .collect();
            assert_eq!(notes, expected, "explaining {explain:?}");
            assert_eq!(
                texts_called.get(),
                expected.len(),
                "texts made only when kept"
            );
        }
    }

    #[test]
    fn clusters_are_shared_by_a_common_one_or_by_having_none() {
        let [a, b, c] = [0, 1, 2].map(ClusterId);
        assert!(share_a_cluster(&[], &[]));
        assert!(!share_a_cluster(&[], &[a]));
        assert!(!share_a_cluster(&[a], &[]));
        assert!(share_a_cluster(&[a, b], &[b, c]));
        assert!(!share_a_cluster(&[a], &[b, c]));
        assert_eq!(shared_clusters(&[a, b, c], &[c, b]), [b, c]);
    }

    #[test]
    fn cluster_names_read_as_a_list_or_none() {
        let mut answer = Answer::new(&fleet(None, None));
        let clusters = [answer.cluster("blue"), answer.cluster("green")];
        assert_eq!(answer.cluster_names(&clusters), "blue, green");
        assert_eq!(answer.cluster_names(&[]), "none");
    }
}
