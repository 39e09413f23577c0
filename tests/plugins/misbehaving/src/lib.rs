//! A policy that misbehaves on request, for the end-to-end tests of the
//! host's defences. Its settings pick the misbehaviour: `{"mode": "..."}`.
//!
//! Modes:
//! - answers: `well-behaved` (every running instance an agent, self registers
//!   with everyone else), `unknown-member`, `empty-role`, `duplicate-member`,
//!   `self-target`, `giant-output` (2,000,000 members, or `"count"` of them);
//! - failures: `error`, `trap` (`decide` panics), `reject-settings`,
//!   `panic-configure`;
//! - runaways: `loop-decide`, `loop-configure` (never return), `allocate`
//!   (allocates until allocation fails), `recurse` (until the call stack is
//!   exhausted), `sleep` (sleeps 15 s, then fails saying how long it slept),
//!   `sleep-forever` (sleeps for ever, in a loop);
//! - floods: `huge-error` (an 8 MB error message on every call);
//! - answers that would reach shells and terminals: `control-role` (a role
//!   with a terminal escape and a NUL), `spaced-address` (two addresses in
//!   one), `spaced-cluster` (a cluster name with a space);
//! - escapes, each reported as `decide`'s error message: `read-file` (reads
//!   `/etc/passwd`), `read-env` (reads the environment), `connect` (connects
//!   to `127.0.0.1` on the settings' `"port"`);
//! - noise: `chatty` (floods the log and stdout, then behaves);
//! - probes: `ignore` (returns an empty decision without looking at the
//!   fleet: the benchmarks' measure of what carrying the fleet into the
//!   guest costs).

use rollcall_policy_sdk::{
    Decision, Guest, Inventory, LogLevel, Member, candidates, install_panic_hook, log,
};
use std::cell::RefCell;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Members `giant-output` returns unless the settings say `"count"`.
const GIANT_OUTPUT_MEMBERS: usize = 2_000_000;
/// How long `sleep` sleeps.
const SLEEP: Duration = Duration::from_secs(15);
/// The size of `huge-error`'s message.
const HUGE_ERROR_BYTES: usize = 8 * 1024 * 1024;

thread_local! {
    static SETTINGS: RefCell<Settings> = RefCell::new(Settings::default());
}

/// The misbehaviour and what it reads.
struct Settings {
    mode: String,
    /// `connect`: the loopback port to connect to.
    port: Option<u16>,
    /// `giant-output`: how many members to return.
    count: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            mode: "well-behaved".to_owned(),
            port: None,
            count: GIANT_OUTPUT_MEMBERS,
        }
    }
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
        })
    }
}

struct Misbehaving;

impl Guest for Misbehaving {
    fn configure(config: String) -> Result<(), String> {
        install_panic_hook();
        let settings = Settings::from_json(&config)?;
        match settings.mode.as_str() {
            "reject-settings" => {
                return Err("mode reject-settings: these settings are never good enough".to_owned());
            }
            "panic-configure" => panic!("mode panic-configure: configure panicked on purpose"),
            "loop-configure" => spin_forever(),
            _ => {}
        }
        SETTINGS.set(settings);
        Ok(())
    }

    fn decide(inventory: Inventory) -> Result<Decision, String> {
        let (mode, port, count) =
            SETTINGS.with_borrow(|settings| (settings.mode.clone(), settings.port, settings.count));
        if mode == "ignore" {
            return Ok(Decision {
                members: Vec::new(),
                register_with: Vec::new(),
            });
        }
        let mut decision = well_behaved(&inventory);
        let first = decision.members.first().cloned();
        match (mode.as_str(), first) {
            ("well-behaved", _) => {}
            ("unknown-member", _) => decision.members.push(agent("i-doesnotexist", None)),
            ("empty-role", Some(mut member)) => {
                member.role = String::new();
                decision.members[0] = member;
            }
            ("duplicate-member", Some(member)) => decision.members.push(member),
            ("self-target", _) => decision.register_with.extend(inventory.self_id.clone()),
            ("error", _) => return Err("mode error: this policy refuses to decide".to_owned()),
            ("trap", _) => panic!("mode trap: the policy panicked on purpose"),
            ("chatty", _) => {
                for line in 0..5_000 {
                    log(LogLevel::Info, &format!("chatty log line {line}"));
                }
                println!("chatty stdout line");
                eprintln!("chatty stderr line");
            }
            ("loop-decide", _) => spin_forever(),
            ("sleep", _) => {
                let started = Instant::now();
                std::thread::sleep(SLEEP);
                return Err(format!("sleep: woke up after {:?}", started.elapsed()));
            }
            ("sleep-forever", _) => loop {
                std::thread::sleep(Duration::MAX);
            },
            ("huge-error", _) => return Err("e".repeat(HUGE_ERROR_BYTES)),
            ("control-role", Some(mut member)) => {
                member.role = "\u{1b}[31mmonitor\0".to_owned();
                decision.members[0] = member;
            }
            ("spaced-address", Some(mut member)) => {
                member.address = Some("10.0.0.1 10.0.0.2".to_owned());
                decision.members[0] = member;
            }
            ("spaced-cluster", Some(mut member)) => {
                member.clusters = vec!["blue green".to_owned()];
                decision.members[0] = member;
            }
            ("allocate", _) => allocate_forever(),
            ("recurse", _) => {
                recurse(0);
            }
            ("giant-output", _) => {
                let id = inventory
                    .instances
                    .first()
                    .map_or("i-none", |instance| &instance.id);
                decision.members = Vec::with_capacity(count);
                decision.members.extend((0..count).map(|_| agent(id, None)));
                decision.register_with.clear();
            }
            ("read-file", _) => {
                let result = std::fs::read_to_string("/etc/passwd");
                return Err(format!("read-file: {result:?}"));
            }
            ("read-env", _) => {
                return Err(format!(
                    "read-env: AWS_SECRET_ACCESS_KEY={:?} vars={}",
                    std::env::var("AWS_SECRET_ACCESS_KEY"),
                    std::env::vars().count()
                ));
            }
            ("connect", _) => {
                let port = port.ok_or("mode connect: the settings need a \"port\"")?;
                let result = std::net::TcpStream::connect(("127.0.0.1", port));
                return Err(format!("connect: {result:?}"));
            }
            (other, _) => return Err(format!("unknown mode {other:?}")),
        }
        Ok(decision)
    }
}

/// Every running instance (and self) an agent; self registers with the rest.
fn well_behaved(inventory: &Inventory) -> Decision {
    let self_id = inventory.self_id.as_deref();
    let members: Vec<Member> = candidates(inventory)
        .map(|instance| agent(&instance.id, instance.private_ipv4.clone()))
        .collect();
    let register_with = match self_id {
        Some(own) => members
            .iter()
            .filter(|member| member.instance_id != own && member.address.is_some())
            .map(|member| member.instance_id.clone())
            .collect(),
        None => Vec::new(),
    };
    Decision {
        members,
        register_with,
    }
}

fn agent(id: &str, address: Option<String>) -> Member {
    Member {
        instance_id: id.to_owned(),
        role: "agent".to_owned(),
        clusters: Vec::new(),
        address,
        port: None,
    }
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

rollcall_policy_sdk::export!(Misbehaving);
