//! Paths as the daemon watches and shows them: absolute, with `.` and `..`
//! resolved through the real directories, and the file name kept as written,
//! so that a symlinked plugin stays the link and a swap of its target is seen.

use std::path::{Path, PathBuf};

/// `path` made absolute with its directory canonicalized (symlinks and `..`
/// resolved); the last component is kept, even if it is a symlink. When the
/// directory cannot be resolved (it does not exist yet), the absolute path
/// as given: reading it will say what is wrong.
pub fn normalised(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let (Some(directory), Some(name)) = (absolute.parent(), absolute.file_name()) else {
        // `/`, or a path ending in `..`: a directory, resolved whole.
        return std::fs::canonicalize(&absolute).unwrap_or(absolute);
    };
    match std::fs::canonicalize(directory) {
        Ok(directory) => directory.join(name),
        Err(_) => absolute,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_dot_is_resolved_and_a_symlinked_file_stays_the_link() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir(root.join("etc")).unwrap();
        std::fs::create_dir(root.join("plugins")).unwrap();
        std::fs::write(root.join("plugins/v1.wasm"), "one").unwrap();
        std::os::unix::fs::symlink("v1.wasm", root.join("plugins/current.wasm")).unwrap();
        std::os::unix::fs::symlink(root.join("plugins"), root.join("linked")).unwrap();

        let given = root.join("etc/../plugins/current.wasm");
        assert_eq!(normalised(&given), root.join("plugins/current.wasm"));
        let through_link = root.join("linked/./current.wasm");
        assert_eq!(normalised(&through_link), root.join("plugins/current.wasm"));
        let missing = root.join("nowhere/../x/p.wasm");
        assert_eq!(normalised(&missing), missing, "kept when unresolvable");
        assert_eq!(normalised(&root.join("etc/..")), root);
    }
}
