//! A command run on every change: the membership document on stdin, the
//! change summary in `ROLLCALL_*` environment variables, a time limit.
//!
//! The command runs in a process group of its own, and at the time limit the
//! whole group is killed, so nothing it started outlives it. It is done when
//! it exits, whoever else still holds its stderr; of that stderr, the first
//! [`STDERR_KEPT`] bytes are kept and the rest is read and thrown away.

use super::{Publication, Sink};
use crate::changes::ChangeKind;
use crate::output::render;
use crate::settings::Format;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// The most of a failing command's stderr a log line quotes.
const STDERR_QUOTED: usize = 1_024;
/// The most of a command's stderr kept in memory.
const STDERR_KEPT: usize = 64 * 1024;
/// How long stderr is read after the command exits, for its last words.
const STDERR_AFTER_EXIT: Duration = Duration::from_millis(100);

#[derive(Clone)]
pub struct ExecSink {
    command: Vec<String>,
    timeout: Duration,
    /// Variables set beside the usual ones (the leave hook's reason).
    extra: Vec<(String, String)>,
}

impl ExecSink {
    pub fn new(command: Vec<String>, timeout: Duration) -> Self {
        ExecSink {
            command,
            timeout,
            extra: Vec::new(),
        }
    }

    /// The same command with `extra` variables in its environment too.
    pub fn with_environment(mut self, extra: Vec<(String, String)>) -> Self {
        self.extra = extra;
        self
    }

    /// `ROLLCALL_CHANGES` (the kinds, comma-separated) and one variable per
    /// kind with its space-separated instance ids, plus the `--format env`
    /// variables of the new answer. `self_leaving` has no variable of ids
    /// (its one id is `ROLLCALL_SELF`): its name is the document's
    /// `ROLLCALL_SELF_LEAVING`, the reason.
    fn environment(publication: &Publication<'_>) -> Vec<(String, String)> {
        let mut variables = Vec::new();
        let kinds: Vec<&str> = publication
            .changes
            .iter()
            .map(|event| event.kind.name())
            .collect();
        variables.push(("ROLLCALL_CHANGES".to_owned(), kinds.join(",")));
        for kind in ChangeKind::ALL {
            if kind == ChangeKind::SelfLeaving {
                continue;
            }
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
            .envs(self.extra.iter().cloned())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|err| format!("cannot start {program}: {err}"))?;
        let group = child
            .id()
            .and_then(|id| rustix::process::Pid::from_raw(id as i32));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let reading = child
            .stderr
            .take()
            .map(|pipe| tokio::spawn(keep_the_start(pipe, Arc::clone(&stderr))));
        let mut stdin = child.stdin.take();
        let run = async {
            if let Some(stdin) = stdin.as_mut() {
                // A hook that does not read its stdin is fine.
                let _ = stdin.write_all(document.as_bytes()).await;
            }
            drop(stdin);
            child.wait().await
        };
        let finished = tokio::time::timeout(self.timeout, run).await;
        if let Some(mut reading) = reading {
            // The hook's last words may still be in the pipe; a child of it
            // that keeps the pipe open does not hold the hook up.
            if finished.is_ok() {
                let _ = tokio::time::timeout(STDERR_AFTER_EXIT, &mut reading).await;
            }
            reading.abort();
        }
        let status = match finished {
            Ok(status) => status.map_err(|err| format!("{program} failed to run: {err}"))?,
            Err(_) => {
                if let Some(group) = group {
                    let _ =
                        rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
                }
                return Err(format!(
                    "{program} did not finish within {:?}; it and its process group were killed",
                    self.timeout
                ));
            }
        };
        if status.success() {
            return Ok(());
        }
        let stderr = stderr.lock().unwrap_or_else(PoisonError::into_inner);
        let stderr = String::from_utf8_lossy(&stderr);
        let quoted: String = stderr.trim().chars().take(STDERR_QUOTED).collect();
        Err(format!("{program} exited with {status}: {quoted}"))
    }
}

