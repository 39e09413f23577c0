//! End to end: policies compiled ahead of time (`rollcall plugin compile`)
//! and the compiled-policy cache: reused when trustworthy and compatible,
//! ignored (and recompiled) otherwise, never at the cost of an answer.

use kit::plugins::ELASTIC_GRID;
use kit::{ids, rollcall_in, seed_fleet};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn resolve_with_cache(cache: &Path, extra: &[&str]) -> kit::Run {
    let fleet = seed_fleet();
    let elastic_grid = Path::new(ELASTIC_GRID);
    let mut args = vec![
        "resolve",
        "--inventory",
        fleet.to_str().unwrap(),
        "--plugin",
        elastic_grid.to_str().unwrap(),
        "--self",
        "i-df71a7b6",
        "--cache-dir",
        cache.to_str().unwrap(),
        "-vv",
    ];
    args.extend_from_slice(extra);
    rollcall_in(args, &[])
}

fn entries(cache: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(cache)
        .map(|entries| entries.flatten().map(|entry| entry.path()).collect())
        .unwrap_or_default()
}

#[test]
fn a_precompiled_policy_is_used_and_gives_the_same_answer() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let compiled = rollcall_in(
        [
            "plugin",
            "compile",
            ELASTIC_GRID,
            "--cache-dir",
            cache.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(compiled.code, 0, "{}", compiled.stderr);
    let entry = compiled.stdout.trim();
    assert!(
        entry.ends_with(".cwasm") && Path::new(entry).exists(),
        "{entry}"
    );
    let mode = std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "only rollcall's user may write the cache");

    let run = resolve_with_cache(&cache, &[]);
    assert!(
        run.stderr
            .contains("Compiled policy loaded from the cache."),
        "{}",
        run.stderr
    );
    let uncached = resolve_with_cache(&cache, &["--no-cache"]);
    assert!(!uncached.stderr.contains("from the cache"));
    assert_eq!(
        run.json()["register_with"],
        uncached.json()["register_with"]
    );
    assert_eq!(ids(&run.json(), "register_with"), ["i-2271a74b"]);
}

#[test]
fn resolve_fills_the_cache_itself() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let first = resolve_with_cache(&cache, &[]);
    assert!(
        first.stderr.contains("Compiled policy cached."),
        "{}",
        first.stderr
    );
    assert_eq!(entries(&cache).len(), 1);
    let second = resolve_with_cache(&cache, &[]);
    assert!(
        second.stderr.contains("loaded from the cache"),
        "{}",
        second.stderr
    );
    assert_eq!(first.json()["members"], second.json()["members"]);
}

#[test]
fn foreign_corrupt_or_exposed_caches_are_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    resolve_with_cache(&cache, &[]).json();
    let entry = entries(&cache).remove(0);

    // Another file under the entry's name (not written by rollcall): ignored.
    std::fs::write(&entry, b"\x7fELF not ours").unwrap();
    let run = resolve_with_cache(&cache, &[]);
    assert!(
        run.stderr
            .contains("Not a compiled policy of this rollcall"),
        "{}",
        run.stderr
    );
    assert_eq!(ids(&run.json(), "register_with"), ["i-2271a74b"]);

    // Our header, but code from nowhere: wasmtime refuses it, we compile.
    let mut bytes = std::fs::read(&entry).unwrap();
    let code_starts = bytes.len() - 16;
    bytes.truncate(code_starts);
    let header_end = bytes
        .iter()
        .enumerate()
        .filter(|(_, byte)| **byte == b'\n')
        .nth(2)
        .unwrap()
        .0
        + 1;
    bytes.truncate(header_end);
    bytes.extend_from_slice(b"\0not machine code at all");
    std::fs::write(&entry, &bytes).unwrap();
    let run = resolve_with_cache(&cache, &[]);
    assert!(
        run.stderr.contains("Compiled policy unusable"),
        "{}",
        run.stderr
    );
    assert_eq!(ids(&run.json(), "register_with"), ["i-2271a74b"]);

    // A cache others may write to is never read.
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let run = resolve_with_cache(&cache, &[]);
    assert!(run.stderr.contains("writable by others"), "{}", run.stderr);
    assert_eq!(ids(&run.json(), "register_with"), ["i-2271a74b"]);
}
