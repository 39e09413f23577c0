//! A `rollcall` run the test goes on beside (`resolve --wait-for`, say): its
//! output goes to files the test reads while it runs; killed when dropped.

use crate::{Run, rollcall_command};
use std::ffi::OsStr;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use tempfile::NamedTempFile;

pub struct Background {
    child: Child,
    stdout: NamedTempFile,
    stderr: NamedTempFile,
}

impl Background {
    /// Starts `rollcall ARGS`, isolated as every test run is, plus `env`.
    pub fn start<I, S>(args: I, env: &[(&str, &str)]) -> Background
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let stdout = NamedTempFile::new().expect("a file for stdout");
        let stderr = NamedTempFile::new().expect("a file for stderr");
        let child = rollcall_command(None)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(stdout.reopen().expect("stdout file"))
            .stderr(stderr.reopen().expect("stderr file"))
            .spawn()
            .expect("rollcall runs");
        Background {
            child,
            stdout,
            stderr,
        }
    }

    /// What it has said on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.stderr.path()).unwrap_or_default()
    }

    /// Waits for it to end; it is killed, and the test fails, once `limit`
    /// has passed.
    pub fn finish_within(mut self, limit: Duration) -> Run {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("rollcall can be waited for") {
                break status;
            }
            assert!(
                started.elapsed() < limit,
                "rollcall did not finish within {limit:?}; stderr: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Run {
            code: status.code().unwrap_or(-1),
            stdout: std::fs::read_to_string(self.stdout.path()).unwrap_or_default(),
            stderr: self.stderr(),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
