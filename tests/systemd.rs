//! End to end: the boot image's systemd units pass `systemd-analyze verify`,
//! and the real `rollcall watch` speaks the sd_notify protocol to a Unix
//! datagram socket the test binds and passes as `NOTIFY_SOCKET`: READY=1
//! only once the first answer is written, WATCHDOG=1 at half
//! `WATCHDOG_USEC` (and not at all for another `WATCHDOG_PID`), STOPPING=1
//! on SIGTERM, and more time asked while a leave on stop finishes.

use kit::daemon::Daemon;
use kit::eventually;
use kit::plugins::ELASTIC_GRID;
use kit::{seed_fleet, workspace};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);
/// Where the units expect the binary.
const INSTALLED_BINARY: &str = "/usr/local/bin/rollcall";

/// One datagram: when it came, its text, and whether the file that says
/// the first answer is out existed then.
#[derive(Debug, Clone)]
struct Received {
    at: Instant,
    text: String,
    answer_out: bool,
}

/// A notify socket in a temporary directory, read by a thread until it has
/// been drained after [`NotifySocket::finish`] or a minute has passed.
/// Each datagram notes whether `answer_out` (a file the last sink to
/// finish writes) existed then.
struct NotifySocket {
    path: PathBuf,
    received: Arc<Mutex<Vec<Received>>>,
    finished: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

impl NotifySocket {
    fn bind(dir: &Path, answer_out: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("the notify socket binds");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&received);
        let answer_out = answer_out.to_owned();
        let finished = Arc::new(AtomicBool::new(false));
        let drained = Arc::clone(&finished);
        let reader = std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(60);
            let mut buffer = vec![0; 4096];
            while Instant::now() < until {
                let Ok(length) = socket.recv(&mut buffer) else {
                    // Nothing waiting: done once the test says so.
                    if drained.load(Ordering::SeqCst) {
                        return;
                    }
                    continue;
                };
                let text = String::from_utf8_lossy(&buffer[..length]).into_owned();
                record.lock().unwrap().push(Received {
                    at: Instant::now(),
                    text,
                    answer_out: answer_out.exists(),
                });
            }
        });
        NotifySocket {
            path,
            received,
            finished,
            reader: Some(reader),
        }
    }

    fn path(&self) -> &str {
        self.path.to_str().unwrap()
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The datagrams with the field `field` (a line `field`, or starting
    /// with it).
    fn with(&self, field: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|datagram| datagram.text.lines().any(|line| line.starts_with(field)))
            .collect()
    }

    /// Once the daemon has exited: waits for the reader to drain what it
    /// sent (or for its minute to end).
    fn finish(&mut self) -> Vec<Received> {
        self.finished.store(true, Ordering::SeqCst);
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        self.received()
    }
}

fn watch_args(dir: &Path, output: &Path, inventory: &Path) -> Vec<String> {
    let plugin = Path::new(ELASTIC_GRID);
    [
        "--inventory",
        inventory.to_str().unwrap(),
        "--plugin",
        plugin.to_str().unwrap(),
        "--self",
        "i-df71a7b6",
        "--refresh",
        "200ms",
        "--output",
        output.to_str().unwrap(),
        "--cache-dir",
        dir.join("cache").to_str().unwrap(),
    ]
    .map(str::to_owned)
    .to_vec()
}

