//! Checks a policy's answer against the inventory it was given, so that no
//! output ever names an instance that does not exist or a target that cannot
//! be reached, and no role, cluster or address carries what a shell word, an
//! environment variable or a terminal cannot hold safely.
//!
//! A member whose role, cluster names, address or labels cannot be used is
//! dropped from the answer (with a [`NoteTopic::Dropped`] note saying why;
//! `answer` drops those with too many labels or a label name twice), and
//! stops being a registration target: such text comes from whoever can tag
//! or name one instance, and one instance must not fail every node's
//! answer. The label rules are `wit/policy.wit`'s (`label`), their bounds
//! in `limits`. Everything else wrong (an unknown instance, a member listed
//! twice, a target that is no member) is the policy's bug and fails the
//! whole answer.

use super::limits::{LABEL_NAME_BYTES, LABEL_VALUE_BYTES, LABELS_PER_MEMBER};
use super::{Decision, Labels, Member, Note, NoteTopic};
use crate::inventory::Fleet;
use foldhash::{HashMap, HashSet};

/// How many problems an error lists before it summarises the rest.
const PROBLEMS_LISTED: usize = 10;
/// How much of a policy's text a problem quotes.
const QUOTED_CHARS: usize = 64;

/// The decision with members and targets sorted by instance id, and the
/// members that cannot be used dropped (noted); or every problem found (the
/// first few, and how many more).
pub fn validated(
    mut decision: Decision,
    fleet: &Fleet,
    self_id: Option<&str>,
) -> Result<Decision, Vec<String>> {
    let mut problems = Problems::default();
    // foldhash: ids come from EC2 and the plugin, not from an attacker
    // choosing collisions, and SipHash showed in the profile at 100k.
    let known: HashSet<&str> = fleet.ids().collect();

    let dropped = drop_unusable(&mut decision, &known, self_id);

    let mut members = HashMap::with_capacity_and_hasher(decision.members.len(), Default::default());
    for member in &decision.members {
        let id = member.instance_id.as_str();
        if !known.contains(id) {
            problems.push(format!("member {} is not in the inventory", quoted(id)));
            continue;
        }
        if members.insert(id, member).is_some() {
            problems.push(format!("member {id} is listed more than once"));
        }
    }

    let mut targets =
        HashSet::with_capacity_and_hasher(decision.register_with.len(), Default::default());
    for target in &decision.register_with {
        let id = target.as_str();
        match members.get(id) {
            None => problems.push(format!(
                "registration target {} is not a member",
                quoted(id)
            )),
            Some(member) if member.address.is_none() => {
                problems.push(format!("registration target {id} has no address"))
            }
            Some(_) => {}
        }
        if Some(id) == self_id {
            problems.push(format!("self ({id}) is its own registration target"));
        }
        if self_id.is_none() {
            problems.push(format!(
                "registration target {id} given, but there is no self"
            ));
        }
        if !targets.insert(id) {
            problems.push(format!("registration target {id} is listed more than once"));
        }
    }

    if !problems.is_empty() {
        return Err(problems.into_list());
    }
    decision
        .members
        .sort_unstable_by(|a, b| a.instance_id.cmp(&b.instance_id));
    decision.register_with.sort_unstable();
    decision.notes.extend(dropped);
    Ok(decision)
}

/// Takes out of `decision` every member of the inventory whose role,
/// clusters, address or labels cannot be used, and every registration
/// target so dropped or already dropped by `answer` (all of them when self
/// is dropped: without a role, self registers with nobody). Returns a note
/// for each member dropped here.
fn drop_unusable(
    decision: &mut Decision,
    known: &HashSet<&str>,
    self_id: Option<&str>,
) -> Vec<Note> {
    let mut dropped = Vec::new();
    decision.members.retain(|member| {
        // An unknown instance is the policy's bug, reported as such.
        let reason = known
            .contains(member.instance_id.as_str())
            .then(|| unusable(member))
            .flatten();
        match reason {
            Some(text) => {
                dropped.push(Note {
                    instance_id: member.instance_id.clone(),
                    topic: NoteTopic::Dropped,
                    text,
                });
                false
            }
            None => true,
        }
    });
    let gone: HashSet<&str> = dropped
        .iter()
        .chain(
            decision
                .notes
                .iter()
                .filter(|note| note.topic == NoteTopic::Dropped),
        )
        .map(|note| note.instance_id.as_str())
        .collect();
    if gone.is_empty() {
        return dropped;
    }
    if self_id.is_some_and(|id| gone.contains(id)) {
        decision.register_with.clear();
    } else {
        decision
            .register_with
            .retain(|target| !gone.contains(target.as_str()));
    }
    dropped
}

