//! `plugin test --update`: the cases file rewritten with the policy's
//! answers as the expectations, keeping its comments, order and layout.

use super::{Case, CasesError};
use crate::policy::Decision;
use std::path::Path;
use toml_edit::{Array, DocumentMut, InlineTable, Item, Table, Value};

/// Members listed inline (`members = { ... }`) up to this many; more go in
/// a `[case.members]` table of their own, one per line.
const INLINE_MEMBERS: usize = 3;

/// `text` (the cases file at `path`) with every case's expectations set from
/// its answer. A case keeps the kinds of expectation it had; one that had
/// none gets `members`, and with a self its `role`, `clusters` and
/// `register_with`. A failing case gets `error` (kept as it was when the
/// error still contains it).
pub fn update(
    path: &Path,
    text: &str,
    cases: &[Case],
    answers: &[Result<Decision, String>],
) -> Result<String, CasesError> {
    let error = |message: String| CasesError {
        path: path.to_owned(),
        line: None,
        message,
    };
    let mut document: DocumentMut = text
        .parse()
        .map_err(|err| error(format!("cannot edit the file: {err}")))?;
    let tables = document
        .get_mut("case")
        .and_then(Item::as_array_of_tables_mut)
        .ok_or_else(|| error("no [[case]] tables to update".to_owned()))?;
    if tables.len() != cases.len() || cases.len() != answers.len() {
        return Err(error("the cases changed while they ran".to_owned()));
    }
    for ((table, case), answer) in tables.iter_mut().zip(cases).zip(answers) {
        record(table, case, answer);
    }
    Ok(document.to_string())
}

/// Sets `table`'s expectations from `answer`.
fn record(table: &mut Table, case: &Case, answer: &Result<Decision, String>) {
    let expected = &case.expected;
    let decision = match answer {
        Err(message) => {
            for key in ["role", "clusters", "register_with", "members"] {
                table.remove(key);
            }
            let kept = expected
                .error
                .as_ref()
                .is_some_and(|part| message.contains(part.as_str()));
            if !kept {
                table.insert("error", toml_edit::value(message.as_str()));
            }
            return;
        }
        Ok(decision) => decision,
    };
    table.remove("error");
    let fresh = expected.role.is_none()
        && expected.clusters.is_none()
        && expected.register_with.is_none()
        && expected.members.is_none();
    let with_self = case.self_id.is_some();
    let own = case.self_id.as_deref().and_then(|id| {
        decision
            .members
            .iter()
            .find(|member| member.instance_id == id)
    });
    if expected.role.is_some() || fresh && with_self {
        let role = own.map_or("", |member| member.role.as_str());
        table.insert("role", toml_edit::value(role));
    }
    if expected.clusters.is_some() || fresh && with_self {
        let clusters = own.map_or(&[][..], |member| member.clusters.as_slice());
        table.insert("clusters", toml_edit::value(strings(clusters)));
    }
    if expected.register_with.is_some() || fresh && with_self {
        table.insert(
            "register_with",
            toml_edit::value(strings(&decision.register_with)),
        );
    }
    if expected.members.is_some() || fresh {
        table.insert("members", members(decision));
    }
}

fn strings(items: &[String]) -> Array {
    items.iter().map(String::as_str).collect()
}

/// `id = role` of every member: inline when few, a table when many.
fn members(decision: &Decision) -> Item {
    let pairs = decision.members.iter().map(|member| {
        (
            member.instance_id.as_str(),
            Value::from(member.role.as_str()),
        )
    });
    if decision.members.len() <= INLINE_MEMBERS {
        return Item::Value(Value::InlineTable(pairs.collect::<InlineTable>()));
    }
    let mut table: Table = pairs.collect();
    table.set_implicit(false);
    Item::Table(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cases::parse;
    use crate::policy::Member;

    fn decision(members: &[(&str, &str)], targets: &[&str]) -> Decision {
        Decision {
            members: members
                .iter()
                .map(|(id, role)| Member {
                    instance_id: (*id).to_owned(),
                    role: (*role).to_owned(),
                    clusters: if *role == "monitor" {
                        vec!["blue".to_owned()]
                    } else {
                        Vec::new()
                    },
                    address: None,
                    port: None,
                    labels: Default::default(),
                    status: Default::default(),
                })
                .collect(),
            register_with: targets.iter().map(|id| (*id).to_owned()).collect(),
            notes: Vec::new(),
        }
    }

    fn updated(text: &str, answers: &[Result<Decision, String>]) -> String {
        let path = Path::new("cases.toml");
        let cases = parse(path, text, false).unwrap();
        let rewritten = update(path, text, &cases, answers).unwrap();
        // What --update writes reads back, and now expects something.
        parse(path, &rewritten, true).unwrap();
        rewritten
    }

    #[test]
    fn a_new_case_gets_every_expectation_and_comments_stay() {
        let text = "# the seed fleet\ninventory = \"f.json\"\n\n[[case]]\n# seen from the agent\nname = \"agent\"\nself = \"i-2\"\n";
        let rewritten = updated(
            text,
            &[Ok(decision(
                &[("i-1", "monitor"), ("i-2", "agent")],
                &["i-1"],
            ))],
        );
        assert_eq!(
            rewritten,
            "# the seed fleet\ninventory = \"f.json\"\n\n[[case]]\n# seen from the agent\nname = \"agent\"\nself = \"i-2\"\n\
             role = \"agent\"\nclusters = []\nregister_with = [\"i-1\"]\nmembers = { i-1 = \"monitor\", i-2 = \"agent\" }\n"
        );
    }

    #[test]
    fn a_case_keeps_the_kinds_of_expectation_it_had() {
        let text = "[[case]]\nname = \"a\"\ninventory = \"f\"\nself = \"i-1\"\nregister_with = [\"i-9\"] # stale\n";
        let rewritten = updated(text, &[Ok(decision(&[("i-1", "monitor")], &[]))]);
        assert!(rewritten.contains("register_with = []"), "{rewritten}");
        assert!(!rewritten.contains("members"), "{rewritten}");
        assert!(!rewritten.contains("role"), "{rewritten}");
    }

    #[test]
    fn many_members_get_a_table_of_their_own() {
        let text = "[[case]]\nname = \"a\"\ninventory = \"f\"\n\n[[case]]\nname = \"b\"\ninventory = \"f\"\n";
        let many = decision(
            &[
                ("i-1", "monitor"),
                ("i-2", "agent"),
                ("i-3", "agent"),
                ("i-4", "agent"),
            ],
            &[],
        );
        let rewritten = updated(text, &[Ok(many.clone()), Ok(many)]);
        assert_eq!(
            rewritten.matches("[case.members]").count(),
            2,
            "{rewritten}"
        );
        let cases = parse(Path::new("c.toml"), &rewritten, true).unwrap();
        assert_eq!(cases[1].expected.members.as_ref().unwrap().len(), 4);
    }

    #[test]
    fn a_failure_is_recorded_as_the_error() {
        let text = "[[case]]\nname = \"a\"\ninventory = \"f\"\nmembers = {}\n\n[[case]]\nname = \"b\"\ninventory = \"f\"\nerror = \"unknown\"\n";
        let failure = || Err("rejected: unknown field `x`".to_owned());
        let rewritten = updated(text, &[failure(), failure()]);
        assert!(
            rewritten.contains("error = \"rejected: unknown field `x`\""),
            "{rewritten}"
        );
        assert!(
            rewritten.contains("error = \"unknown\""),
            "a matching error stays: {rewritten}"
        );
        assert!(!rewritten.contains("members"), "{rewritten}");
    }
}
