//! Comparing a policy's answer with what a case expects.

use super::Expected;
use crate::policy::Decision;
use std::collections::BTreeMap;

/// How many member differences a failing case lists before it counts the
/// rest.
const MEMBERS_LISTED: usize = 10;

/// Every way the answer (or the policy's error) differs from `expected`,
/// one line each; empty when the case passes. `self_id` is the case's self.
pub fn differences(
    expected: &Expected,
    self_id: Option<&str>,
    answer: &Result<Decision, String>,
) -> Vec<String> {
    let decision = match (answer, &expected.error) {
        (Err(error), Some(part)) if error.contains(part.as_str()) => return Vec::new(),
        (Err(error), Some(part)) => {
            return vec![format!(
                "expected an error containing {part:?}, got: {error}"
            )];
        }
        (Err(error), None) => return vec![format!("the policy failed: {error}")],
        (Ok(_), Some(part)) => {
            return vec![format!(
                "expected an error containing {part:?}, and the policy answered"
            )];
        }
        (Ok(decision), None) => decision,
    };
    let own = self_id.and_then(|id| {
        decision
            .members
            .iter()
            .find(|member| member.instance_id == id)
    });
    let mut found = Vec::new();
    if let Some(role) = &expected.role {
        let actual = own.map_or("", |member| member.role.as_str());
        if role != actual {
            found.push(format!(
                "role: expected {}, got {}",
                role_text(role),
                role_text(actual)
            ));
        }
    }
    if let Some(clusters) = &expected.clusters {
        let actual = own.map_or(&[][..], |member| member.clusters.as_slice());
        if clusters.as_slice() != actual {
            found.push(format!("clusters: expected {clusters:?}, got {actual:?}"));
        }
    }
    if let Some(targets) = &expected.register_with
        && *targets != decision.register_with
    {
        found.push(format!(
            "register_with: expected {targets:?}, got {:?}",
            decision.register_with
        ));
    }
    if let Some(members) = &expected.members {
        found.extend(member_differences(members, decision));
    }
    found
}

/// `monitor`, or `no role` for the empty role.
fn role_text(role: &str) -> String {
    if role.is_empty() {
        "no role".to_owned()
    } else {
        format!("{role:?}")
    }
}

/// The members whose role differs from `expected`, or that only one side
/// has; at most [`MEMBERS_LISTED`], then a count of the rest.
fn member_differences(expected: &BTreeMap<String, String>, decision: &Decision) -> Vec<String> {
    let actual: BTreeMap<&str, &str> = decision
        .members
        .iter()
        .map(|member| (member.instance_id.as_str(), member.role.as_str()))
        .collect();
    let mut found = Vec::new();
    for (id, role) in expected {
        match actual.get(id.as_str()) {
            None => found.push(format!(
                "members: {id} expected {role:?}, and it is no member"
            )),
            Some(got) if got != role => {
                found.push(format!("members: {id} expected {role:?}, got {got:?}"))
            }
            Some(_) => {}
        }
    }
    for (id, role) in &actual {
        if !expected.contains_key(*id) {
            found.push(format!(
                "members: {id} is {role:?}, and the case expects no such member"
            ));
        }
    }
    if found.len() > MEMBERS_LISTED {
        let more = found.len() - MEMBERS_LISTED;
        found.truncate(MEMBERS_LISTED);
        found.push(format!("members: and {more} more"));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Member;

    fn member(id: &str, role: &str, clusters: &[&str]) -> Member {
        Member {
            instance_id: id.to_owned(),
            role: role.to_owned(),
            clusters: clusters.iter().map(|c| (*c).to_owned()).collect(),
            address: None,
            port: None,
            labels: Default::default(),
            status: Default::default(),
        }
    }

    fn answer() -> Result<Decision, String> {
        Ok(Decision {
            members: vec![
                member("i-1", "monitor", &["blue"]),
                member("i-2", "agent", &[]),
            ],
            register_with: vec!["i-1".to_owned()],
            notes: Vec::new(),
        })
    }

    fn members(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
        Some(
            pairs
                .iter()
                .map(|(id, role)| ((*id).to_owned(), (*role).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn an_answer_as_expected_passes() {
        let expected = Expected {
            role: Some("agent".to_owned()),
            clusters: Some(Vec::new()),
            register_with: Some(vec!["i-1".to_owned()]),
            members: members(&[("i-1", "monitor"), ("i-2", "agent")]),
            error: None,
        };
        assert!(differences(&expected, Some("i-2"), &answer()).is_empty());
    }

    #[test]
    fn each_difference_is_a_line() {
        let expected = Expected {
            role: Some("monitor".to_owned()),
            clusters: Some(vec!["blue".to_owned()]),
            register_with: Some(Vec::new()),
            members: members(&[("i-1", "agent"), ("i-3", "agent")]),
            error: None,
        };
        assert_eq!(
            differences(&expected, Some("i-2"), &answer()),
            [
                r#"role: expected "monitor", got "agent""#,
                r#"clusters: expected ["blue"], got []"#,
                r#"register_with: expected [], got ["i-1"]"#,
                r#"members: i-1 expected "agent", got "monitor""#,
                r#"members: i-3 expected "agent", and it is no member"#,
                r#"members: i-2 is "agent", and the case expects no such member"#,
            ]
        );
    }

    #[test]
    fn a_self_without_a_role_has_the_empty_role() {
        let expected = Expected {
            role: Some(String::new()),
            ..Expected::default()
        };
        assert!(differences(&expected, Some("i-9"), &answer()).is_empty());
        assert_eq!(
            differences(&expected, Some("i-1"), &answer()),
            [r#"role: expected no role, got "monitor""#]
        );
    }

    #[test]
    fn errors_are_matched_by_a_part() {
        let expected = Expected {
            error: Some("unknown field".to_owned()),
            ..Expected::default()
        };
        let failed = Err("policy p rejected its settings: unknown field `x`".to_owned());
        assert!(differences(&expected, None, &failed).is_empty());
        assert_eq!(
            differences(&expected, None, &answer()),
            [r#"expected an error containing "unknown field", and the policy answered"#]
        );
        assert_eq!(
            differences(&Expected::default(), None, &Err("boom".to_owned())),
            ["the policy failed: boom"]
        );
    }

    #[test]
    fn long_member_lists_are_cut() {
        let expected = Expected {
            members: members(&[]),
            ..Expected::default()
        };
        let many = Decision {
            members: (0..15)
                .map(|n| member(&format!("i-{n:02}"), "agent", &[]))
                .collect(),
            register_with: Vec::new(),
            notes: Vec::new(),
        };
        let found = differences(&expected, None, &Ok(many));
        assert_eq!(found.len(), MEMBERS_LISTED + 1);
        assert_eq!(found.last().unwrap(), "members: and 5 more");
    }
}
