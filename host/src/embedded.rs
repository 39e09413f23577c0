//! rollcall inside another program: the EC2 source as `resolve` opens it,
//! and the daemon of `rollcall watch` with a callback for a sink.

use crate::changes::ChangeEvent;
use crate::daemon::{Watch, WatchError};
use crate::inventory::{InventorySource, SourceError};
use crate::membership::Membership;
use crate::policy::CompiledCache;
use crate::settings::{
    Config, Ec2Settings, SelfChoice, SnapshotSettings, SourceSettings, WatchSettings,
};
use crate::sink::CallbackSink;
use crate::snapshot::Sharing;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

/// Opens the EC2 API as a fleet source, the way `rollcall resolve` does: the
/// region and credentials from the AWS default chain unless `settings` say
/// otherwise, every page of every region or an error, never part of a fleet.
/// With a `snapshot`, fetches read the fleet's shared snapshot
/// in S3 and list EC2 only when it is too old and this node wins the
/// refresh; `self_id` names this node as the snapshot's writer (without one
/// it only reads: readers believe a snapshot only from a running instance
/// of the fleet it lists).
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), rollcall::SourceError> {
/// use rollcall::{Ec2Settings, InventorySource};
///
/// let settings = Ec2Settings {
///     regions: vec!["eu-west-1".to_owned()],
///     ..Ec2Settings::default()
/// };
/// let source = rollcall::open_ec2(settings, None, None).await?;
/// let fleet = source.fetch().await?;
/// println!("{} instances", fleet.instances.len());
/// # Ok(())
/// # }
/// ```
pub async fn open_ec2(
    settings: Ec2Settings,
    snapshot: Option<SnapshotSettings>,
    self_id: Option<&str>,
) -> Result<Arc<dyn InventorySource>, SourceError> {
    let own = match self_id {
        Some(id) => SelfChoice::Given(id.to_owned()),
        None => SelfChoice::Nobody,
    };
    let source = SourceSettings::Ec2 {
        ec2: settings,
        snapshot,
    };
    source.open(Sharing::at_boot(own)).await
}

/// Runs the daemon of `rollcall watch --config CONFIG` inside this program
/// until `shutdown` completes: the same refreshes, stale marking, hot reload
/// of the policy and the file (a bad reload keeps the last good state), and
/// the sinks the file names. Besides them, `on_answer` is called with every
/// new answer and the changes that led to it, on a thread of its own: a slow
/// callback is handed only the newest answer once it is done, and never
/// delays a refresh. The file's `[http]` table is not served, and systemd
/// is not notified (that is the embedding program's to do). On shutdown,
/// the answer being handed over is finished first.
///
/// Fails only on what a person must fix at start: the file, the policy, the
/// source's settings.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
/// # let plugin = std::path::Path::new(kit::plugins::ELASTIC_GRID);
/// # let fleet = workspace.join("examples/seed-fleet.json");
/// # std::fs::write(dir.path().join("rollcall.toml"), format!(
/// #     "self = \"i-df71a7b6\"\n[source]\nkind = \"file\"\npath = {fleet:?}\n[policy]\nplugin = {plugin:?}\n"))?;
/// # let config = dir.path().join("rollcall.toml");
/// use tokio::sync::oneshot;
///
/// let (first, answered) = oneshot::channel();
/// let first = std::sync::Mutex::new(Some(first));
/// let on_answer = move |answer: &rollcall::Membership, _: &[rollcall::ChangeEvent]| {
///     let targets: Vec<String> =
///         answer.register_with.iter().map(|target| target.address.clone()).collect();
///     if let Some(first) = first.lock().unwrap().take() {
///         let _ = first.send(targets);
///     }
/// };
/// let (stop, stopped) = oneshot::channel::<()>();
/// let daemon = tokio::spawn(rollcall::watch(config, on_answer, async {
///     let _ = stopped.await;
/// }));
/// assert_eq!(answered.await?, ["10.251.199.99"]);
/// let _ = stop.send(());
/// daemon.await??;
/// # Ok(())
/// # }
/// ```
pub async fn watch(
    config: impl AsRef<Path>,
    on_answer: impl Fn(&Membership, &[ChangeEvent]) + Send + Sync + 'static,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WatchError> {
    let path = config.as_ref().to_owned();
    let loader = move || {
        let mut settings = WatchSettings::from_file(&Config::load(&path)?, &path)?;
        settings.listen = None;
        Ok(settings)
    };
    Watch::new(Box::new(loader))
        .cache(CompiledCache::default_directory().map(CompiledCache::new))
        .sink(Arc::new(CallbackSink::new(on_answer)))
        .run(shutdown)
        .await
}
