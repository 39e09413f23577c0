//! Builds the Rust plugins the tests run (the policies and the test plugins
//! under tests/plugins/) for `wasm32-wasip2`, with a cargo of its own, and
//! writes their paths as constants into `$OUT_DIR/plugins.rs`.
//!
//! The inner cargo has a target directory of its own, `rollcall-test-kit/`
//! in the outer one (beside `debug/`, `release/`, ...): it never waits for a
//! lock the outer build holds, and one copy of the plugins serves every
//! profile and host target the tests are built for. It runs again only when
//! a plugin's, the SDK's or the WIT's sources change, and then rebuilds only
//! what changed.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const TARGET: &str = "wasm32-wasip2";

/// The packages built, as `cargo build -p` names them.
const PACKAGES: [&str; 5] = [
    "elastic-grid",
    "tag-roles",
    "misbehaving",
    "foreign-world",
    "legacy-policy",
];

/// What the plugins are made of, relative to the workspace root.
const SOURCES: [&str; 7] = [
    "plugins/policy-sdk",
    "plugins/elastic-grid",
    "plugins/tag-roles",
    "tests/plugins",
    "wit",
    "Cargo.toml",
    "Cargo.lock",
];

fn main() {
    let workspace = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"))
        .join("../..")
        .canonicalize()
        .expect("the kit lives in the workspace");
    for source in SOURCES {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(source).display()
        );
    }
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    let target_dir = target_dir_beside(&out_dir);
    require_target();

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(workspace.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .args(PACKAGES.iter().flat_map(|package| ["-p", package]))
        // Settings the outer build gives its build scripts that are not the
        // plugins' own: its flags and target, and clippy in place of rustc.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env("CARGO_BUILD_BUILD_DIR", &target_dir)
        // Whatever the inner cargo says is for people, not for the outer
        // cargo reading this script's stdout.
        .stdout(Stdio::from(std::io::stderr()))
        .stderr(Stdio::inherit());
    let status = command
        .status()
        .unwrap_or_else(|err| panic!("cannot run cargo ({command:?}): {err}"));
    assert!(
        status.success(),
        "building the test plugins failed ({status}): {command:?}"
    );

    let built = target_dir.join(TARGET).join("release");
    let mut constants = String::new();
    for package in PACKAGES {
        let artifact = built.join(format!("{}.wasm", package.replace('-', "_")));
        assert!(
            artifact.is_file(),
            "cargo built {package} but {} is missing",
            artifact.display()
        );
        writeln!(
            constants,
            "/// The `{package}` plugin, built for `{TARGET}`.\n\
             pub const {}: &str = {:?};",
            package.replace('-', "_").to_uppercase(),
            artifact.display().to_string()
        )
        .expect("a String takes writes");
    }
    std::fs::write(out_dir.join("plugins.rs"), constants).expect("OUT_DIR is writable");
}

/// `rollcall-test-kit/` in the outer target directory, where the scripts
/// look for it too (`KIT_PLUGINS` in scripts/lib/install.sh). `out_dir` is
/// `TARGET_DIR/[TRIPLE/]PROFILE/build/PACKAGE-HASH/out`; the triple is
/// there when the build names a target (`--target`). Under `out_dir` if
/// it is not laid out so.
fn target_dir_beside(out_dir: &Path) -> PathBuf {
    let Some(profile_parent) = out_dir.ancestors().nth(4) else {
        return out_dir.join("plugins");
    };
    let triple = env::var_os("TARGET");
    let root = match profile_parent.file_name() {
        Some(name) if Some(name) == triple.as_deref() => profile_parent.parent(),
        _ => Some(profile_parent),
    };
    root.map_or_else(
        || out_dir.join("plugins"),
        |root| root.join("rollcall-test-kit"),
    )
}

/// Fails the build with the command that fixes it when the toolchain lacks
/// the standard library for [`TARGET`].
fn require_target() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned());
    if let Some(sysroot) = sysroot {
        let library = Path::new(&sysroot).join("lib/rustlib").join(TARGET);
        assert!(
            library.is_dir(),
            "the tests' plugins are built for {TARGET}, which this toolchain lacks: \
             run `rustup target add {TARGET}`"
        );
    }
}
