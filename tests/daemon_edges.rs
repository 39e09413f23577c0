//! End to end: the daemon at its edges. Slow, idle and numerous HTTP
//! clients; SIGTERM while a read or a request hangs; a plugin symlink
//! swapped behind a path with `..`; policy settings in TOML rejected at
//! their own line.

use kit::daemon::Daemon;
use kit::eventually;
use kit::http;
use kit::plugins::{ELASTIC_GRID, TAG_ROLES};
use kit::{rollcall, seed_fleet};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

const AGENT: &str = "i-df71a7b6";
/// Long enough for a start, a reload or a refresh on a busy machine.
const WAIT: Duration = Duration::from_secs(30);
/// The daemon's `HEADER_READ_TIMEOUT`, `HTTP_SHUTDOWN_DEADLINE` and
/// `RUNTIME_SHUTDOWN_DEADLINE` (host/src/daemon/limits.rs).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
const HTTP_SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);
const RUNTIME_SHUTDOWN_DEADLINE: Duration = Duration::from_secs(2);
/// What a loaded machine may add to a deadline.
const SLACK: Duration = Duration::from_secs(3);

/// Whether the server has closed `stream` (EOF or reset); waits up to `wait`.
fn closed_by_server(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buffer = [0u8; 512];
    match stream.read(&mut buffer) {
        Ok(0) => true,
        Ok(_) => false,
        Err(err) => !matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

fn file_daemon_args(fleet: &Path, plugin_path: &Path) -> Vec<String> {
    vec![
        "--inventory".into(),
        fleet.display().to_string(),
        "--plugin".into(),
        plugin_path.display().to_string(),
        "--self".into(),
        AGENT.into(),
        "--refresh".into(),
        "1s".into(),
    ]
}

#[test]
fn more_connections_than_files_cannot_lock_out_healthz_and_idle_ones_are_closed() {
    // 300 files at most (soft and hard): the daemon keeps 256 for itself and
    // serves at most 44 connections.
    let args = file_daemon_args(&seed_fleet(), Path::new(ELASTIC_GRID));
    let daemon = Daemon::launch(&args)
        .shell_prefix("ulimit -n 300 &&")
        .start();
    eventually(WAIT, "a healthy daemon", || {
        http::get(daemon.address(), "/healthz").filter(|(status, _)| *status == 200)
    });

    // A slow client: one header line a second, never the blank line.
    let address = daemon.address().to_owned();
    let slow = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(&address).unwrap();
        let started = Instant::now();
        stream.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap();
        for line in 0..60 {
            std::thread::sleep(Duration::from_secs(1));
            if stream
                .write_all(format!("X-Slow-{line}: 1\r\n").as_bytes())
                .is_err()
                || closed_by_server(&mut stream, Duration::from_millis(1))
            {
                return Some(started.elapsed());
            }
        }
        None
    });

    // More idle connections than the daemon may open files.
    let started = Instant::now();
    let mut idle: Vec<TcpStream> = (0..320)
        .map(|_| TcpStream::connect(daemon.address()).unwrap())
        .collect();
    let limit = HEADER_READ_TIMEOUT + SLACK * 2;
    let mut closed = 0;
    while !idle.is_empty() && started.elapsed() < limit {
        idle.retain_mut(|stream| !closed_by_server(stream, Duration::from_millis(5)));
        closed = 320 - idle.len();
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        closed,
        320,
        "idle connections still open after {limit:?}: {}",
        daemon.stderr()
    );

    // The daemon answers again, and refreshes have kept working.
    let (status, _) = eventually(SLACK, "/healthz after the idle connections", || {
        http::get(daemon.address(), "/healthz")
    });
    assert_eq!(status, 200, "{}", daemon.stderr());
    let slow_closed = slow.join().unwrap().expect("the slow client is cut off");
    assert!(
        slow_closed < limit,
        "the slow client was cut off after {slow_closed:?}"
    );
    let stderr = daemon.stderr();
    assert!(!stderr.contains("Too many open files"), "{stderr}");
    assert!(stderr.contains("HTTP connection limit reached"), "{stderr}");
}

#[test]
fn the_soft_open_file_limit_is_raised_to_the_hard_limit() {
    let args = file_daemon_args(&seed_fleet(), Path::new(ELASTIC_GRID));
    let daemon = Daemon::launch(&args)
        .shell_prefix("ulimit -Sn 256 &&")
        .start();
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", daemon.id())).unwrap();
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .unwrap();
    let values: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(values[0], values[1], "soft and hard: {line}");
    assert_ne!(values[0], "256", "{line}");
}

