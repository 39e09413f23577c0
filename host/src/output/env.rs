//! `--format env`: lines a shell can `eval` or `source`: self, its role,
//! clusters and targets, and why and by when self is leaving (empty when
//! it is not).

use super::endpoint;
use crate::membership::Membership;

pub fn render(membership: &Membership) -> String {
    variables(membership)
        .iter()
        .map(|(name, value)| format!("{name}={}\n", shell_quoted(value)))
        .collect()
}

/// The `ROLLCALL_*` variables of an answer: what `--format env` prints and
/// what the exec sink's command finds in its environment.
pub fn variables(membership: &Membership) -> [(&'static str, String); 6] {
    let own = membership.own.as_ref();
    let leaving = own.and_then(|own| own.leaving.as_ref());
    let targets: Vec<String> = membership
        .register_with
        .iter()
        .map(|target| endpoint(&target.address, target.port))
        .collect();
    [
        (
            "ROLLCALL_SELF",
            own.map(|own| own.instance_id.clone()).unwrap_or_default(),
        ),
        (
            "ROLLCALL_ROLE",
            own.and_then(|own| own.role.clone()).unwrap_or_default(),
        ),
        (
            "ROLLCALL_CLUSTERS",
            own.map(|own| word_list(&own.clusters)).unwrap_or_default(),
        ),
        ("ROLLCALL_REGISTER_WITH", targets.join(" ")),
        (
            "ROLLCALL_SELF_LEAVING",
            leaving
                .map(|leaving| leaving.reason.clone())
                .unwrap_or_default(),
        ),
        (
            "ROLLCALL_SELF_LEAVE_DEADLINE",
            leaving
                .and_then(|leaving| leaving.deadline.clone())
                .unwrap_or_default(),
        ),
    ]
}

/// Single-quoted for POSIX shells: nothing inside is expanded, and a single
/// quote becomes `'\''`.
fn shell_quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// Names separated by spaces, each as a shell word: a plain name as it is
/// (`blue green`, as always), one a shell would split or expand (`blue
/// team`, `it's`) single-quoted. `eval "set -- $ROLLCALL_CLUSTERS"` gives
/// the names back one by one.
fn word_list(names: &[String]) -> String {
    let word = |name: &String| {
        let plain = !name.is_empty()
            && name.chars().all(|character| {
                character.is_ascii_alphanumeric() || "-_.,:/@%+=".contains(character)
            });
        if plain {
            name.clone()
        } else {
            shell_quoted(name)
        }
    };
    names.iter().map(word).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::{shell_quoted, word_list};

    #[test]
    fn quoting_defuses_everything_a_shell_would_expand() {
        assert_eq!(shell_quoted(""), "''");
        assert_eq!(shell_quoted("a b"), "'a b'");
        assert_eq!(shell_quoted("$(rm -rf /)`x`"), "'$(rm -rf /)`x`'");
        assert_eq!(shell_quoted("it's"), r"'it'\''s'");
    }

    #[test]
    fn plain_cluster_names_are_listed_as_ever_and_the_others_quoted() {
        let names = |names: &[&str]| {
            names
                .iter()
                .map(|&name| name.to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(word_list(&names(&["blue", "green-2"])), "blue green-2");
        assert_eq!(
            word_list(&names(&["blue", "blue team", "it's", "$(x)", "~"])),
            r"blue 'blue team' 'it'\''s' '$(x)' '~'"
        );
        assert_eq!(word_list(&[]), "");
    }
}
