//! End to end: the files rollcall writes (`resolve --output`, `plugin test
//! --update`). A device, a FIFO or a link to one is written through, never
//! replaced; a link to a regular file stays a link; a new file is 0666 less
//! the umask and a replaced one keeps its mode; an `--output` that cannot
//! be written is found before a `--wait-for` wait.

use kit::plugins::ELASTIC_GRID;
use kit::{rollcall, rollcall_command, run_within, seed_fleet};
use std::os::unix::fs::{FileTypeExt, PermissionsExt, symlink};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const AGENT: &str = "i-df71a7b6";

/// `resolve` on the seed fleet for the agent, in env format, to `output`.
fn resolve_to(output: &Path, extra: &[&str]) -> kit::Run {
    resolve_after(None, output, extra)
}

/// `resolve` of the seed fleet's agent, as env into `output`, with `extra`
/// flags; with `setup` (an umask, a redirection) run by its shell first.
fn resolve_after(setup: Option<&str>, output: &Path, extra: &[&str]) -> kit::Run {
    let mut command = rollcall_command(setup);
    command
        .args(["resolve", "--self", AGENT, "--format", "env"])
        .arg("--inventory")
        .arg(seed_fleet())
        .arg("--plugin")
        .arg(ELASTIC_GRID)
        .arg("--output")
        .arg(output)
        .args(extra);
    run_within(kit::RUN_LIMIT, command)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn is_link(path: &Path) -> bool {
    std::fs::symlink_metadata(path)
        .unwrap()
        .file_type()
        .is_symlink()
}

#[test]
fn a_link_to_stdout_is_written_through_and_stays_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("stdout");
    symlink("/dev/stdout", &link).unwrap();
    let run = resolve_to(&link, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("ROLLCALL_ROLE='agent'"),
        "the answer went through to stdout: {:?}",
        run.stdout
    );
    assert!(is_link(&link), "the link was replaced by a file");
}

/// As under systemd's `StandardOutput=append:FILE`: the answer joins the
/// file stdout is, which is neither reopened nor replaced.
#[test]
fn a_link_to_stdout_appends_to_the_log_file_stdout_is() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("rollcall.log");
    std::fs::write(&log, "earlier line\n").unwrap();
    let inode = std::fs::metadata(&log).unwrap().ino();
    let link = dir.path().join("stdout");
    symlink("/dev/stdout", &link).unwrap();
    let setup = format!("exec >>'{}';", log.display());
    let run = resolve_after(Some(&setup), &link, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(is_link(&link), "the link was replaced by a file");
    let written = std::fs::read_to_string(&log).unwrap();
    assert!(written.starts_with("earlier line\n"), "{written}");
    assert!(written.contains("ROLLCALL_ROLE='agent'"), "{written}");
    assert_eq!(std::fs::metadata(&log).unwrap().ino(), inode, "replaced");
}

#[test]
fn a_link_to_a_device_is_written_through_and_stays_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("null");
    symlink("/dev/null", &link).unwrap();
    let run = resolve_to(&link, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(is_link(&link), "the link was replaced by a file");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_fifo_is_written_through_to_its_reader() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("membership.env");
    kit::make_fifo(&fifo);
    let mut reader = Command::new("cat")
        .arg(&fifo)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let run = resolve_to(&fifo, &[]);
    let file_type = std::fs::symlink_metadata(&fifo).unwrap().file_type();
    if !file_type.is_fifo() {
        // The reader waits on the FIFO that was replaced: nothing will come.
        let _ = reader.kill();
    }
    let read = reader.wait_with_output().unwrap();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(file_type.is_fifo(), "the FIFO was replaced by a file");
    let read = String::from_utf8_lossy(&read.stdout);
    assert!(read.contains("ROLLCALL_ROLE='agent'"), "{read:?}");
}

#[test]
fn a_link_to_a_regular_file_stays_a_link_and_the_file_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("real.env");
    let link = dir.path().join("membership.env");
    std::fs::write(&file, "old\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    symlink(&file, &link).unwrap();
    let run = resolve_to(&link, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(is_link(&link), "the link was replaced by a file");
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(written.contains("ROLLCALL_ROLE='agent'"), "{written}");
    assert_eq!(mode(&file), 0o644);
}

#[test]
fn a_new_file_is_0666_less_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    for (umask, expected) in [("022", 0o644), ("027", 0o640), ("002", 0o664)] {
        let output = dir.path().join(format!("membership-{umask}.env"));
        let run = resolve_after(Some(&format!("umask {umask};")), &output, &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(
            mode(&output),
            expected,
            "umask {umask}: {:o}",
            mode(&output)
        );
    }
}

#[test]
fn a_replaced_file_keeps_its_mode() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("membership.env");
    for kept in [0o644, 0o444, 0o640] {
        std::fs::write(&output, "old\n").unwrap();
        std::fs::set_permissions(&output, std::fs::Permissions::from_mode(kept)).unwrap();
        let run = resolve_to(&output, &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_ne!(std::fs::read_to_string(&output).unwrap(), "old\n");
        assert_eq!(mode(&output), kept, "{kept:o} became {:o}", mode(&output));
    }
}

#[test]
fn plugin_test_update_keeps_a_read_only_cases_file_read_only() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(seed_fleet(), dir.path().join("seed-fleet.json")).unwrap();
    let cases = dir.path().join("cases.toml");
    std::fs::write(
        &cases,
        "inventory = \"seed-fleet.json\"\n\n[[case]]\nname = \"agent\"\nself = \"i-df71a7b6\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&cases, std::fs::Permissions::from_mode(0o444)).unwrap();
    let run = rollcall([
        "plugin".as_ref(),
        "test".as_ref(),
        Path::new(ELASTIC_GRID).as_os_str(),
        cases.as_os_str(),
        "--update".as_ref(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        std::fs::read_to_string(&cases)
            .unwrap()
            .contains("role = \"agent\"")
    );
    assert_eq!(mode(&cases), 0o444, "became {:o}", mode(&cases));
}

#[test]
fn an_output_that_cannot_be_written_is_refused_before_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let nowhere = dir.path().join("missing/membership.env");
    let started = Instant::now();
    // A condition the seed fleet never meets: the old code waited it out.
    let run = resolve_to(
        &nowhere,
        &["--wait-for", "role=monitor>=5", "--wait-timeout", "30s"],
    );
    run.fails_with(
        2,
        &[&format!(
            "cannot write {}: cannot create a file in {}: No such file or directory",
            nowhere.display(),
            dir.path().join("missing").display()
        )],
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "found after {:?}",
        started.elapsed()
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}
