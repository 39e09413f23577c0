//! Hot reload latency: a running `rollcall watch` (a 1,000- and a
//! 10,000-instance inventory file, Elastic Grid with clustering on, self an
//! agent) has a new policy renamed into its plugin path, the way deploy tools
//! do; measured is the time from the rename to the first `/v1/membership`
//! answer that comes from the new policy (polled about every millisecond over
//! a keep-alive loopback connection). The two policies swapped back and forth
//! are the Elastic Grid plugin and the same plugin with an extra custom
//! section: the same decisions, told apart by the `policy.sha256` the answer
//! carries. Done with the compiled-policy cache warm (both precompiled) and
//! with `--no-cache` (compiled on every reload); prints the median and max of
//! the swaps. Run: `cargo bench -p rollcall --bench hot_reload` after
//! `scripts/plugins`.

#[path = "support/fleet.rs"]
mod fleet;
#[path = "support/measure.rs"]
#[allow(dead_code, reason = "shared by every benchmark, each using part of it")]
mod measure;
#[path = "support/summary.rs"]
#[allow(dead_code, reason = "shared by every benchmark, each using part of it")]
mod summary;

use measure::median;
use rollcall::policy::sha256_hex;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use summary::Target;

const SWAPS: usize = 16;
const SETTINGS: &str = r#"{"cluster_group_prefix": "cluster-"}"#;
/// Between polls of `/v1/membership`.
const POLL: Duration = Duration::from_millis(1);
/// Quiet time after each swap's answer, so that swaps do not overlap.
const SETTLE: Duration = Duration::from_millis(300);
/// Longest wait for the daemon's first answer or a reload's answer.
const DEADLINE: Duration = Duration::from_secs(60);

/// A policy file the benchmark swaps in: its bytes and their sha256, which
/// `/v1/membership` shows as `policy.sha256`.
struct Policy {
    bytes: Vec<u8>,
    sha256: String,
}

impl Policy {
    fn new(bytes: Vec<u8>) -> Policy {
        let sha256 = sha256_hex(&bytes);
        Policy { bytes, sha256 }
    }
}

/// How the daemon gets the compiled policy on a reload.
#[derive(Clone, Copy)]
enum Compilation {
    /// From the cache, both policies precompiled.
    Precompiled,
    /// Compiled on every reload (`--no-cache`).
    Compiling,
}

impl Compilation {
    fn describe(self) -> &'static str {
        match self {
            Compilation::Precompiled => "precompiled",
            Compilation::Compiling => "--no-cache",
        }
    }
}

/// What one series of swaps measured.
struct Series {
    latencies: Vec<Duration>,
    polls: Vec<Duration>,
}

fn main() {
    let rollcall = env!("CARGO_BIN_EXE_rollcall");
    let dir = tempfile::tempdir().expect("temporary directory");
    let original = std::fs::read(measure::plugin("elastic_grid")).expect("read elastic_grid.wasm");
    let policies = [
        Policy::new(original.clone()),
        Policy::new(with_custom_section(&original, "rollcall-bench-variant")),
    ];
    let cache = dir.path().join("cache");
    precompile(rollcall, dir.path(), &policies, &cache);

    println!(
        "hot reload: rename of a new policy into place -> first /v1/membership answer \
         from it, {SWAPS} swaps each:"
    );
    println!(
        "{:>9} {:>12} {:>10} {:>8} {:>8} {:>13}",
        "instances", "policy", "median_ms", "max_ms", "min_ms", "poll_ms(med)"
    );
    for count in [1_000, 10_000] {
        let inventory = dir.path().join(format!("fleet-{count}.json"));
        std::fs::write(&inventory, fleet::describe_instances(count, 42).to_string())
            .expect("write the fleet");
        for compilation in [Compilation::Precompiled, Compilation::Compiling] {
            let work = dir
                .path()
                .join(format!("{count}-{}", compilation.describe()));
            let series = swap_series(rollcall, &work, &inventory, &policies, &cache, compilation);
            report(count, compilation, &series);
        }
    }
}

/// A valid component with different bytes: `component` plus a custom
/// section (id 0, size, name, no payload), which every tool ignores.
fn with_custom_section(component: &[u8], name: &str) -> Vec<u8> {
    let mut content = leb128(name.len());
    content.extend_from_slice(name.as_bytes());
    let mut bytes = component.to_vec();
    bytes.push(0);
    bytes.extend(leb128(content.len()));
    bytes.extend(content);
    bytes
}

fn leb128(mut value: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    loop {
        let low = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            bytes.push(low);
            return bytes;
        }
        bytes.push(low | 0x80);
    }
}

/// Puts both policies into the compiled-policy cache.
fn precompile(rollcall: &str, dir: &Path, policies: &[Policy], cache: &Path) {
    for (index, policy) in policies.iter().enumerate() {
        let path = dir.join(format!("policy-{index}.wasm"));
        std::fs::write(&path, &policy.bytes).expect("write a policy to precompile");
        measure::precompile(rollcall, &path, cache);
    }
}