#[test]
fn ready_comes_after_the_first_answer_is_written_the_watchdog_at_its_pace_and_stopping_on_sigterm()
{
    let dir = tempfile::tempdir().unwrap();
    // Two sinks: a file, and a hook that takes a second and then leaves a
    // mark. READY=1 must wait for both.
    let output = dir.path().join("membership.json");
    let hook_done = dir.path().join("hook-done");
    let config = dir.path().join("rollcall.toml");
    std::fs::write(
        &config,
        format!(
            "refresh = \"200ms\"\nself = \"i-df71a7b6\"\n\
             [source]\nkind = \"file\"\npath = {fleet:?}\n\
             [policy]\nplugin = {plugin:?}\n\
             [[sink]]\nkind = \"file\"\npath = {output:?}\n\
             [[sink]]\nkind = \"exec\"\ncommand = [\"sh\", \"-c\", \"sleep 1 && touch {hook_done}\"]\n",
            fleet = seed_fleet(),
            plugin = Path::new(ELASTIC_GRID),
            hook_done = hook_done.display(),
        ),
    )
    .unwrap();
    let mut socket = NotifySocket::bind(dir.path(), &hook_done);
    // A watchdog of 1 s: a ping every 0.5 s, slower than the refreshes
    // (every 0.2 s), so pings that followed refreshes would be too many.
    let cache = dir.path().join("cache");
    let args = [
        "--config".as_ref(),
        config.as_os_str(),
        "--cache-dir".as_ref(),
        cache.as_os_str(),
    ];
    let mut daemon = Daemon::launch(args)
        .envs(&[
            ("NOTIFY_SOCKET", socket.path()),
            ("WATCHDOG_USEC", "1000000"),
        ])
        .start();

    let ready = eventually(WAIT, "READY=1", || socket.with("READY=1").pop());
    assert!(
        ready.answer_out && output.exists(),
        "READY=1 came before every sink had the first answer: {:?}",
        socket.received()
    );
    let first = socket.received()[0].clone();
    assert!(
        ready.at >= first.at + Duration::from_millis(900),
        "READY=1 waited for the hook's second: {:?}",
        socket.received()
    );
    assert!(
        ready.text.contains("STATUS=2 members, answer"),
        "{:?}",
        ready.text
    );

    // Three seconds from READY=1 (bounded by the wait above): about six
    // pings.
    let window = Duration::from_secs(3);
    std::thread::sleep(window);
    let pings = socket
        .with("WATCHDOG=1")
        .iter()
        .filter(|ping| ping.at > ready.at && ping.at <= ready.at + window)
        .count();
    assert!(
        (3..=9).contains(&pings),
        "{pings} watchdog pings in {window:?}, expected about 6: {}",
        daemon.stderr()
    );

    let terminated = Instant::now();
    let (code, _) = daemon.terminate_within(WAIT);
    assert_eq!(code, Some(0), "{}", daemon.stderr());
    let received = socket.finish();
    let last = received.last().expect("datagrams");
    assert!(
        last.text.starts_with("STOPPING=1") && last.at >= terminated,
        "the last datagram is STOPPING=1, after SIGTERM: {received:?}"
    );
    let readies = received
        .iter()
        .filter(|datagram| datagram.text.starts_with("READY=1"))
        .count();
    assert_eq!(readies, 1, "READY=1 once: {received:?}");
}

#[test]
fn no_ready_without_an_answer_and_no_pings_for_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("membership.json");
    let inventory = dir.path().join("fleet.json");
    std::fs::write(&inventory, "not a fleet").unwrap();
    let mut socket = NotifySocket::bind(dir.path(), &output);
    // WATCHDOG_PID names another process: the watchdog is not ours.
    let mut daemon = Daemon::launch(watch_args(dir.path(), &output, &inventory))
        .envs(&[
            ("NOTIFY_SOCKET", socket.path()),
            ("WATCHDOG_USEC", "200000"),
            ("WATCHDOG_PID", "1"),
        ])
        .start();

    let status = eventually(WAIT, "a STATUS= on the failed refresh", || {
        socket.with("STATUS=no answer yet: refresh failed").pop()
    });
    assert!(status.text.contains("fleet.json"), "{:?}", status.text);
    std::thread::sleep(Duration::from_secs(1));
    assert!(socket.with("READY=1").is_empty(), "{:?}", socket.received());

    // The fleet arrives: ready.
    let temporary = dir.path().join("fleet.tmp");
    std::fs::copy(seed_fleet(), &temporary).unwrap();
    std::fs::rename(&temporary, &inventory).unwrap();
    let ready = eventually(WAIT, "READY=1", || socket.with("READY=1").pop());
    assert!(ready.answer_out);

    daemon.terminate_within(WAIT);
    let received = socket.finish();
    assert!(
        !received
            .iter()
            .any(|datagram| datagram.text == "WATCHDOG=1"),
        "no pings for WATCHDOG_PID=1: {received:?}"
    );
    assert!(received.last().unwrap().text.starts_with("STOPPING=1"));
}

