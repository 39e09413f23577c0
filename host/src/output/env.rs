//! `--format env`: lines a shell can `eval` or `source`.

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
pub fn variables(membership: &Membership) -> [(&'static str, String); 4] {
    let own = membership.own.as_ref();
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
            own.map(|own| own.clusters.join(" ")).unwrap_or_default(),
        ),
        ("ROLLCALL_REGISTER_WITH", targets.join(" ")),
    ]
}

/// Single-quoted for POSIX shells: nothing inside is expanded, and a single
/// quote becomes `'\''`.
fn shell_quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::shell_quoted;

    #[test]
    fn quoting_defuses_everything_a_shell_would_expand() {
        assert_eq!(shell_quoted(""), "''");
        assert_eq!(shell_quoted("a b"), "'a b'");
        assert_eq!(shell_quoted("$(rm -rf /)`x`"), "'$(rm -rf /)`x`'");
        assert_eq!(shell_quoted("it's"), r"'it'\''s'");
    }
}
