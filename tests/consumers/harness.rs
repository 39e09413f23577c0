//! What every consumer test shares: the consumer programs `scripts/test`
//! installs, a consumer process killed when dropped, free loopback ports,
//! fleet files made to measure, and rollcall's answer in a format.

use rustix::process::{Pid, Signal, kill_process_group};
use serde_json::{Value, json};
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a consumer's check (`haproxy -c`, `nginx -t`, `promtool`,
/// `etcdctl`) may take.
pub const CHECK_LIMIT: Duration = Duration::from_secs(30);

/// The consumer program `name`, from the Debian package `package`, on the
/// PATH or in the sbin directories; a missing one fails the test (a skipped
/// check would pass a format no consumer accepts).
pub fn program(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} is not installed: {} installs it (apt-get install {package})",
                kit::workspace().join("scripts/test").display()
            )
        })
}

/// Runs `command` to its end within [`CHECK_LIMIT`]; fails the test, with
/// its output and `what`, unless it exits 0. Its stdout.
pub fn check(what: &str, command: Command) -> String {
    let run = kit::run_within(CHECK_LIMIT, command);
    assert_eq!(
        run.code, 0,
        "{what} failed (exit {}):\n{}\n{}",
        run.code, run.stdout, run.stderr
    );
    run.stdout
}

/// A loopback port nothing listened on a moment ago (bound, then let go).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A consumer server the test started, in a process group of its own:
/// the group is killed (SIGKILL) and the server reaped when dropped (a
/// server started by a script, RabbitMQ's, runs as the script's child),
/// its stdout and stderr in one log file the test can read.
pub struct Consumer {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Consumer {
    /// Starts `command`, its output into `log`.
    pub fn start(name: &str, mut command: Command, log: &Path) -> Consumer {
        let file = File::create(log).expect("the consumer's log file");
        command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("the log file twice"))
            .stderr(file);
        let child = command
            .spawn()
            .unwrap_or_else(|err| panic!("{name} does not start: {err}"));
        Consumer {
            name: name.to_owned(),
            child,
            log: log.to_owned(),
        }
    }

    /// Everything it wrote so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Fails the test, with its log, if it has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited ({status}):\n{}", self.name, self.log());
        }
    }

    /// Polls `check` until it gives a value, failing the test with the
    /// consumer's log if the consumer exits or `limit` passes first.
    pub fn eventually<T>(
        &mut self,
        limit: Duration,
        what: &str,
        check: impl FnMut() -> Option<T>,
    ) -> T {
        eventually(std::slice::from_mut(self), limit, what, check)
    }
}

/// Polls `check` until it gives a value, failing the test with the
/// consumers' logs if one of them exits or `limit` passes first.
pub fn eventually<T>(
    consumers: &mut [Consumer],
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        for consumer in consumers.iter_mut() {
            consumer.assert_running();
        }
        if started.elapsed() > limit {
            let logs: Vec<String> = consumers
                .iter()
                .map(|consumer| format!("--- {}\n{}", consumer.name, consumer.log()))
                .collect();
            panic!(
                "timed out after {limit:?} waiting for {what}:\n{}",
                logs.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        let _ = kill_process_group(Pid::from_child(&self.child), Signal::KILL);
        let _ = self.child.wait();
    }
}

/// Every instance's availability zone and type.
pub const ZONE: &str = "us-east-1a";
pub const INSTANCE_TYPE: &str = "t3.micro";

/// One instance of a fleet file: running, in [`ZONE`], of
/// [`INSTANCE_TYPE`], with a private address, in the security groups and
/// with the tags given.
pub struct Instance<'a> {
    pub id: &'a str,
    pub address: &'a str,
    pub groups: Vec<&'a str>,
    pub tags: Vec<(&'a str, &'a str)>,
}

impl<'a> Instance<'a> {
    /// An Elastic Grid monitor (security group `eg-monitor`).
    pub fn monitor(id: &'a str, address: &'a str) -> Instance<'a> {
        Instance {
            id,
            address,
            groups: vec!["eg-monitor"],
            tags: Vec::new(),
        }
    }

    /// An Elastic Grid agent (security group `eg-cybernode`).
    pub fn agent(id: &'a str, address: &'a str) -> Instance<'a> {
        Instance {
            id,
            address,
            groups: vec!["eg-cybernode"],
            tags: Vec::new(),
        }
    }

    /// `describe-instances`' shape of it.
    fn to_json(&self) -> Value {
        let groups: Vec<Value> = self
            .groups
            .iter()
            .map(|name| json!({"GroupName": name, "GroupId": format!("sg-{name}")}))
            .collect();
        let tags: Vec<Value> = self
            .tags
            .iter()
            .map(|(key, value)| json!({"Key": key, "Value": value}))
            .collect();
        json!({
            "InstanceId": self.id,
            "PrivateIpAddress": self.address,
            "State": {"Code": 16, "Name": "running"},
            "Placement": {"AvailabilityZone": ZONE},
            "InstanceType": INSTANCE_TYPE,
            "SecurityGroups": groups,
            "Tags": tags,
        })
    }
}

/// Writes `instances` as a `describe-instances` document at `path` (through
/// a rename: a daemon watching it reads the old file or the new one).
pub fn write_fleet(path: &Path, instances: &[Instance]) {
    let instances: Vec<Value> = instances.iter().map(Instance::to_json).collect();
    let document = json!({"Reservations": [{"ReservationId": "r-1", "Instances": instances}]});
    let partial = path.with_extension("partial");
    std::fs::write(
        &partial,
        serde_json::to_vec_pretty(&document).expect("JSON"),
    )
    .expect("the fleet file is written");
    std::fs::rename(&partial, path).expect("the fleet file is renamed into place");
}

/// `rollcall resolve --inventory FLEET --plugin PLUGIN --plugin-config
/// SETTINGS --self SELF --format FORMAT`: the output, or the test fails.
pub fn resolve(fleet: &Path, plugin: &str, settings: &str, self_id: &str, format: &str) -> String {
    let run = kit::rollcall_in(
        [
            "resolve",
            "--inventory",
            &fleet.to_string_lossy(),
            "--plugin",
            plugin,
            "--plugin-config",
            settings,
            "--self",
            self_id,
            "--format",
            format,
        ],
        &[],
    );
    assert_eq!(
        run.code, 0,
        "rollcall resolve --format {format} failed: {}",
        run.stderr
    );
    run.stdout
}

/// Writes `text` to `dir/name`; the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    path
}
