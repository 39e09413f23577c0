//! `rollcall plugin new`: a ready policy project in Rust, Python or
//! JavaScript. Each holds a small working policy (roles from security
//! groups, self registers with every monitor), a `build` script that writes
//! `NAME.wasm`, `tests/cases.toml` that the policy passes as generated, and
//! the SDK and WIT of this rollcall, so that what it builds is what this
//! rollcall runs.

use std::fmt;
use std::path::{Path, PathBuf};

/// The languages a project can be made in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    Rust,
    Python,
    Js,
}

impl Language {
    /// Its name in the project's README.
    fn title(self) -> &'static str {
        match self {
            Language::Rust => "Rust",
            Language::Python => "Python",
            Language::Js => "JavaScript",
        }
    }
}

/// One file of a project: where, what, and whether it runs.
struct File {
    path: &'static str,
    text: &'static str,
    executable: bool,
}

const fn file(path: &'static str, text: &'static str) -> File {
    File {
        path,
        text,
        executable: false,
    }
}

const fn script(path: &'static str, text: &'static str) -> File {
    File {
        path,
        text,
        executable: true,
    }
}

/// What every project has.
const COMMON: &[File] = &[
    file("wit/policy.wit", include_str!("../../../wit/policy.wit")),
    file(
        "tests/cases.toml",
        include_str!("templates/common/cases.toml"),
    ),
    file(
        "tests/fleet.json",
        include_str!("../../../examples/seed-fleet.json"),
    ),
    file("README.md", include_str!("templates/common/README.md")),
];

const RUST: &[File] = &[
    file("Cargo.toml", include_str!("templates/rust/Cargo.toml")),
    file("src/lib.rs", include_str!("templates/rust/lib.rs")),
    script("build", include_str!("templates/rust/build")),
    file(".gitignore", include_str!("templates/rust/gitignore")),
    file(
        "sdk/rust/Cargo.toml",
        include_str!("templates/rust/sdk-Cargo.toml"),
    ),
    file(
        "sdk/rust/src/lib.rs",
        include_str!("../../../plugins/policy-sdk/src/lib.rs"),
    ),
    file(
        "sdk/rust/src/address.rs",
        include_str!("../../../plugins/policy-sdk/src/address.rs"),
    ),
    file(
        "sdk/rust/src/answer.rs",
        include_str!("../../../plugins/policy-sdk/src/answer.rs"),
    ),
    file(
        "sdk/rust/src/fleet.rs",
        include_str!("../../../plugins/policy-sdk/src/fleet.rs"),
    ),
    file(
        "sdk/rust/src/panic.rs",
        include_str!("../../../plugins/policy-sdk/src/panic.rs"),
    ),
    file(
        "sdk/rust/src/policy.rs",
        include_str!("../../../plugins/policy-sdk/src/policy.rs"),
    ),
    file(
        "sdk/rust/src/records.rs",
        include_str!("../../../plugins/policy-sdk/src/records.rs"),
    ),
    file(
        "sdk/rust/src/settings.rs",
        include_str!("../../../plugins/policy-sdk/src/settings.rs"),
    ),
];

const PYTHON: &[File] = &[
    file("app.py", include_str!("templates/python/app.py")),
    script("build", include_str!("templates/python/build")),
    file(".gitignore", include_str!("templates/python/gitignore")),
    file(
        "requirements.txt",
        include_str!("../../../plugins/sdk-python/requirements.txt"),
    ),
    file(
        "rollcall_policy/__init__.py",
        include_str!("../../../plugins/sdk-python/rollcall_policy/__init__.py"),
    ),
    file(
        "rollcall_policy/address.py",
        include_str!("../../../plugins/sdk-python/rollcall_policy/address.py"),
    ),
    file(
        "rollcall_policy/answer.py",
        include_str!("../../../plugins/sdk-python/rollcall_policy/answer.py"),
    ),
    file(
        "rollcall_policy/fleet.py",
        include_str!("../../../plugins/sdk-python/rollcall_policy/fleet.py"),
    ),
    file(
        "rollcall_policy/records.py",
        include_str!("../../../plugins/sdk-python/rollcall_policy/records.py"),
    ),
    file(
        "rollcall_policy/settings.py",
        include_str!("../../../plugins/sdk-python/rollcall_policy/settings.py"),
    ),
    file(
        "rollcall_policy/world.py",
        include_str!("../../../plugins/sdk-python/rollcall_policy/world.py"),
    ),
];

