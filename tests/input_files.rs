//! End to end: the files the operator names (a plugin, a cases file) are
//! read under a cap, and what is not a regular file (a device, a FIFO, a
//! directory) is refused unread with an error naming the file.

mod common;

use common::{plugin, rollcall, rollcall_within, seed_fleet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// How long a refusal may take: reading `/dev/zero` to a cap takes longer.
const REFUSED_WITHIN: Duration = Duration::from_secs(20);

fn check_plugin(path: &Path) -> common::Run {
    rollcall_within(
        REFUSED_WITHIN,
        ["plugin".as_ref(), "check".as_ref(), path.as_os_str()],
        &[],
    )
}

fn fifo_in(dir: &Path) -> std::path::PathBuf {
    let fifo = dir.join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
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
    let grid = plugin("elastic_grid");
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