#[test]
fn sigterm_exits_in_time_while_the_inventory_read_blocks_on_a_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fleet.json");
    kit::make_fifo(&fifo);
    let args = file_daemon_args(&fifo, Path::new(ELASTIC_GRID));
    let mut daemon = Daemon::start(&args);
    // Nobody writes: the first refresh blocks in the read.
    std::thread::sleep(Duration::from_millis(500));
    let limit = RUNTIME_SHUTDOWN_DEADLINE + SLACK;
    let (code, _) = daemon.terminate_within(limit);
    assert_eq!(code, Some(0), "{}", daemon.stderr());
}

#[test]
fn sigterm_exits_in_time_while_a_client_holds_half_a_request() {
    let args = file_daemon_args(&seed_fleet(), Path::new(ELASTIC_GRID));
    let mut daemon = Daemon::start(&args);
    let mut client = TcpStream::connect(daemon.address()).unwrap();
    client
        .write_all(b"GET /v1/membership HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // Less than the header-read timeout: the shutdown deadline must act.
    let limit = HTTP_SHUTDOWN_DEADLINE + SLACK;
    assert!(limit < HEADER_READ_TIMEOUT);
    let (code, _) = daemon.terminate_within(limit);
    assert_eq!(code, Some(0), "{}", daemon.stderr());
    drop(client);
}

#[test]
fn a_plugin_symlink_swapped_behind_a_dot_dot_path_is_reloaded_without_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    let plugins = root.join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::create_dir(root.join("etc")).unwrap();
    std::fs::copy(ELASTIC_GRID, plugins.join("v1.wasm")).unwrap();
    std::fs::copy(TAG_ROLES, plugins.join("v2.wasm")).unwrap();
    std::os::unix::fs::symlink("v1.wasm", plugins.join("current.wasm")).unwrap();
    std::fs::copy(seed_fleet(), root.join("fleet.json")).unwrap();
    let config = root.join("etc/rollcall.toml");
    std::fs::write(
        &config,
        format!(
            "refresh = \"1s\"\nself = \"{AGENT}\"\n\n[source]\nkind = \"file\"\npath = \"../fleet.json\"\n\n\
             [policy]\nplugin = \"../plugins/current.wasm\"\nmax_change = \"off\"\n"
        ),
    )
    .unwrap();
    let daemon = Daemon::start(["--config", config.to_str().unwrap()]);
    let first = eventually(WAIT, "the first answer", || daemon.membership());
    assert_eq!(
        first["policy"]["path"],
        plugins.join("current.wasm").display().to_string(),
        "the normalised path, still the link"
    );

    // ln -s v2.wasm current.tmp && mv -T current.tmp current.wasm (tag-roles
    // drops every member: the change guard is off for this swap).
    std::os::unix::fs::symlink("v2.wasm", plugins.join("current.tmp")).unwrap();
    std::fs::rename(plugins.join("current.tmp"), plugins.join("current.wasm")).unwrap();
    let swapped = eventually(
        Duration::from_secs(15),
        "the swapped plugin in service",
        || {
            daemon
                .membership()
                .filter(|document| document["policy"]["sha256"] != first["policy"]["sha256"])
        },
    );
    assert_eq!(swapped["policy"]["path"], first["policy"]["path"]);
    assert!(!daemon.stderr().contains("SIGHUP"), "{}", daemon.stderr());
}

#[test]
fn toml_settings_a_policy_rejects_are_reported_at_their_toml_line() {
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("settings.toml");
    std::fs::write(
        &settings,
        "# elastic-grid settings\naddress = \"private-ip\"\n\nmonitor_port = \"seventy\"\n",
    )
    .unwrap();
    let place = format!("at {}:4:1 (`monitor_port`)", settings.display());

    let resolve = rollcall([
        "resolve",
        "--inventory",
        seed_fleet().to_str().unwrap(),
        "--plugin",
        ELASTIC_GRID,
        "--self",
        AGENT,
        "--plugin-config",
        &format!("@{}", settings.display()),
    ]);
    resolve.fails_with(2, &["invalid elastic-grid settings: invalid type", &place]);
    assert!(!resolve.stderr.contains("at line"), "{}", resolve.stderr);

    let config = dir.path().join("rollcall.toml");
    std::fs::write(
        &config,
        format!(
            "self = \"{AGENT}\"\n[source]\nkind = \"file\"\npath = \"{}\"\n[policy]\nplugin = \"{}\"\nsettings_file = \"settings.toml\"\n",
            seed_fleet().display(),
            ELASTIC_GRID
        ),
    )
    .unwrap();
    let watch = rollcall(["watch", "--config", config.to_str().unwrap()]);
    watch.fails_with(2, &["invalid elastic-grid settings: invalid type", &place]);
}
