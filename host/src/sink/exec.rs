//! A command run on every change: the membership document on stdin, the
//! change summary in `ROLLCALL_*` environment variables, a time limit.

use super::{Publication, Sink};
use crate::changes::ChangeKind;
use crate::output::{Format, render};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// The most of a failing command's stderr a log line quotes.
const STDERR_QUOTED: usize = 1_024;

pub struct ExecSink {
    command: Vec<String>,
    timeout: Duration,
}

impl ExecSink {
    pub fn new(command: Vec<String>, timeout: Duration) -> Self {
        ExecSink { command, timeout }
    }

    /// `ROLLCALL_CHANGES` (the kinds, comma-separated) and one variable per
    /// kind with its space-separated instance ids, plus the `--format env`
    /// variables of the new answer.
    fn environment(publication: &Publication<'_>) -> Vec<(String, String)> {
        let mut variables = Vec::new();
        let kinds: Vec<&str> = publication
            .changes
            .iter()
            .map(|event| event.kind.name())
            .collect();
        variables.push(("ROLLCALL_CHANGES".to_owned(), kinds.join(",")));
        for kind in ChangeKind::ALL {
            let ids: Vec<&str> = publication
                .changes
                .iter()
                .filter(|event| event.kind == kind)
                .flat_map(|event| event.instance_ids.iter().map(String::as_str))
                .collect();
            variables.push((
                format!("ROLLCALL_{}", kind.name().to_ascii_uppercase()),
                ids.join(" "),
            ));
        }
        variables.extend(
            crate::output::env_variables(publication.membership)
                .map(|(name, value)| (name.to_owned(), value)),
        );
        variables
    }
}

#[async_trait::async_trait]
impl Sink for ExecSink {
    fn describe(&self) -> String {
        format!("exec {}", self.command.join(" "))
    }

    async fn publish(&self, publication: &Publication<'_>) -> Result<(), String> {
        let Some((program, args)) = self.command.split_first() else {
            return Err("the exec sink has an empty command".to_owned());
        };
        let document =
            render(publication.membership, Format::Json).map_err(|err| err.to_string())?;
        let mut child = Command::new(program)
            .args(args)
            .envs(Self::environment(publication))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|err| format!("cannot start {program}: {err}"))?;
        let mut stdin = child.stdin.take();
        let run = async {
            if let Some(stdin) = stdin.as_mut() {
                // A hook that does not read its stdin is fine.
                let _ = stdin.write_all(document.as_bytes()).await;
            }
            drop(stdin);
            child.wait_with_output().await
        };
        let output = tokio::time::timeout(self.timeout, run)
            .await
            .map_err(|_| {
                format!(
                    "{program} did not finish within {:?} and was killed",
                    self.timeout
                )
            })?
            .map_err(|err| format!("{program} failed to run: {err}"))?;
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let quoted: String = stderr.trim().chars().take(STDERR_QUOTED).collect();
        Err(format!("{program} exited with {}: {quoted}", output.status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::membership::{SelfEntry, sample};

    #[test]
    fn the_hook_sees_every_variable_format_env_prints() {
        let mut membership = sample(&[("i-a", "agent")], &[("i-b", "10.0.0.2")]);
        membership.own = Some(SelfEntry {
            instance_id: "i-a".to_owned(),
            role: Some("agent".to_owned()),
            clusters: vec!["blue".to_owned(), "green".to_owned()],
        });
        let environment = ExecSink::environment(&Publication {
            membership: &membership,
            changes: &[],
        });
        let printed = render(&membership, Format::Env).unwrap();
        for line in printed.lines() {
            let (name, quoted) = line.split_once('=').unwrap();
            let value = quoted.trim_matches('\'');
            assert!(
                environment.contains(&(name.to_owned(), value.to_owned())),
                "{name}={value} missing from {environment:?}"
            );
        }
        assert!(
            printed.contains("ROLLCALL_CLUSTERS='blue green'"),
            "{printed}"
        );
    }
}
