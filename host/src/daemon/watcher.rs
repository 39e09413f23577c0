//! File watching: turns changes to the files the daemon depends on into
//! signals. It watches each file's directory, not the file, so that editors
//! and deploy tools that write a temporary file and rename it, or swap a
//! symlink (`current -> v2.wasm`), are seen too; a symlink's target is
//! watched as well. Paths are [`crate::paths::normalised`] first: watches
//! and events name a directory by its real path, never through `..`.

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// What a changed file asks of the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Signal {
    /// The inventory file changed: fetch again.
    Refresh,
    /// The policy, its settings or the configuration changed: reload.
    Reload,
}

/// Keeps the OS watches alive; dropping it stops watching.
pub struct FileWatcher {
    _watcher: RecommendedWatcher,
}

/// Watches `files`, sending each one's signal on `signals` when it changes.
pub fn watch(
    files: &[(PathBuf, Signal)],
    signals: mpsc::Sender<Signal>,
) -> notify::Result<FileWatcher> {
    let mut targets: Vec<(PathBuf, Signal)> = Vec::new();
    for (path, signal) in files {
        let path = crate::paths::normalised(path);
        if let Ok(resolved) = std::fs::canonicalize(&path)
            && resolved != path
        {
            targets.push((resolved, *signal));
        }
        targets.push((path, *signal));
    }
    let directories: BTreeSet<PathBuf> = targets
        .iter()
        .filter_map(|(path, _)| path.parent().map(Path::to_owned))
        .collect();

    let matching = targets.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if event.kind.is_access() {
            return;
        }
        for (target, signal) in &matching {
            if event.paths.iter().any(|path| path == target) {
                // A full queue already holds a signal: nothing is lost.
                let _ = signals.try_send(*signal);
            }
        }
    })?;
    for directory in &directories {
        watcher.watch(directory, RecursiveMode::NonRecursive)?;
    }
    tracing::debug!(files = ?targets, "Watching files.");
    Ok(FileWatcher { _watcher: watcher })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn next(receiver: &mut mpsc::Receiver<Signal>) -> Option<Signal> {
        tokio::time::timeout(Duration::from_secs(5), receiver.recv())
            .await
            .ok()
            .flatten()
    }

    #[tokio::test]
    async fn a_rename_into_place_and_a_symlink_swap_are_seen() {
        let dir = tempfile::tempdir().unwrap();
        let plugin = dir.path().join("current.wasm");
        std::fs::write(dir.path().join("v1.wasm"), "one").unwrap();
        std::os::unix::fs::symlink("v1.wasm", &plugin).unwrap();
        let fleet = dir.path().join("fleet.json");
        std::fs::write(&fleet, "{}").unwrap();
        let (sender, mut receiver) = mpsc::channel(16);
        let _watcher = watch(
            &[
                (plugin.clone(), Signal::Reload),
                (fleet.clone(), Signal::Refresh),
            ],
            sender,
        )
        .unwrap();

        // Write a temporary file, rename it over the inventory.
        let temporary = dir.path().join(".fleet.json.tmp");
        std::fs::write(&temporary, "{\"Reservations\": []}").unwrap();
        std::fs::rename(&temporary, &fleet).unwrap();
        assert_eq!(next(&mut receiver).await, Some(Signal::Refresh));
        while receiver.try_recv().is_ok() {}

        // Swap the symlink: ln -s v2.wasm tmp && mv tmp current.wasm
        std::fs::write(dir.path().join("v2.wasm"), "two").unwrap();
        let link = dir.path().join("current.tmp");
        std::os::unix::fs::symlink("v2.wasm", &link).unwrap();
        std::fs::rename(&link, &plugin).unwrap();
        // Late events of the inventory's rename may still come first.
        let mut signal = next(&mut receiver).await;
        while signal == Some(Signal::Refresh) {
            signal = next(&mut receiver).await;
        }
        assert_eq!(signal, Some(Signal::Reload));
    }

    #[tokio::test]
    async fn other_files_in_the_directory_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let plugin = dir.path().join("policy.wasm");
        std::fs::write(&plugin, "one").unwrap();
        let (sender, mut receiver) = mpsc::channel(16);
        let _watcher = watch(&[(plugin.clone(), Signal::Reload)], sender).unwrap();
        std::fs::write(dir.path().join("unrelated.txt"), "x").unwrap();
        let quiet = tokio::time::timeout(Duration::from_millis(300), receiver.recv()).await;
        assert!(quiet.is_err(), "no signal for an unrelated file");
        std::fs::write(&plugin, "two").unwrap();
        assert_eq!(next(&mut receiver).await, Some(Signal::Reload));
    }
}