/// The problems found in an answer: the first few in words, the rest
/// counted, so that an answer wrong a million times costs a short list.
#[derive(Debug, Default)]
pub struct Problems {
    listed: Vec<String>,
    more: usize,
}

impl Problems {
    /// Records a problem.
    pub fn push(&mut self, problem: String) {
        if self.listed.len() < PROBLEMS_LISTED {
            self.listed.push(problem);
        } else {
            self.more += 1;
        }
    }

    /// Whether none was found.
    pub fn is_empty(&self) -> bool {
        self.listed.is_empty()
    }

    /// The problems listed, and how many more there were.
    pub fn into_list(self) -> Vec<String> {
        let mut listed = self.listed;
        if self.more > 0 {
            listed.push(format!("and {} more", self.more));
        }
        listed
    }
}

/// Why a member with `count` labels has too many, if it has.
pub(super) fn too_many_labels(count: usize) -> Option<String> {
    (count > LABELS_PER_MEMBER)
        .then(|| format!("it has {count} labels, more than {LABELS_PER_MEMBER}"))
}

/// Why a member whose label `name` is given twice is dropped.
pub(super) fn label_twice(name: &str) -> String {
    format!("its label name {} is given twice", quoted(name))
}

/// Why `labels` cannot be used, if they cannot: too many, a name that is
/// not a label name, a value too long or with a character
/// [`first_unsafe`] refuses.
fn unusable_labels(labels: &Labels) -> Option<String> {
    too_many_labels(labels.len()).or_else(|| {
        labels.iter().find_map(|(name, value)| {
            if !is_label_name(name) {
                Some(format!(
                    "its label name {} is not one (1 to {LABEL_NAME_BYTES} bytes of ASCII \
                     letters, digits and _, not starting with a digit or __)",
                    quoted(name)
                ))
            } else if value.len() > LABEL_VALUE_BYTES {
                Some(format!(
                    "its label {name} has a value of {} bytes, more than {LABEL_VALUE_BYTES}",
                    value.len()
                ))
            } else {
                first_unsafe(value, true).map(|(character, kind)| {
                    format!(
                        "its label {name} has the value {}, with {character:?}, {kind}",
                        quoted(value)
                    )
                })
            }
        })
    })
}

/// Whether `name` is a label name: `[a-zA-Z_][a-zA-Z0-9_]*`, 1 to
/// [`LABEL_NAME_BYTES`] bytes, not starting with `__` (Prometheus keeps
/// those for itself).
fn is_label_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    match bytes.first() {
        None => false,
        Some(first) => {
            bytes.len() <= LABEL_NAME_BYTES
                && (first.is_ascii_alphabetic() || *first == b'_')
                && !name.starts_with("__")
                && bytes
                    .iter()
                    .all(|byte| byte.is_ascii_alphanumeric() || *byte == b'_')
        }
    }
}

/// Why `member`'s role, clusters, address or labels cannot be used, if
/// one cannot.
fn unusable(member: &Member) -> Option<String> {
    let name = |what: &str, text: &str| {
        if text.trim().is_empty() {
            Some(format!("its {what} is empty"))
        } else {
            first_unsafe(text, true).map(|(character, kind)| {
                format!("its {what} {} has {character:?}, {kind}", quoted(text))
            })
        }
    };
    name("role", &member.role)
        .or_else(|| {
            member
                .clusters
                .iter()
                .find_map(|cluster| name("cluster name", cluster))
        })
        .or_else(|| match member.address.as_deref() {
            None => None,
            Some("") => Some("its address is empty".to_owned()),
            Some(address) => first_unsafe(address, false).map(|(character, kind)| {
                format!("its address {} has {character:?}, {kind}", quoted(address))
            }),
        })
        .or_else(|| unusable_labels(&member.labels))
}

/// The first character of `text` that cannot be shown or passed on safely,
/// and what it is. A role or cluster name may hold spaces (EC2 allows them
/// in security group names and tags; `--format env` quotes them), an
/// address (one word) not; neither holds a control character (a terminal
/// would act on it, a line would break), other whitespace (it would look
/// like a space, and not be one) or a bidirectional text control (it would
/// show the text in another order).
fn first_unsafe(text: &str, spaces_allowed: bool) -> Option<(char, &'static str)> {
    text.chars().find_map(|character| {
        let kind = if character.is_control() {
            "a control character"
        } else if character == ' ' {
            if spaces_allowed {
                return None;
            }
            "a space"
        } else if character.is_whitespace() {
            "whitespace other than a space"
        } else if is_bidi_control(character) {
            "a bidirectional text control"
        } else {
            return None;
        };
        Some((character, kind))
    })
}