/// Reads `pipe` to its end, keeping the first [`STDERR_KEPT`] bytes in
/// `kept`.
async fn keep_the_start(mut pipe: impl AsyncRead + Unpin, kept: Arc<Mutex<Vec<u8>>>) {
    let mut buffer = [0u8; 8192];
    while let Ok(read) = pipe.read(&mut buffer).await {
        if read == 0 {
            return;
        }
        let mut kept = kept.lock().unwrap_or_else(PoisonError::into_inner);
        let room = STDERR_KEPT.saturating_sub(kept.len());
        kept.extend_from_slice(&buffer[..read.min(room)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::membership::{SelfEntry, sample};
    use std::time::Instant;

    async fn run(script: &str, timeout: Duration) -> Result<(), String> {
        let sink = ExecSink::new(vec!["sh".into(), "-c".into(), script.into()], timeout);
        let membership = sample(&[], &[]);
        sink.publish(&Publication {
            membership: &membership,
            changes: &[],
        })
        .await
    }

    #[tokio::test]
    async fn a_hook_is_done_when_it_exits_whoever_holds_its_stderr() {
        let started = Instant::now();
        // The background sleep inherits stderr and keeps it open.
        let outcome = run("sleep 30 & exit 0", Duration::from_secs(10)).await;
        assert_eq!(outcome, Ok(()));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        let failed = run("echo broke >&2; sleep 30 & exit 3", Duration::from_secs(10)).await;
        assert_eq!(
            failed,
            Err("sh exited with exit status: 3: broke".to_owned())
        );
    }

    #[tokio::test]
    async fn at_the_time_limit_the_hook_and_everything_it_started_are_killed() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("child.pid");
        let script = format!("sleep 30 & echo $! > {}; sleep 30", pid_file.display());
        let outcome = run(&script, Duration::from_millis(500)).await;
        assert!(
            outcome
                .as_ref()
                .is_err_and(|error| error.contains("process group were killed")),
            "{outcome:?}"
        );
        let child: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let child = rustix::process::Pid::from_raw(child).unwrap();
        let mut alive = true;
        for _ in 0..200 {
            alive = rustix::process::test_kill_process(child).is_ok();
            if !alive {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(!alive, "the hook's child outlived the kill");
    }

    #[tokio::test]
    async fn only_the_start_of_a_flood_on_stderr_is_kept() {
        let outcome = run(
            "head -c 50000000 /dev/zero | tr '\\0' x >&2; exit 1",
            Duration::from_secs(30),
        )
        .await;
        let error = outcome.unwrap_err();
        assert!(error.len() < STDERR_QUOTED + 100, "{}", error.len());
        assert!(error.ends_with(&"x".repeat(64)), "{}", &error[..80]);
    }

    #[test]
    fn the_hook_sees_every_variable_format_env_prints() {
        let mut membership = sample(&[("i-a", "agent")], &[("i-b", "10.0.0.2")]);
        membership.own = Some(SelfEntry {
            instance_id: "i-a".to_owned(),
            role: Some("agent".to_owned()),
            clusters: vec!["blue".to_owned(), "green".to_owned()],
            leaving: None,
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

    #[test]
    fn a_leaving_self_is_told_by_its_reason_and_the_change_by_name() {
        let mut membership = sample(&[("i-a", "agent")], &[]);
        membership.own = Some(SelfEntry {
            instance_id: "i-a".to_owned(),
            role: Some("agent".to_owned()),
            clusters: Vec::new(),
            leaving: Some(crate::inventory::LeavingEntry {
                reason: "spot-interruption".to_owned(),
                deadline: Some("2026-12-07T10:02:00Z".to_owned()),
            }),
        });
        let event = crate::changes::ChangeEvent {
            sequence: 1,
            at: "t".to_owned(),
            kind: ChangeKind::SelfLeaving,
            instance_ids: vec!["i-a".to_owned()],
        };
        let environment = ExecSink::environment(&Publication {
            membership: &membership,
            changes: &[event],
        });
        let value = |name: &str| {
            let values: Vec<&str> = environment
                .iter()
                .filter(|(variable, _)| variable == name)
                .map(|(_, value)| value.as_str())
                .collect();
            assert_eq!(values.len(), 1, "{name} once: {environment:?}");
            values[0].to_owned()
        };
        assert_eq!(value("ROLLCALL_CHANGES"), "self_leaving");
        assert_eq!(value("ROLLCALL_SELF_LEAVING"), "spot-interruption");
        assert_eq!(
            value("ROLLCALL_SELF_LEAVE_DEADLINE"),
            "2026-12-07T10:02:00Z"
        );
    }
}
