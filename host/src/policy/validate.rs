//! Checks a policy's answer against the inventory it was given, so that no
//! output ever names an instance that does not exist or a target that cannot
//! be reached, and no role, cluster or address carries whitespace or control
//! characters into a shell word, an environment variable or a terminal.

use super::Decision;
use crate::inventory::Instance;
use foldhash::{HashMap, HashSet};

/// How many problems an error lists before it summarises the rest.
const PROBLEMS_LISTED: usize = 10;
/// How much of a policy's text a problem quotes.
const QUOTED_CHARS: usize = 64;

/// The decision with members and targets sorted by instance id, or every
/// problem found (the first few, and how many more).
pub fn validated(
    mut decision: Decision,
    instances: &[Instance],
    self_id: Option<&str>,
) -> Result<Decision, Vec<String>> {
    let mut problems = Problems::default();
    // foldhash: ids come from EC2 and the plugin, not from an attacker
    // choosing collisions, and SipHash showed in the profile at 100k.
    let known: HashSet<&str> = instances
        .iter()
        .map(|instance| instance.id.as_str())
        .collect();

    let mut members = HashMap::with_capacity_and_hasher(decision.members.len(), Default::default());
    for member in &decision.members {
        let id = member.instance_id.as_str();
        if !known.contains(id) {
            problems.push(format!("member {} is not in the inventory", quoted(id)));
            continue;
        }
        if member.role.trim().is_empty() {
            problems.push(format!("member {id} has an empty role"));
        } else if !is_plain(&member.role) {
            problems.push(format!(
                "member {id} has a role with whitespace or control characters: {}",
                quoted(&member.role)
            ));
        }
        for cluster in &member.clusters {
            if cluster.trim().is_empty() {
                problems.push(format!("member {id} has an empty cluster name"));
            } else if !is_plain(cluster) {
                problems.push(format!(
                    "member {id} has a cluster name with whitespace or control characters: {}",
                    quoted(cluster)
                ));
            }
        }
        match member.address.as_deref() {
            Some("") => problems.push(format!("member {id} has an empty address")),
            Some(address) if !is_plain(address) => problems.push(format!(
                "member {id} has an address with whitespace or control characters: {}",
                quoted(address)
            )),
            _ => {}
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
    Ok(decision)
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

/// Whether `text` can stand as one shell word, one environment value and
/// one terminal cell run as it is.
fn is_plain(text: &str) -> bool {
    !text
        .chars()
        .any(|character| character.is_whitespace() || character.is_control())
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
    use crate::policy::Member;

    fn member(id: &str, role: &str, address: Option<&str>) -> Member {
        Member {
            instance_id: id.to_owned(),
            role: role.to_owned(),
            clusters: Vec::new(),
            address: address.map(str::to_owned),
            port: None,
        }
    }

    fn fleet() -> Vec<Instance> {
        ["i-c", "i-a", "i-b"]
            .into_iter()
            .map(Instance::running)
            .collect()
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
                member("i-ghost", "monitor", Some("10.0.0.9")),
                member("i-a", " ", None),
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
                "member i-a has an empty role",
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

    #[test]
    fn text_that_would_split_a_word_or_reach_a_terminal_is_refused() {
        let mut escaped = member("i-a", "\u{1b}[31mmonitor\0", Some("10.0.0.1 10.0.0.2"));
        escaped.clusters = vec!["blue green".into(), "".into(), "ok".into()];
        let decision = Decision {
            members: vec![escaped, member("i-b", "agent", Some(""))],
            register_with: Vec::new(),
            notes: Vec::new(),
        };
        let problems = validated(decision, &fleet(), None).unwrap_err();
        assert_eq!(
            problems,
            [
                r#"member i-a has a role with whitespace or control characters: "\u{1b}[31mmonitor\0""#,
                r#"member i-a has a cluster name with whitespace or control characters: "blue green""#,
                "member i-a has an empty cluster name",
                r#"member i-a has an address with whitespace or control characters: "10.0.0.1 10.0.0.2""#,
                "member i-b has an empty address",
            ]
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
