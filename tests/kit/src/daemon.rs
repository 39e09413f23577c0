//! The one way the tests run `rollcall watch`: isolated from the machine's
//! AWS settings and compiled-policy cache, its HTTP API on a loopback port
//! it binds itself (`--listen 127.0.0.1:0`) and reports, its stderr kept for
//! the test to read, killed when dropped.

use crate::http;
use rustix::process::{Pid, Signal, kill_process};
use serde_json::Value;
use std::ffi::{OsStr, OsString};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// How long a daemon may take to answer `/healthz` once started.
const START_LIMIT: Duration = Duration::from_secs(30);

/// `rollcall watch ARGS`, and how to run it; [`Launch::start`] starts it.
pub struct Launch {
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    shell_prefix: Option<String>,
    unread_stdout: bool,
}

impl Launch {
    /// Adds `env` (name, value) to the daemon's isolated environment.
    pub fn envs(mut self, env: &[(&str, &str)]) -> Launch {
        let pairs = env.iter().map(|&(name, value)| (name.into(), value.into()));
        self.env.extend(pairs);
        self
    }

    /// Runs the daemon as `sh -c "PREFIX exec rollcall ..."` (a `ulimit`,
    /// say).
    pub fn shell_prefix(mut self, prefix: &str) -> Launch {
        self.shell_prefix = Some(prefix.to_owned());
        self
    }

    /// Makes stdout a pipe the test holds and never reads; otherwise it is
    /// discarded.
    pub fn unread_stdout(mut self) -> Launch {
        self.unread_stdout = true;
        self
    }

    /// Starts `rollcall watch ARGS --listen 127.0.0.1:0`, reads the address
    /// it bound from its log, and waits until `/healthz` answers (any
    /// status). Fails the test, with the daemon's stderr, if it exits first
    /// or does not answer in time.
    pub fn start(self) -> Daemon {
        let stderr = tempfile::NamedTempFile::new().expect("a file for stderr");
        let mut command = crate::rollcall_command(self.shell_prefix.as_deref());
        command
            .arg("watch")
            .args(self.args)
            .args(["--listen", "127.0.0.1:0"])
            .envs(self.env)
            .stdin(Stdio::null())
            .stdout(if self.unread_stdout {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(stderr.reopen().expect("the stderr file reopens"));
        let mut daemon = Daemon {
            child: command.spawn().expect("rollcall watch starts"),
            address: String::new(),
            stderr,
        };
        let started = Instant::now();
        let within_the_limit = |daemon: &mut Daemon, waiting_for: &str| {
            daemon.assert_running();
            assert!(
                started.elapsed() < START_LIMIT,
                "rollcall watch {waiting_for} after {START_LIMIT:?} \
                 (is RUST_LOG hiding INFO?): {}",
                daemon.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        daemon.address = loop {
            match listening_on(&daemon.stderr()) {
                Some(address) => break address,
                None => within_the_limit(&mut daemon, "does not say where it listens"),
            }
        };
        while http::get(&daemon.address, "/healthz").is_none() {
            within_the_limit(&mut daemon, "does not answer /healthz");
        }
        daemon
    }
}

/// The address in the daemon's `HTTP API listening. address=HOST:PORT` log
/// line, once it has written one.
pub fn listening_on(log: &str) -> Option<String> {
    log.lines()
        .filter(|line| line.contains("HTTP API listening."))
        .find_map(|line| {
            let (_, after) = line.split_once(" address=")?;
            after.split_whitespace().next().map(str::to_owned)
        })
}

/// A running `rollcall watch`, killed (SIGKILL) when dropped.
pub struct Daemon {
    /// Holds stdout, when it is a pipe, until the daemon is gone.
    child: Child,
    address: String,
    stderr: tempfile::NamedTempFile,
}

impl Daemon {
    /// `rollcall watch ARGS`, to start after any settings of [`Launch`].
    pub fn launch<I, S>(args: I) -> Launch
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Launch {
            args: args
                .into_iter()
                .map(|arg| arg.as_ref().to_owned())
                .collect(),
            env: Vec::new(),
            shell_prefix: None,
            unread_stdout: false,
        }
    }

    /// `rollcall watch ARGS`, started as [`Launch::start`] does.
    pub fn start<I, S>(args: I) -> Daemon
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Daemon::launch(args).start()
    }

    /// Where the HTTP API listens (host:port).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The process id of `rollcall` (a shell prefix execs it: same id).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Everything the daemon has written to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.stderr.path()).unwrap_or_default()
    }

    /// `GET path`: the status, and the body as JSON (a JSON string when it
    /// is not JSON). Fails the test if the API does not answer.
    pub fn get(&self, path: &str) -> (u16, Value) {
        let (status, body) = http::get(&self.address, path)
            .unwrap_or_else(|| panic!("no answer to GET {path}: {}", self.stderr()));
        let body = serde_json::from_str(&body).unwrap_or(Value::String(body));
        (status, body)
    }

    /// The membership document, once there is one (`/v1/membership` answers
    /// 200).
    pub fn membership(&self) -> Option<Value> {
        let (status, document) = self.get("/v1/membership");
        (status == 200).then_some(document)
    }

    /// The value of the `/metrics` line that starts with `name`, once the
    /// API answers with one.
    pub fn metric(&self, name: &str) -> Option<f64> {
        let (_, metrics) = http::get(&self.address, "/metrics")?;
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
    }

    /// Sends SIGTERM and waits for the exit: the exit code (`None` if a
    /// signal ended it) and how long it took. Fails the test, with the
    /// daemon's stderr, if it still runs after `limit`.
    pub fn terminate_within(&mut self, limit: Duration) -> (Option<i32>, Duration) {
        let sent = Instant::now();
        kill_process(Pid::from_child(&self.child), Signal::TERM).expect("SIGTERM is sent");
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .expect("rollcall watch can be waited for")
            {
                return (status.code(), sent.elapsed());
            }
            assert!(
                sent.elapsed() < limit,
                "rollcall watch still runs {limit:?} after SIGTERM: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn assert_running(&mut self) {
        if let Some(status) = self
            .child
            .try_wait()
            .expect("rollcall watch can be waited for")
        {
            panic!("rollcall watch exited ({status}): {}", self.stderr());
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