#[test]
fn a_leave_on_stop_asks_systemd_for_more_time_until_its_hook_ends() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("membership.json");
    let config = dir.path().join("rollcall.toml");
    std::fs::write(
        &config,
        format!(
            "refresh = \"200ms\"\nself = \"i-df71a7b6\"\n\
             [source]\nkind = \"file\"\npath = \"{fleet}\"\n\
             [policy]\nplugin = \"{plugin}\"\n\
             [[sink]]\nkind = \"file\"\npath = \"{output}\"\n\
             [lifecycle]\nleave_on_stop = true\non_leave = [\"/bin/sh\", \"-c\", \"sleep 2\"]\n",
            fleet = seed_fleet().display(),
            plugin = ELASTIC_GRID,
            output = output.display(),
        ),
    )
    .unwrap();
    let mut socket = NotifySocket::bind(dir.path(), &output);
    let cache = dir.path().join("cache");
    let mut daemon = Daemon::launch([
        "--config",
        config.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
    ])
    .envs(&[("NOTIFY_SOCKET", socket.path())])
    .start();
    eventually(WAIT, "READY=1", || socket.with("READY=1").pop());

    let stopped = Instant::now();
    let (code, _) = daemon.terminate_within(WAIT);
    assert_eq!(code, Some(0), "{}", daemon.stderr());
    assert!(
        stopped.elapsed() >= Duration::from_secs(2),
        "the daemon waited for its on_leave hook"
    );
    let received = socket.finish();
    let stopping: Vec<&str> = received
        .iter()
        .map(|datagram| datagram.text.as_str())
        .skip_while(|text| !text.starts_with("STOPPING=1"))
        .collect();
    assert!(
        stopping.iter().any(|text| text
            .lines()
            .any(|line| line == "EXTEND_TIMEOUT_USEC=30000000")),
        "after STOPPING=1, systemd is asked for 30 s more: {received:?}"
    );
}

/// `systemd-analyze`, which must be installed (scripts/test installs the
/// `systemd` package when it is missing).
fn systemd_analyze() -> Command {
    let found = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(
        found,
        "systemd-analyze is missing: install the systemd package \
         (scripts/test does: apt-get install systemd)"
    );
    Command::new("systemd-analyze")
}

/// The units in packaging/systemd, copied into `dir` with the binary just
/// built where they expect the installed one: verify checks that every
/// ExecStart= program exists.
fn units_in(dir: &Path) -> Vec<PathBuf> {
    let binary = env!("CARGO_BIN_EXE_rollcall");
    let mut units: Vec<PathBuf> = std::fs::read_dir(workspace().join("packaging/systemd"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "service"))
        .collect();
    units.sort();
    units
        .iter()
        .map(|unit| {
            let text = std::fs::read_to_string(unit).unwrap();
            let copy = dir.join(unit.file_name().unwrap());
            std::fs::write(&copy, text.replace(INSTALLED_BINARY, binary)).unwrap();
            copy
        })
        .collect()
}

#[test]
fn the_units_pass_systemd_analyze_verify_without_a_word() {
    let dir = tempfile::tempdir().unwrap();
    let units = units_in(dir.path());
    let names: Vec<_> = units
        .iter()
        .map(|unit| unit.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "fleet-app.service",
            "rollcall-boot.service",
            "rollcall.service"
        ]
    );
    let output = systemd_analyze()
        .args(["verify", "--man=no"])
        .args(&units)
        .output()
        .expect("systemd-analyze runs");
    // verify only warns (exit 0) about unknown keys and bad values: any
    // word from it is a failure.
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && said.trim().is_empty(),
        "systemd-analyze verify ({}): {said}",
        output.status
    );

    // And it does catch a mistake.
    let broken = dir.path().join("broken.service");
    let text = std::fs::read_to_string(&units[2]).unwrap();
    std::fs::write(&broken, text.replace("Type=notify", "Typo=notify")).unwrap();
    let output = systemd_analyze()
        .args(["verify", "--man=no"])
        .arg(&broken)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("Unknown key 'Typo'"),
        "{output:?}"
    );
}

#[test]
fn the_units_say_what_the_boot_image_relies_on() {
    let read = |name: &str| {
        let text =
            std::fs::read_to_string(workspace().join("packaging/systemd").join(name)).unwrap();
        // Settings only, continuation lines joined.
        text.replace("\\\n", " ")
            .lines()
            .filter(|line| !line.starts_with('#') && line.contains('='))
            .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
    };
    let daemon = read("rollcall.service");
    for setting in [
        "Type=notify",
        "WatchdogSec=60s",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service",
        "CacheDirectory=rollcall",
        "RuntimeDirectory=rollcall",
        "Environment=ROLLCALL_CACHE_DIR=/var/cache/rollcall",
        "User=rollcall",
    ] {
        assert!(
            daemon.iter().any(|line| line == setting),
            "rollcall.service lacks {setting}"
        );
    }
    for unit in [&daemon, &read("rollcall-boot.service")] {
        assert!(
            !unit
                .iter()
                .any(|line| line.starts_with("MemoryDenyWriteExecute")),
            "wasmtime needs mprotect(PROT_EXEC)"
        );
    }
    let boot = read("rollcall-boot.service");
    for setting in [
        "Type=oneshot",
        "RemainAfterExit=yes",
        "Wants=network-online.target",
        "After=network-online.target",
        "Before=fleet-app.service",
        "TimeoutStartSec=8min",
    ] {
        assert!(
            boot.iter().any(|line| line == setting),
            "rollcall-boot.service lacks {setting}"
        );
    }
    let start = boot
        .iter()
        .find(|line| line.starts_with("ExecStart="))
        .unwrap();
    for flag in [
        "resolve",
        "--wait-for",
        "--wait-timeout",
        "--output /run/rollcall/membership.env",
        "--format env",
    ] {
        assert!(start.contains(flag), "{start} lacks {flag}");
    }
}

