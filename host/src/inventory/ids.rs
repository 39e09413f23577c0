//! The check every source's fleet passes before anyone sees it: each
//! instance id is usable (not empty, no whitespace or control characters)
//! and names one instance only.
//!
//! A file and the EC2 API are held to the same rule, so that a fleet replayed
//! from a recording is refused for the same reasons as the live one. An id
//! named from outside a listing (an event's, one asked for by id) is held
//! to EC2's own shape as well ([`is_instance_id`]); an account id named in
//! a file or an event, to AWS's ([`is_account_id`]).

use super::Instance;
/// The settings' check, which role ARNs are held to too.
pub use crate::settings::accounts::is_account_id;

/// Why the ids of a fleet cannot be trusted. Ids are shown escaped (`{:?}`),
/// so that whatever a source sent cannot reach a terminal raw.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdProblem {
    /// An instance with no id (`InstanceId` empty or missing).
    #[error("instance #{} (in listing order) has an empty instance id", .index + 1)]
    Empty { index: usize },
    /// An id no consumer can use as one word: it holds whitespace or a
    /// control character.
    #[error("instance id {id:?} contains {what}")]
    Unusable {
        id: String,
        index: usize,
        what: &'static str,
    },
    /// The same id twice: at `first` and at `second`, in listing order.
    #[error("instance {id:?} appears more than once")]
    Repeated {
        id: String,
        first: usize,
        second: usize,
    },
}

/// Whether `text` has the shape of an id EC2 gives an instance: `i-` and 8
/// (the older form) or 17 lowercase hexadecimal digits.
pub fn is_instance_id(text: &str) -> bool {
    text.strip_prefix("i-").is_some_and(|digits| {
        matches!(digits.len(), 8 | 17)
            && digits
                .bytes()
                .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
    })
}

/// Checks the ids of `instances`, in listing order; the first problem found
/// is the answer.
pub fn check_ids(instances: &[Instance]) -> Result<(), IdProblem> {
    check_id_list(instances.iter().map(|instance| instance.id.as_str()))
}

/// [`check_ids`] of a list of ids.
pub fn check_id_list<'a>(ids: impl ExactSizeIterator<Item = &'a str>) -> Result<(), IdProblem> {
    let mut seen: foldhash::HashMap<&str, usize> =
        foldhash::HashMap::with_capacity_and_hasher(ids.len(), Default::default());
    for (index, id) in ids.enumerate() {
        if id.is_empty() {
            return Err(IdProblem::Empty { index });
        }
        let what = if id.chars().any(char::is_control) {
            Some("a control character")
        } else if id.chars().any(char::is_whitespace) {
            Some("whitespace")
        } else {
            None
        };
        if let Some(what) = what {
            return Err(IdProblem::Unusable {
                id: id.to_owned(),
                index,
                what,
            });
        }
        if let Some(&first) = seen.get(id) {
            return Err(IdProblem::Repeated {
                id: id.to_owned(),
                first,
                second: index,
            });
        }
        seen.insert(id, index);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet(ids: &[&str]) -> Vec<Instance> {
        ids.iter().map(|id| Instance::running(id)).collect()
    }

    #[test]
    fn instance_ids_have_ec2s_shape() {
        for id in ["i-1234567890abcdef0", "i-abcd1111", "i-0000000000000000a"] {
            assert!(is_instance_id(id), "{id}");
        }
        for id in [
            "",
            "i-",
            "i-abcd111",
            "i-1234567890abcdef",
            "i-1234567890abcdef01",
            "i-1234567890ABCDEF0",
            "I-1234567890abcdef0",
            "i-0m00000000000spot",
            "x-1234567890abcdef0",
            "i-1234567890abcdef0 ",
            "i-ééééééééé",
        ] {
            assert!(!is_instance_id(id), "{id:?}");
        }
    }

    #[test]
    fn distinct_plain_ids_pass() {
        assert_eq!(check_ids(&fleet(&["i-1", "i-2", "i-0abc"])), Ok(()));
        assert_eq!(check_ids(&[]), Ok(()));
    }

    #[test]
    fn a_repeated_id_names_both_places() {
        let err = check_ids(&fleet(&["i-1", "i-2", "i-1"])).unwrap_err();
        assert_eq!(
            err,
            IdProblem::Repeated {
                id: "i-1".into(),
                first: 0,
                second: 2
            }
        );
        assert_eq!(err.to_string(), "instance \"i-1\" appears more than once");
    }

    #[test]
    fn unusable_ids_are_named_escaped() {
        let cases = [
            (
                "",
                "instance #2 (in listing order) has an empty instance id",
            ),
            ("i-1 2", r#"instance id "i-1 2" contains whitespace"#),
            (
                "i-1\u{a0}",
                r#"instance id "i-1\u{a0}" contains whitespace"#,
            ),
            (
                "i-1\n",
                r#"instance id "i-1\n" contains a control character"#,
            ),
            (
                "i-\u{1b}[31m",
                r#"instance id "i-\u{1b}[31m" contains a control character"#,
            ),
            ("i-\0", r#"instance id "i-\0" contains a control character"#),
        ];
        for (id, message) in cases {
            let err = check_ids(&fleet(&["i-ok", id])).unwrap_err();
            assert_eq!(err.to_string(), message, "{id:?}");
        }
    }
}