/// Starts a daemon on `inventory` with the first policy, then renames the
/// other one into place and waits for its answer, `SWAPS` times.
fn swap_series(
    rollcall: &str,
    work: &Path,
    inventory: &Path,
    policies: &[Policy; 2],
    cache: &Path,
    compilation: Compilation,
) -> Series {
    let (watched, staging) = (work.join("policy"), work.join("staging"));
    std::fs::create_dir_all(&watched).expect("create the plugin's directory");
    std::fs::create_dir_all(&staging).expect("create the staging directory");
    let plugin = watched.join("current.wasm");
    std::fs::write(&plugin, &policies[0].bytes).expect("write the first policy");

    let daemon = Daemon::start(rollcall, work, inventory, &plugin, cache, compilation);
    let mut client = MembershipClient::new(&daemon.address);
    let mut polls = Vec::new();
    let first = client.wait_for(&policies[0].sha256, &mut polls, &daemon);
    check_policy_field(&first, &policies[0].sha256);

    let mut latencies = Vec::new();
    for swap in 1..=SWAPS {
        let next = &policies[swap % 2];
        let incoming = staging.join("current.wasm");
        std::fs::write(&incoming, &next.bytes).expect("stage the next policy");
        let renamed = Instant::now();
        std::fs::rename(&incoming, &plugin).expect("rename the policy into place");
        client.wait_for(&next.sha256, &mut polls, &daemon);
        latencies.push(renamed.elapsed());
        std::thread::sleep(SETTLE);
    }
    drop(daemon);
    Series { latencies, polls }
}

/// The answer names its policy where the benchmark looks for it.
fn check_policy_field(body: &[u8], sha256: &str) {
    let document: serde_json::Value = serde_json::from_slice(body).expect("/v1/membership is JSON");
    assert_eq!(
        document["policy"]["sha256"], sha256,
        "/v1/membership shows the policy's sha256 as policy.sha256"
    );
}

fn report(count: usize, compilation: Compilation, series: &Series) {
    let ms = |duration: Duration| duration.as_secs_f64() * 1e3;
    let latency = median(series.latencies.clone());
    let max = series.latencies.iter().max().copied().unwrap_or_default();
    let min = series.latencies.iter().min().copied().unwrap_or_default();
    println!(
        "{count:>9} {:>12} {:>10.1} {:>8.1} {:>8.1} {:>13.2}",
        compilation.describe(),
        ms(latency),
        ms(max),
        ms(min),
        ms(median(series.polls.clone())),
    );
    summary::record(
        "hot_reload",
        &format!(
            "rename to first answer, {}k instances, {}, median of {SWAPS} (max)",
            count / 1_000,
            compilation.describe()
        ),
        &format!("{:.1} ms ({:.1})", ms(latency), ms(max)),
        Target::None,
    );
}

/// A running `rollcall watch`, killed when dropped (also on panic).
struct Daemon {
    child: Child,
    address: String,
    log: PathBuf,
}

impl Daemon {
    fn start(
        rollcall: &str,
        work: &Path,
        inventory: &Path,
        plugin: &Path,
        cache: &Path,
        compilation: Compilation,
    ) -> Daemon {
        let address = format!("127.0.0.1:{}", free_port());
        let log = work.join("watch.log");
        let mut command = Command::new(rollcall);
        measure::without_aws_environment(&mut command)
            .arg("watch")
            .arg("--inventory")
            .arg(inventory)
            .arg("--plugin")
            .arg(plugin)
            .args(["--plugin-config", SETTINGS, "--self", fleet::SELF_ID])
            .args(["--listen", &address, "--refresh", "1h"]);
        match compilation {
            Compilation::Precompiled => command.arg("--cache-dir").arg(cache),
            Compilation::Compiling => command.arg("--no-cache"),
        };
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("create the daemon's log"));
        let child = command.spawn().expect("rollcall watch starts");
        Daemon {
            child,
            address,
            log,
        }
    }

    /// The end of the daemon's log, for failure messages.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}

/// `GET /v1/membership` over one keep-alive connection, reconnecting when
/// the connection is gone (or the daemon not listening yet).
struct MembershipClient {
    address: String,
    connection: Option<BufReader<TcpStream>>,
}

impl MembershipClient {
    fn new(address: &str) -> MembershipClient {
        MembershipClient {
            address: address.to_owned(),
            connection: None,
        }
    }

    /// Polls until an answer shows the policy with `sha256`, timing each
    /// poll into `polls`; the answer's body.
    fn wait_for(&mut self, sha256: &str, polls: &mut Vec<Duration>, daemon: &Daemon) -> Vec<u8> {
        let started = Instant::now();
        loop {
            let asked = Instant::now();
            if let Ok((200, body)) = self.get() {
                polls.push(asked.elapsed());
                if String::from_utf8_lossy(&body).contains(sha256) {
                    return body;
                }
            }
            assert!(
                started.elapsed() < DEADLINE,
                "no /v1/membership answer from policy {sha256} after {DEADLINE:?}; \
                 the daemon's log ends:\n{}",
                daemon.log_tail()
            );
            std::thread::sleep(POLL);
        }
    }

    fn get(&mut self) -> std::io::Result<(u16, Vec<u8>)> {
        let answer = self.request();
        if answer.is_err() {
            self.connection = None;
        }
        answer
    }

    fn request(&mut self) -> std::io::Result<(u16, Vec<u8>)> {
        if self.connection.is_none() {
            let stream = TcpStream::connect(&self.address)?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(Duration::from_secs(10)))?;
            self.connection = Some(BufReader::new(stream));
        }
        let reader = self.connection.as_mut().expect("connected");
        write!(
            reader.get_mut(),
            "GET /v1/membership HTTP/1.1\r\nHost: {}\r\n\r\n",
            self.address
        )?;
        let (status, length, close) = read_head(reader)?;
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        if close {
            self.connection = None;
        }
        Ok((status, body))
    }
}

/// A response's status, `Content-Length` and whether the server closes.
fn read_head(reader: &mut BufReader<TcpStream>) -> std::io::Result<(u16, usize, bool)> {
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(invalid("connection closed"));
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid("no status code"))?;
    let (mut length, mut close) = (None, false);
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(invalid("connection closed in the head"));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().ok();
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            }
        }
    }
    let length = length.ok_or_else(|| invalid("no Content-Length"))?;
    Ok((status, length, close))
}
