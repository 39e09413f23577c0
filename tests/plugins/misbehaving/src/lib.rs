//! A policy that misbehaves on request, for the end-to-end tests of the
//! host's defences. Its settings pick the misbehaviour: `{"mode": "..."}`.
//!
//! Modes:
//! - answers: `well-behaved` (every running instance an agent, self registers
//!   with everyone else), `unknown-member` (a member whose instance index is
//!   past the end of the fleet), `empty-role`, `duplicate-member`,
//!   `self-target`, `giant-output` (2,000,000 members, or `"count"` of them);
//! - failures: `error` (with the settings' `"message"` if they give one),
//!   `trap` (`decide` panics), `reject-settings`, `panic-configure`;
//! - runaways: `loop-decide`, `loop-configure` (never return), `allocate`
//!   (allocates until allocation fails), `recurse` (until the call stack is
//!   exhausted), `sleep` (sleeps 15 s, then fails saying how long it slept),
//!   `sleep-forever` (sleeps for ever, in a loop);
//! - floods: `huge-error` (an 8 MB error message on every call);
//! - answers that would reach shells and terminals: `control-role` (a role
//!   with a terminal escape and a NUL), `spaced-address` (two addresses in
//!   one), `spaced-cluster` (a cluster name with a space), `control-label`
//!   (a label value with a terminal escape), `label-twice` (a label name
//!   given twice);
//! - escapes, each reported as `decide`'s error message: `read-file` (reads
//!   `/etc/passwd`), `read-env` (reads the environment), `connect` (connects
//!   to `127.0.0.1` on the settings' `"port"`);
//! - noise: `chatty` (floods the log and stdout, then behaves);
//! - probes: `ignore` (returns an empty answer without looking at the
//!   fleet: the benchmarks' measure of what carrying the fleet into the
//!   guest costs).

use rollcall_policy_sdk::{Address, AddressKind, Answer, Fleet, LogLevel, Member, Policy, log};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Members `giant-output` returns unless the settings say `"count"`.
const GIANT_OUTPUT_MEMBERS: usize = 2_000_000;
/// How long `sleep` sleeps.
const SLEEP: Duration = Duration::from_secs(15);
/// The size of `huge-error`'s message.
const HUGE_ERROR_BYTES: usize = 8 * 1024 * 1024;

/// The misbehaviour and what it reads.
struct Settings {
    mode: String,
    /// `connect`: the loopback port to connect to.
    port: Option<u16>,
    /// `giant-output`: how many members to return.
    count: usize,
    /// `error`: the error message to return.
    message: Option<String>,
}

impl Settings {
    fn from_json(config: &str) -> Result<Settings, String> {
        let settings: serde_json::Value =
            serde_json::from_str(config).map_err(|err| err.to_string())?;
        let number = |name: &str| settings.get(name).and_then(serde_json::Value::as_u64);
        Ok(Settings {
            mode: settings
                .get("mode")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("well-behaved")
                .to_owned(),
            port: number("port").and_then(|port| u16::try_from(port).ok()),
            count: number("count")
                .and_then(|count| usize::try_from(count).ok())
                .unwrap_or(GIANT_OUTPUT_MEMBERS),
            message: settings
                .get("message")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned),
        })
    }
}

struct Misbehaving(Settings);

impl Policy for Misbehaving {
    fn configure(settings: &str) -> Result<Self, String> {
        let settings = Settings::from_json(settings)?;
        match settings.mode.as_str() {
            "reject-settings" => {
                return Err("mode reject-settings: these settings are never good enough".to_owned());
            }
            "panic-configure" => panic!("mode panic-configure: configure panicked on purpose"),
            "loop-configure" => spin_forever(),
            _ => {}
        }
        Ok(Misbehaving(settings))
    }

    fn decide(&self, fleet: &Fleet, answer: &mut Answer) -> Result<(), String> {
        let Settings {
            mode,
            port,
            count,
            message,
        } = &self.0;
        match mode.as_str() {
            "ignore" => Ok(()),
            "well-behaved" | "unknown-member" | "empty-role" | "duplicate-member"
            | "self-target" | "control-role" | "spaced-address" | "spaced-cluster"
            | "control-label" | "label-twice" => flawed_answer(mode, fleet, answer),
            "giant-output" => {
                giant_output(*count, answer);
                Ok(())
            }
            "chatty" => {
                chatter();
                flawed_answer("well-behaved", fleet, answer)
            }
            "error" => Err(message
                .clone()
                .unwrap_or_else(|| "mode error: this policy refuses to decide".to_owned())),
            "trap" => panic!("mode trap: the policy panicked on purpose"),
            "loop-decide" => spin_forever(),
            "sleep" => {
                let started = Instant::now();
                std::thread::sleep(SLEEP);
                Err(format!("sleep: woke up after {:?}", started.elapsed()))
            }
            "sleep-forever" => loop {
                std::thread::sleep(Duration::MAX);
            },
            "huge-error" => Err("e".repeat(HUGE_ERROR_BYTES)),
            "allocate" => allocate_forever(),
            "recurse" => {
                recurse(0);
                Ok(())
            }
            "read-file" => {
                let result = std::fs::read_to_string("/etc/passwd");
                Err(format!("read-file: {result:?}"))
            }
            "read-env" => Err(format!(
                "read-env: AWS_SECRET_ACCESS_KEY={:?} vars={}",
                std::env::var("AWS_SECRET_ACCESS_KEY"),
                std::env::vars().count()
            )),
            "connect" => {
                let port = port.ok_or("mode connect: the settings need a \"port\"")?;
                let result = std::net::TcpStream::connect(("127.0.0.1", port));
                Err(format!("connect: {result:?}"))
            }
            other => Err(format!("unknown mode {other:?}")),
        }
    }
}