/// The `content: |` block of the `write_files` entry for `path` in the
/// cloud-init user data, unindented.
fn written_by_cloud_init(user_data: &str, path: &str) -> String {
    let mut lines = user_data
        .lines()
        .skip_while(|line| line.trim() != format!("- path: {path}"))
        .skip_while(|line| line.trim() != "content: |")
        .skip(1);
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("no content for {path}"));
    let indent = first.len() - first.trim_start().len();
    std::iter::once(first)
        .chain(lines.take_while(|line| {
            line.trim().is_empty() || line.len() - line.trim_start().len() >= indent
        }))
        .map(|line| line.get(indent..).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_user_data_configures_what_the_image_installed() {
    use rollcall::settings::{Config, SinkConfig, SourceSettings, WatchSettings};
    let packaging = workspace().join("packaging");
    let user_data = std::fs::read_to_string(packaging.join("cloud-init/user-data.yaml")).unwrap();
    assert!(user_data.starts_with("#cloud-config\n"));
    let install = std::fs::read_to_string(packaging.join("packer/install.sh")).unwrap();
    let daemon = std::fs::read_to_string(packaging.join("systemd/rollcall.service")).unwrap();
    let boot = std::fs::read_to_string(packaging.join("systemd/rollcall-boot.service")).unwrap();

    // The daemon's configuration: valid, the plugin the image installed,
    // sinks only where the sandbox lets it write.
    let path = Path::new("/etc/rollcall/rollcall.toml");
    assert!(daemon.contains(&format!("--config {}", path.display())));
    let text = written_by_cloud_init(&user_data, "/etc/rollcall/rollcall.toml");
    let settings = Config::parse(path, &text)
        .and_then(|config| WatchSettings::from_file(&config, path))
        .unwrap_or_else(|err| panic!("{err}: {text}"));
    assert!(matches!(settings.source, SourceSettings::Ec2 { .. }));
    let plugin = settings.plugin.to_str().unwrap();
    assert_eq!(plugin, "/usr/local/lib/rollcall/policy.wasm");
    assert!(install.contains(plugin) && boot.contains(plugin));
    for sink in &settings.sinks {
        if let SinkConfig::File { path, .. } = sink {
            assert!(path.starts_with("/run/rollcall"), "{}", path.display());
        }
    }

    // The policy's settings are JSON, and both units read them.
    let policy = written_by_cloud_init(&user_data, "/etc/rollcall/policy.json");
    serde_json::from_str::<serde_json::Value>(&policy).unwrap();
    assert!(boot.contains("@/etc/rollcall/policy.json"));
    assert_eq!(
        settings.plugin_settings.path(),
        Some(Path::new("/etc/rollcall/policy.json"))
    );

    // What the boot unit waits for.
    let boot_env = written_by_cloud_init(&user_data, "/etc/rollcall/boot.env");
    assert!(boot_env.contains("ROLLCALL_WAIT_FOR=role=monitor>=1"));
    assert!(boot.contains("EnvironmentFile=-/etc/rollcall/boot.env"));

    // The image compiles into the cache the units use, as their user.
    assert!(install.contains(
        "runuser -u rollcall -- /usr/local/bin/rollcall plugin compile \\\n    \
         /usr/local/lib/rollcall/policy.wasm --cache-dir /var/cache/rollcall"
    ));
    let syntax = Command::new("sh")
        .arg("-n")
        .arg(packaging.join("packer/install.sh"))
        .status()
        .unwrap();
    assert!(syntax.success(), "install.sh is not valid sh");
}
