//! The plugins the tests run. The Rust ones are built by this crate's build
//! script, so a test names them by constant; the Python and JavaScript ones
//! are built by `scripts/plugins`, and a test that needs one fails, naming
//! that command, when it is missing.

use std::path::PathBuf;

include!(concat!(env!("OUT_DIR"), "/plugins.rs"));

/// The Elastic Grid policy in Python (componentize-py).
pub fn elastic_grid_py() -> PathBuf {
    built_by_scripts("elastic_grid_py", "python")
}

/// The Elastic Grid policy in JavaScript (jco).
pub fn elastic_grid_js() -> PathBuf {
    built_by_scripts("elastic_grid_js", "js")
}

/// `NAME.wasm` where `scripts/plugins LANGUAGE` puts it.
fn built_by_scripts(name: &str, language: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace().join("target"));
    let path = target.join(format!("wasm32-wasip2/release/{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: build it with `{} {language}` \
         (with the same CARGO_TARGET_DIR, if one is set)",
        path.display(),
        crate::workspace().join("scripts/plugins").display()
    );
    path
}