const JS: &[File] = &[
    file("src/policy.js", include_str!("templates/js/policy.js")),
    script("build", include_str!("templates/js/build")),
    file(".gitignore", include_str!("templates/js/gitignore")),
    file("package.json", include_str!("templates/js/package.json")),
    file(
        "package-lock.json",
        include_str!("../../../plugins/sdk-js/package-lock.json"),
    ),
    file(
        "sdk/js/tools/componentize.js",
        include_str!("../../../plugins/sdk-js/tools/componentize.js"),
    ),
    file(
        "sdk/js/src/address.js",
        include_str!("../../../plugins/sdk-js/src/address.js"),
    ),
    file(
        "sdk/js/src/answer.js",
        include_str!("../../../plugins/sdk-js/src/answer.js"),
    ),
    file(
        "sdk/js/src/fleet.js",
        include_str!("../../../plugins/sdk-js/src/fleet.js"),
    ),
    file(
        "sdk/js/src/host.js",
        include_str!("../../../plugins/sdk-js/src/host.js"),
    ),
    file(
        "sdk/js/src/index.js",
        include_str!("../../../plugins/sdk-js/src/index.js"),
    ),
    file(
        "sdk/js/src/native.js",
        include_str!("../../../plugins/sdk-js/src/native.js"),
    ),
    file(
        "sdk/js/src/order.js",
        include_str!("../../../plugins/sdk-js/src/order.js"),
    ),
    file(
        "sdk/js/src/policy.js",
        include_str!("../../../plugins/sdk-js/src/policy.js"),
    ),
    file(
        "sdk/js/src/records.js",
        include_str!("../../../plugins/sdk-js/src/records.js"),
    ),
    file(
        "sdk/js/src/settings.js",
        include_str!("../../../plugins/sdk-js/src/settings.js"),
    ),
    file(
        "sdk/js/src/text.js",
        include_str!("../../../plugins/sdk-js/src/text.js"),
    ),
];

/// Why a project could not be made.
#[derive(Debug)]
pub enum ScaffoldError {
    /// The name cannot name a project (and a crate, a module, a file).
    Name(String),
    /// The directory is there already: nothing is overwritten.
    Exists(PathBuf),
    Write(PathBuf, std::io::Error),
}

impl fmt::Display for ScaffoldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScaffoldError::Name(name) => write!(
                f,
                "invalid project name {name:?}: use lower-case letters, digits and `-`, \
                 starting with a letter (e.g. `my-policy`)"
            ),
            ScaffoldError::Exists(path) => {
                write!(
                    f,
                    "{} exists already: choose another name or --dir",
                    path.display()
                )
            }
            ScaffoldError::Write(path, err) => write!(f, "cannot write {}: {err}", path.display()),
        }
    }
}

impl std::error::Error for ScaffoldError {}

/// Makes the project `name` in `language` under `parent`; returns its
/// directory.
pub fn create(name: &str, language: Language, parent: &Path) -> Result<PathBuf, ScaffoldError> {
    check_name(name)?;
    let root = parent.join(name);
    if root.exists() {
        return Err(ScaffoldError::Exists(root));
    }
    let files = match language {
        Language::Rust => RUST,
        Language::Python => PYTHON,
        Language::Js => JS,
    };
    for file in COMMON.iter().chain(files) {
        let path = root.join(file.path);
        let mut text = fill(file.text, name, language);
        if file.path == "package-lock.json" {
            // The SDK's lock, for this project: same packages, its name.
            text = text.replace(
                "\"name\": \"rollcall-policy\"",
                &format!("\"name\": \"{name}\""),
            );
        }
        write(&path, &text, file.executable).map_err(|err| ScaffoldError::Write(path, err))?;
    }
    Ok(root)
}

/// A project name: lower-case ASCII letters, digits and `-`, starting with
/// a letter, not ending with `-`.
fn check_name(name: &str) -> Result<(), ScaffoldError> {
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid && name.len() <= 64 {
        Ok(())
    } else {
        Err(ScaffoldError::Name(name.to_owned()))
    }
}