/// Unicode's bidirectional formatting characters (marks, embeddings,
/// overrides and isolates).
fn is_bidi_control(character: char) -> bool {
    matches!(character, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{061c}')
}

/// `text` escaped (control characters never reach a terminal raw) and cut.
fn quoted(text: &str) -> String {
    let shown: String = text.chars().take(QUOTED_CHARS).collect();
    match text.chars().count().saturating_sub(QUOTED_CHARS) {
        0 => format!("{shown:?}"),
        more => format!("{shown:?}… ({more} more characters)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Instance;
    use crate::policy::Member;

    fn member(id: &str, role: &str, address: Option<&str>) -> Member {
        Member {
            instance_id: id.to_owned(),
            role: role.to_owned(),
            clusters: Vec::new(),
            address: address.map(str::to_owned),
            port: None,
            labels: Default::default(),
            status: Default::default(),
        }
    }

    fn fleet() -> Fleet {
        let instances: Vec<Instance> = ["i-c", "i-a", "i-b"]
            .into_iter()
            .map(Instance::running)
            .collect();
        Fleet::from_instances(&instances).unwrap()
    }

    #[test]
    fn a_good_answer_comes_back_sorted() {
        let decision = Decision {
            members: vec![
                member("i-c", "monitor", Some("10.0.0.3")),
                member("i-a", "agent", Some("10.0.0.1")),
                member("i-b", "monitor", Some("10.0.0.2")),
            ],
            register_with: vec!["i-c".into(), "i-b".into()],
            notes: Vec::new(),
        };
        let decision = validated(decision, &fleet(), Some("i-a")).unwrap();
        let ids: Vec<_> = decision
            .members
            .iter()
            .map(|m| m.instance_id.as_str())
            .collect();
        assert_eq!(ids, ["i-a", "i-b", "i-c"]);
        assert_eq!(decision.register_with, ["i-b", "i-c"]);
    }

    #[test]
    fn every_problem_is_named() {
        let decision = Decision {
            members: vec![
                member("i-ghost", "monitor\u{1b}", Some("10.0.0.9")),
                member("i-a", "agent", None),
                member("i-b", "monitor", None),
                member("i-b", "monitor", None),
            ],
            register_with: vec!["i-a".into(), "i-b".into(), "i-c".into(), "i-c".into()],
            notes: Vec::new(),
        };
        let problems = validated(decision, &fleet(), Some("i-a")).unwrap_err();
        assert_eq!(
            problems,
            [
                r#"member "i-ghost" is not in the inventory"#,
                "member i-b is listed more than once",
                "registration target i-a has no address",
                "self (i-a) is its own registration target",
                "registration target i-b has no address",
                r#"registration target "i-c" is not a member"#,
                r#"registration target "i-c" is not a member"#,
                "registration target i-c is listed more than once",
            ]
        );
    }

    /// The ids and reasons of the members dropped from `decision`.
    fn drops(decision: &Decision) -> Vec<(&str, &str)> {
        decision
            .dropped()
            .map(|note| (note.instance_id.as_str(), note.text.as_str()))
            .collect()
    }

    fn ids(decision: &Decision) -> Vec<&str> {
        decision
            .members
            .iter()
            .map(|member| member.instance_id.as_str())
            .collect()
    }

    #[test]
    fn a_member_with_text_a_terminal_or_a_shell_would_act_on_is_dropped_alone() {
        let mut clustered = member("i-b", "agent", Some("10.0.0.2"));
        clustered.clusters = vec!["blue".into(), "red\u{7}".into()];
        let mut bidi = member("i-e", "agent", Some("10.0.0.5"));
        bidi.clusters = vec!["abc\u{202e}fed".into()];
        let fleet: Vec<Instance> = ["i-a", "i-b", "i-c", "i-d", "i-e", "i-f", "i-g", "i-h"]
            .into_iter()
            .map(Instance::running)
            .collect();
        let decision = Decision {
            members: vec![
                member("i-a", "\u{1b}[31mmonitor\0", Some("10.0.0.1")),
                clustered,
                member("i-c", "agent", Some("10.0.0.3 10.0.0.4")),
                member("i-d", "agent\u{a0}x", Some("10.0.0.4")),
                bidi,
                member("i-f", " ", Some("10.0.0.6")),
                member("i-g", "agent", Some("")),
                member("i-h", "agent", Some("10.0.0.8")),
            ],
            register_with: Vec::new(),
            notes: Vec::new(),
        };
        let decision = validated(decision, &Fleet::from_instances(&fleet).unwrap(), None).unwrap();
        assert_eq!(ids(&decision), ["i-h"]);
        assert_eq!(
            drops(&decision),
            [
                (
                    "i-a",
                    r#"its role "\u{1b}[31mmonitor\0" has '\u{1b}', a control character"#
                ),
                (
                    "i-b",
                    r#"its cluster name "red\u{7}" has '\u{7}', a control character"#
                ),
                ("i-c", r#"its address "10.0.0.3 10.0.0.4" has ' ', a space"#),
                (
                    "i-d",
                    r#"its role "agent\u{a0}x" has '\u{a0}', whitespace other than a space"#
                ),
                (
                    "i-e",
                    r#"its cluster name "abc\u{202e}fed" has '\u{202e}', a bidirectional text control"#
                ),
                ("i-f", "its role is empty"),
                ("i-g", "its address is empty"),
            ]
        );
    }

    /// A member of `fleet()`'s `i-a` with these labels.
    fn labelled(labels: &[(&str, &str)]) -> Member {
        let mut labelled = member("i-a", "agent", Some("10.0.0.1"));
        labelled.labels = labels
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        labelled
    }

    /// Why `member` is dropped, if it is.
    fn dropped_for(member: Member) -> Option<String> {
        let decision = Decision {
            members: vec![member],
            register_with: Vec::new(),
            notes: Vec::new(),
        };
        let decision = validated(decision, &fleet(), None).unwrap();
        let reason = drops(&decision).first().map(|(_, text)| text.to_string());
        assert_eq!(decision.members.is_empty(), reason.is_some());
        reason
    }

    #[test]
    fn labels_within_every_bound_are_kept() {
        let name = format!("n{}", "_".repeat(LABEL_NAME_BYTES - 1));
        let value = "é".repeat(LABEL_VALUE_BYTES / 2);
        let mut many: Vec<(String, String)> = (0..LABELS_PER_MEMBER - 3)
            .map(|n| (format!("label_{n}"), format!("value {n}")))
            .collect();
        many.push((name, value));
        many.push(("_team".to_owned(), String::new()));
        many.push(("Zone9".to_owned(), "us-east-1a; {{ x }} % # \"'".to_owned()));
        let pairs: Vec<(&str, &str)> = many
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        assert_eq!(dropped_for(labelled(&pairs)), None);
    }

    #[test]
    fn a_member_with_more_labels_than_allowed_is_dropped() {
        let many: Vec<String> = (0..=LABELS_PER_MEMBER).map(|n| format!("l{n}")).collect();
        let pairs: Vec<(&str, &str)> = many.iter().map(|name| (name.as_str(), "x")).collect();
        assert_eq!(
            dropped_for(labelled(&pairs)).as_deref(),
            Some("it has 17 labels, more than 16")
        );
    }

    #[test]
    fn a_label_name_must_be_a_prometheus_label_name_of_bounded_length() {
        let long = "a".repeat(LABEL_NAME_BYTES + 1);
        for name in [
            "",
            "9lives",
            "cost-center",
            "a:b",
            "team name",
            "équipe",
            "__meta",
            &long,
        ] {
            let reason = dropped_for(labelled(&[("ok", "x"), (name, "x")]));
            assert_eq!(
                reason,
                Some(format!(
                    "its label name {} is not one (1 to 64 bytes of ASCII letters, digits \
                     and _, not starting with a digit or __)",
                    quoted(name)
                )),
                "{name:?}"
            );
        }
    }

    #[test]
    fn a_label_value_must_be_short_and_printable() {
        let long = "x".repeat(LABEL_VALUE_BYTES + 1);
        assert_eq!(
            dropped_for(labelled(&[("team", &long)])).as_deref(),
            Some("its label team has a value of 1025 bytes, more than 1024")
        );
        for (value, shown) in [
            (
                "blue\nred",
                r#"its label team has the value "blue\nred", with '\n', a control character"#,
            ),
            (
                "\u{1b}[31m",
                r#"its label team has the value "\u{1b}[31m", with '\u{1b}', a control character"#,
            ),
            (
                "a\u{a0}b",
                r#"its label team has the value "a\u{a0}b", with '\u{a0}', whitespace other than a space"#,
            ),
            (
                "abc\u{202e}fed",
                r#"its label team has the value "abc\u{202e}fed", with '\u{202e}', a bidirectional text control"#,
            ),
        ] {
            assert_eq!(
                dropped_for(labelled(&[("team", value)])).as_deref(),
                Some(shown),
                "{value:?}"
            );
        }
    }

    #[test]
    fn a_member_dropped_while_its_answer_was_read_is_no_target() {
        let decision = Decision {
            members: vec![
                member("i-a", "agent", Some("10.0.0.1")),
                member("i-c", "monitor", Some("10.0.0.3")),
            ],
            register_with: vec!["i-b".into(), "i-c".into()],
            notes: vec![Note {
                instance_id: "i-b".to_owned(),
                topic: NoteTopic::Dropped,
                text: r#"its label name "team" is given twice"#.to_owned(),
            }],
        };
        let decision = validated(decision, &fleet(), Some("i-a")).unwrap();
        assert_eq!(decision.register_with, ["i-c"]);
        assert_eq!(
            drops(&decision),
            [("i-b", r#"its label name "team" is given twice"#)]
        );
    }

    #[test]
    fn spaces_in_roles_and_cluster_names_are_names_like_any_other() {
        let mut spaced = member("i-a", "agent x", Some("10.0.0.1"));
        spaced.clusters = vec!["blue team".into(), " it's $(odd)".into()];
        let decision = Decision {
            members: vec![spaced.clone()],
            register_with: Vec::new(),
            notes: Vec::new(),
        };
        let decision = validated(decision, &fleet(), None).unwrap();
        assert_eq!(decision.members, [spaced]);
        assert!(drops(&decision).is_empty());
    }

    #[test]
    fn a_dropped_target_is_no_target_and_a_dropped_self_registers_with_nobody() {
        let decision = |own_role: &str| Decision {
            members: vec![
                member("i-a", own_role, Some("10.0.0.1")),
                member("i-b", "monitor\n", Some("10.0.0.2")),
                member("i-c", "monitor", Some("10.0.0.3")),
            ],
            register_with: vec!["i-c".into(), "i-b".into()],
            notes: Vec::new(),
        };
        let kept = validated(decision("agent"), &fleet(), Some("i-a")).unwrap();
        assert_eq!(ids(&kept), ["i-a", "i-c"]);
        assert_eq!(kept.register_with, ["i-c"]);

        let own_dropped = validated(decision("agent\t"), &fleet(), Some("i-a")).unwrap();
        assert_eq!(ids(&own_dropped), ["i-c"]);
        assert!(own_dropped.register_with.is_empty());
        assert_eq!(
            drops(&own_dropped)
                .iter()
                .map(|(id, _)| *id)
                .collect::<Vec<_>>(),
            ["i-a", "i-b"]
        );
    }

    #[test]
    fn a_member_the_inventory_lacks_fails_the_answer_whatever_its_names() {
        let decision = Decision {
            members: vec![member("i-ghost", "\u{1b}", None)],
            register_with: Vec::new(),
            notes: Vec::new(),
        };
        assert_eq!(
            validated(decision, &fleet(), None).unwrap_err(),
            [r#"member "i-ghost" is not in the inventory"#]
        );
    }

    #[test]
    fn what_a_policy_names_is_quoted_short() {
        let long = "x".repeat(10_000);
        let decision = Decision {
            members: vec![member(&long, "agent", None)],
            register_with: Vec::new(),
            notes: Vec::new(),
        };
        let problems = validated(decision, &fleet(), None).unwrap_err();
        assert_eq!(
            problems,
            [format!(
                "member {:?}… (9936 more characters) is not in the inventory",
                "x".repeat(64)
            )]
        );
    }

    #[test]
    fn targets_without_self_are_refused() {
        let decision = Decision {
            members: vec![member("i-b", "monitor", Some("10.0.0.2"))],
            register_with: vec!["i-b".into()],
            notes: Vec::new(),
        };
        let problems = validated(decision, &fleet(), None).unwrap_err();
        assert_eq!(
            problems,
            ["registration target i-b given, but there is no self"]
        );
    }

    #[test]
    fn long_lists_of_problems_are_summarised() {
        let decision = Decision {
            members: (0..25)
                .map(|n| member(&format!("i-{n}"), "agent", None))
                .collect(),
            register_with: Vec::new(),
            notes: Vec::new(),
        };
        let problems = validated(decision, &fleet(), None).unwrap_err();
        assert_eq!(problems.len(), PROBLEMS_LISTED + 1);
        assert_eq!(problems.last().unwrap(), "and 15 more");
    }
}
