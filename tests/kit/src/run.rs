//! One run of the real `rollcall` binary to its end, isolated from the
//! machine's AWS settings and compiled-policy cache; the fixtures it reads.

use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the kit lives in tests/kit of the workspace")
        .to_owned()
}

/// The `rollcall` binary under test: `ROLLCALL_BINARY` when set (another
/// build of it: a checkout sharing the target directory of another builds
/// the same path), else the one cargo built beside the test or benchmark
/// running (`target/PROFILE/deps/TEST-HASH` next to `target/PROFILE/rollcall`).
pub fn binary() -> PathBuf {
    if let Some(binary) = std::env::var_os("ROLLCALL_BINARY") {
        return binary.into();
    }
    let running = std::env::current_exe().expect("the running test's path");
    running
        .parent()
        .and_then(Path::parent)
        .map(|profile| profile.join("rollcall"))
        .filter(|binary| binary.is_file())
        .unwrap_or_else(|| {
            panic!(
                "no rollcall binary beside {}: the kit runs the one cargo builds for \
                 the host package's tests and benchmarks (or set ROLLCALL_BINARY)",
                running.display()
            )
        })
}

/// Makes a FIFO at `path` (`mkfifo`), failing the test if it cannot.
pub fn make_fifo(path: &Path) {
    let made = Command::new("mkfifo").arg(path).status();
    assert!(
        made.as_ref().is_ok_and(std::process::ExitStatus::success),
        "mkfifo {}: {made:?}",
        path.display()
    );
}

pub fn fixture(name: &str) -> PathBuf {
    workspace().join("tests/fixtures").join(name)
}

pub fn seed_fleet() -> PathBuf {
    workspace().join("examples/seed-fleet.json")
}

/// What one run of the binary did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The stdout JSON document; fails the test if the run failed.
    pub fn json(&self) -> Value {
        assert_eq!(self.code, 0, "rollcall failed: {}", self.stderr);
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|err| panic!("stdout is not JSON ({err}): {}", self.stdout))
    }

    /// Asserts a failure with `code` whose message contains every fragment.
    pub fn fails_with(&self, code: i32, fragments: &[&str]) {
        assert_eq!(
            self.code, code,
            "exit code; stdout: {} stderr: {}",
            self.stdout, self.stderr
        );
        for fragment in fragments {
            assert!(
                self.stderr.contains(fragment),
                "stderr lacks {fragment:?}: {}",
                self.stderr
            );
        }
        assert!(
            !self.stderr.contains("thread '"),
            "the host panicked: {}",
            self.stderr
        );
    }
}

/// Runs `rollcall` with `args`.
pub fn rollcall<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    rollcall_in(args, &[])
}

/// How long one run of the binary may take before the test fails.
pub const RUN_LIMIT: Duration = Duration::from_secs(120);

/// Runs `rollcall` with `args` in an environment with no AWS settings of the
/// machine's (no profile, region, endpoint or IMDS), plus `env`.
pub fn rollcall_in<I, S>(args: I, env: &[(&str, &str)]) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    rollcall_within(RUN_LIMIT, args, env)
}

/// Like [`rollcall_in`], but the run is killed, and the test fails, once it
/// has taken `limit`.
pub fn rollcall_within<I, S>(limit: Duration, args: I, env: &[(&str, &str)]) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut command = rollcall_command(None);
    command.args(args).envs(env.iter().copied());
    run_within(limit, command)
}

/// The `rollcall` binary, isolated (see [`isolate`]); with `shell_prefix`
/// (a `ulimit`, say) it runs as `sh -c "PREFIX exec rollcall ARGS..."`.
pub fn rollcall_command(shell_prefix: Option<&str>) -> Command {
    let binary = binary();
    let mut command = match shell_prefix {
        Some(prefix) => {
            let mut command = Command::new("sh");
            command
                .arg("-c")
                .arg(format!("{prefix} exec \"$0\" \"$@\""))
                .arg(&binary);
            command
        }
        None => Command::new(&binary),
    };
    isolate(&mut command);
    command
}

/// Runs `command` to its end with no stdin; it is killed, and the test
/// fails, once it has taken `limit`.
pub fn run_within(limit: Duration, mut command: Command) -> Run {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("rollcall runs");
    let read_all = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = read_all(Box::new(child.stderr.take().expect("piped stderr")));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("rollcall can be waited for") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "rollcall did not finish within {limit:?}; stderr: {}",
                stderr.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// The credentials moto and the tests' stubs accept, for a `rollcall`
/// under test's environment.
pub const CREDENTIALS: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
];

/// Where a `rollcall` under test finds every AWS service no test named: a
/// loopback port nothing listens on (the discard port), so nothing leaves
/// the machine.
pub const NO_SERVICE: &str = "http://127.0.0.1:9";

/// Keeps a `rollcall` under test away from the machine's AWS settings (no
/// profile, region, endpoint or IMDS; no service but on loopback) and its
/// compiled-policy cache.
pub fn isolate(command: &mut Command) {
    for (name, _) in std::env::vars() {
        if name.starts_with("AWS_") {
            command.env_remove(name);
        }
    }
    command
        .env_remove("RUST_LOG")
        // Not systemd's service, whoever runs the tests.
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        // Every AWS service a test does not point somewhere itself (EC2's
        // --endpoint-url, AWS_ENDPOINT_URL_AUTO_SCALING, ...) is refused on
        // loopback rather than reached on the internet.
        .env("AWS_ENDPOINT_URL", NO_SERVICE)
        .env("ROLLCALL_CACHE_DIR", test_cache());
}

/// The compiled-policy cache the tests share (under target/).
pub fn test_cache() -> PathBuf {
    workspace().join("target/test-policy-cache")
}

/// `rollcall resolve --inventory INVENTORY --plugin PLUGIN EXTRA...`
pub fn resolve(inventory: &Path, plugin: &Path, extra: &[&str]) -> Run {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "resolve".as_ref(),
        "--inventory".as_ref(),
        inventory.as_os_str(),
        "--plugin".as_ref(),
        plugin.as_os_str(),
    ];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    rollcall(args)
}

/// The instance ids under `key` (`members` or `register_with`).
pub fn ids(document: &Value, key: &str) -> Vec<String> {
    document[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} is not an array: {document}"))
        .iter()
        .map(|entry| {
            entry["instance_id"]
                .as_str()
                .expect("instance_id")
                .to_owned()
        })
        .collect()
}

/// The member `instance_id` of `document`; fails the test, showing the
/// document, when it is none.
pub fn member<'d>(document: &'d Value, instance_id: &str) -> &'d Value {
    document["members"]
        .as_array()
        .and_then(|members| {
            members
                .iter()
                .find(|member| member["instance_id"] == instance_id)
        })
        .unwrap_or_else(|| panic!("{instance_id} is no member: {document}"))
}

/// The role of `instance_id` among the members, if it is one.
pub fn role_of(document: &Value, instance_id: &str) -> Option<String> {
    document["members"]
        .as_array()?
        .iter()
        .find(|member| member["instance_id"] == instance_id)
        .map(|member| member["role"].as_str().expect("role").to_owned())
}