/// The well-behaved answer (every candidate an agent, self registering with
/// every other one that has an address) with the flaw `mode` names.
fn flawed_answer(mode: &str, fleet: &Fleet, answer: &mut Answer) -> Result<(), String> {
    let agent = answer.role("agent");
    let mut members: Vec<Member> = fleet
        .candidates()
        .map(|instance| Member {
            instance: instance.index(),
            role: agent,
            clusters: Vec::new(),
            address: AddressKind::PrivateIp.of(instance),
            port: None,
            labels: Vec::new(),
        })
        .collect();
    if fleet.self_instance().is_some() {
        for target in fleet.candidates() {
            if !target.is_self() && AddressKind::PrivateIp.of(target).is_some() {
                answer.register_with(target);
            }
        }
    }
    spoil(mode, fleet, answer, &mut members)?;
    for member in members {
        answer.add_member(member);
    }
    Ok(())
}

/// Spoils the well-behaved members (or targets) as `mode` says;
/// `well-behaved` leaves them be.
fn spoil(
    mode: &str,
    fleet: &Fleet,
    answer: &mut Answer,
    members: &mut Vec<Member>,
) -> Result<(), String> {
    match mode {
        "unknown-member" => members.push(Member {
            instance: fleet.len() as u32 + 7,
            role: answer.role("agent"),
            clusters: Vec::new(),
            address: None,
            port: None,
            labels: Vec::new(),
        }),
        "duplicate-member" => {
            let duplicate = first(members, mode)?.clone();
            members.push(duplicate);
        }
        "self-target" => {
            if let Some(own) = fleet.self_instance() {
                answer.register_with(own);
            }
        }
        "empty-role" => first(members, mode)?.role = answer.role(""),
        "control-role" => first(members, mode)?.role = answer.role("\u{1b}[31mmonitor\0"),
        "spaced-address" => {
            first(members, mode)?.address = Some(Address::Other("10.0.0.1 10.0.0.2".to_owned()));
        }
        "spaced-cluster" => first(members, mode)?.clusters = vec![answer.cluster("blue green")],
        "control-label" => {
            first(members, mode)?.labels = vec![answer.label("team", "\u{1b}[31mblue")]
        }
        "label-twice" => {
            first(members, mode)?.labels =
                vec![answer.label("team", "blue"), answer.label("team", "red")]
        }
        _ => {}
    }
    Ok(())
}

/// The first member, which `mode` spoils; an error when there is none.
fn first<'a>(members: &'a mut [Member], mode: &str) -> Result<&'a mut Member, String> {
    members
        .first_mut()
        .ok_or_else(|| format!("mode {mode}: the fleet has no running instance to spoil"))
}

/// `count` members, all the first instance as an agent (whatever the fleet
/// holds): an answer too large to carry back.
fn giant_output(count: usize, answer: &mut Answer) {
    let agent = answer.role("agent");
    for _ in 0..count {
        answer.add_member(Member {
            instance: 0,
            role: agent,
            clusters: Vec::new(),
            address: None,
            port: None,
            labels: Vec::new(),
        });
    }
}

/// Floods the host's log, stdout and stderr.
fn chatter() {
    for line in 0..5_000 {
        log(LogLevel::Info, &format!("chatty log line {line}"));
    }
    println!("chatty stdout line");
    eprintln!("chatty stderr line");
}

/// Busy work that never ends and that the optimizer cannot remove.
fn spin_forever() -> ! {
    let mut counter = 0u64;
    loop {
        counter = black_box(
            counter
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1),
        );
    }
}

/// Keeps every MiB it allocates (and writes to each page of it) until an
/// allocation fails, which aborts.
fn allocate_forever() -> ! {
    const CHUNK: usize = 1024 * 1024;
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; CHUNK];
        for page in chunk.iter_mut().step_by(4096) {
            *page = 1;
        }
        hoard.push(black_box(chunk));
    }
}

/// Recurses until wasmtime's call stack is exhausted. Each frame adds to the
/// value the call below returns, so this is no tail call the optimizer could
/// turn into a loop; the frames live in wasm locals, not in the shadow stack
/// in linear memory, so the wasm call stack runs out first.
fn recurse(depth: u64) -> u64 {
    let depth = black_box(depth);
    if depth == u64::MAX {
        return 0;
    }
    black_box(recurse(depth + 1).wrapping_add(depth))
}

rollcall_policy_sdk::export_policy!(Misbehaving);
