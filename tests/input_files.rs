//! End to end: the files the operator names (a plugin, a cases file) are
//! read under a cap, and what is not a regular file (a device, a FIFO, a
//! directory) is refused unread with an error naming the file; an endless
//! inventory stream costs the cap's worth of memory, not twice it.

use kit::plugins::ELASTIC_GRID;
use kit::{rollcall, rollcall_command, rollcall_within, seed_fleet};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// How long a refusal may take: reading `/dev/zero` to a cap takes longer.
const REFUSED_WITHIN: Duration = Duration::from_secs(20);

fn check_plugin(path: &Path) -> kit::Run {
    rollcall_within(
        REFUSED_WITHIN,
        ["plugin".as_ref(), "check".as_ref(), path.as_os_str()],
        &[],
    )
}

fn fifo_in(dir: &Path) -> std::path::PathBuf {
    let fifo = dir.join("fifo");
    kit::make_fifo(&fifo);
    fifo
}

#[test]
fn plugin_check_refuses_a_device_a_fifo_and_a_directory_unread() {
    check_plugin(Path::new("/dev/zero")).fails_with(
        2,
        &["cannot read policy /dev/zero: it is a character device, not a regular file"],
    );
    let dir = tempfile::tempdir().unwrap();
    let fifo = fifo_in(dir.path());
    check_plugin(&fifo).fails_with(
        2,
        &[&format!(
            "cannot read policy {}: it is a FIFO, not a regular file",
            fifo.display()
        )],
    );
    check_plugin(dir.path()).fails_with(
        2,
        &[&format!(
            "cannot read policy {}: it is a directory, not a regular file",
            dir.path().display()
        )],
    );
}

#[test]
fn a_plugin_file_past_the_cap_is_refused_by_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.wasm");
    // Sparse: 257 MiB that take no disk and, refused by size, no memory.
    std::fs::File::create(&big)
        .unwrap()
        .set_len(257 << 20)
        .unwrap();
    check_plugin(&big).fails_with(
        2,
        &[&format!(
            "cannot read policy {}: the plugin file is 269484032 bytes, more than the 256 MiB \
             a plugin may be",
            big.display()
        )],
    );
    let run = rollcall([
        "resolve".as_ref(),
        "--inventory".as_ref(),
        seed_fleet().as_os_str(),
        "--plugin".as_ref(),
        big.as_os_str(),
    ]);
    run.fails_with(2, &["more than the 256 MiB a plugin may be"]);
}

#[test]
fn plugin_test_refuses_a_cases_file_that_is_a_device_or_a_fifo() {
    let grid = Path::new(ELASTIC_GRID);
    let test = |cases: &Path| {
        rollcall_within(
            REFUSED_WITHIN,
            [
                "plugin".as_ref(),
                "test".as_ref(),
                grid.as_os_str(),
                cases.as_os_str(),
            ],
            &[],
        )
    };
    test(Path::new("/dev/zero")).fails_with(
        2,
        &["cannot read /dev/zero: it is a character device, not a regular file"],
    );
    let dir = tempfile::tempdir().unwrap();
    let fifo = fifo_in(dir.path());
    test(&fifo).fails_with(
        2,
        &[&format!(
            "cannot read {}: it is a FIFO, not a regular file",
            fifo.display()
        )],
    );
}

/// The most `resolve --inventory /dev/zero` may hold at once: the 1 GiB cap
/// and a quarter for the rest (the process itself is under 100 MB). The
/// read buffer doubling for the cap's last byte peaked at 2.6 GB.
const ENDLESS_INVENTORY_PEAK_KIB: u64 = (1 << 20) + (1 << 18);

#[test]
fn an_endless_inventory_stream_holds_no_more_than_the_cap_in_memory() {
    let mut child = rollcall_command(None)
        .args([
            "resolve",
            "--inventory",
            "/dev/zero",
            "--no-cache",
            "--plugin",
        ])
        .arg(Path::new(ELASTIC_GRID))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let (started, mut peak_kib) = (Instant::now(), 0);
    while child.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(120), "no end");
        // VmHWM is the high-water mark: the last reading is the peak.
        let high_water = std::fs::read_to_string(&status_file)
            .ok()
            .and_then(|status| {
                let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
                line.split_whitespace().nth(1)?.parse::<u64>().ok()
            });
        peak_kib = peak_kib.max(high_water.unwrap_or(0));
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains("the inventory is larger than the 1 GiB an inventory may be"),
        "{stderr}"
    );
    assert!(
        peak_kib > 1 << 20 && peak_kib < ENDLESS_INVENTORY_PEAK_KIB,
        "peak {peak_kib} KiB"
    );
}