/// The template with its placeholders filled in.
fn fill(template: &str, name: &str, language: Language) -> String {
    let (source, needs) = match language {
        Language::Rust => (
            "`src/lib.rs`",
            "needs cargo; adds the `wasm32-wasip2` target",
        ),
        Language::Python => (
            "`app.py`",
            "needs Python 3 and pip; installs componentize-py into `.venv`",
        ),
        Language::Js => (
            "`src/policy.js`",
            "needs Node.js 20 and npm; installs componentize-js",
        ),
    };
    template
        .replace("{{name}}", name)
        .replace("{{crate}}", &name.replace('-', "_"))
        .replace("{{language}}", language.title())
        .replace("{{source}}", source)
        .replace("{{needs}}", needs)
}

fn write(path: &Path, text: &str, executable: bool) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text)?;
    if executable {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_name_a_crate_a_module_and_a_file() {
        for good in ["my-policy", "p", "roles2"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "My-Policy", "2roles", "my_policy", "my-", "../x", "a b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_project_is_written_whole_with_its_name_filled_in() {
        let parent = tempfile::tempdir().unwrap();
        for language in [Language::Rust, Language::Python, Language::Js] {
            let name = format!("demo-{language:?}").to_lowercase();
            let root = create(&name, language, parent.path()).unwrap();
            let build = std::fs::read_to_string(root.join("build")).unwrap();
            assert!(build.contains(&format!("{name}.wasm")), "{build}");
            assert!(!build.contains("{{"), "{build}");
            let mode = std::os::unix::fs::PermissionsExt::mode(
                &std::fs::metadata(root.join("build")).unwrap().permissions(),
            );
            assert_eq!(mode & 0o111, 0o111);
            let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
            assert_eq!(readme.lines().count(), 5, "{readme}");
            assert!(root.join("wit/policy.wit").exists());
            assert!(root.join("tests/fleet.json").exists());
        }
    }

    /// Every file of a project under `dir`, with its text.
    fn texts(dir: &Path, found: &mut Vec<(PathBuf, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                texts(&path, found);
            } else {
                let text = std::fs::read_to_string(&path).unwrap();
                found.push((path, text));
            }
        }
    }

    #[test]
    fn every_project_is_made_for_the_interface_plugins_are_built_for_now() {
        let version = crate::policy::INTERFACE
            .split_once('@')
            .map(|(_, version)| version)
            .unwrap();
        let parent = tempfile::tempdir().unwrap();
        for language in [Language::Rust, Language::Python, Language::Js] {
            let root = create(
                "pinned",
                language,
                &parent.path().join(format!("{language:?}")),
            )
            .unwrap();
            let mut files = Vec::new();
            texts(&root, &mut files);
            let mut pins = 0;
            for (path, text) in &files {
                for marker in ["rollcall:policy@", "rollcall:policy/host@"] {
                    for (at, _) in text.match_indices(marker) {
                        let rest = &text[at + marker.len()..];
                        if rest.starts_with(char::is_numeric) {
                            pins += 1;
                            assert!(
                                rest.starts_with(version),
                                "{} pins {}",
                                path.display(),
                                &rest[..rest.len().min(8)]
                            );
                        }
                    }
                }
            }
            assert!(pins > 0, "{language:?}: no file names the interface");
            let wit = std::fs::read_to_string(root.join("wit/policy.wit")).unwrap();
            assert!(wit.contains(&format!("package {};", crate::policy::INTERFACE)));
        }
        let sdk =
            std::fs::read_to_string(parent.path().join("Rust/pinned/sdk/rust/Cargo.toml")).unwrap();
        assert!(sdk.contains(&format!("version = \"{version}\"")), "{sdk}");
    }

    #[test]
    fn an_existing_directory_is_never_overwritten() {
        let parent = tempfile::tempdir().unwrap();
        std::fs::create_dir(parent.path().join("taken")).unwrap();
        assert!(matches!(
            create("taken", Language::Rust, parent.path()),
            Err(ScaffoldError::Exists(_))
        ));
    }
}
