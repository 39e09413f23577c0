//! Where the daemon publishes every new answer: files, commands, stdout,
//! and the embedding program's callback.
//!
//! A sink that fails is logged and counted by the caller; the next change is
//! published to it again. No sink failure stops the daemon.

mod callback;
mod exec;
mod file;
mod stdout;

pub use callback::CallbackSink;
pub use exec::ExecSink;
pub use file::AtomicFileSink;
pub use stdout::StdoutSink;

use crate::changes::ChangeEvent;
use crate::membership::Membership;
use crate::output::Renderer;
use crate::settings::{SettingsError, SinkConfig};
use std::sync::Arc;

/// One answer and the changes that led to it.
pub struct Publication<'a> {
    pub membership: &'a Membership,
    pub changes: &'a [ChangeEvent],
}

#[async_trait::async_trait]
pub trait Sink: Send + Sync {
    /// For logs: what and where, e.g. `file /run/rollcall/membership.json`.
    fn describe(&self) -> String;

    async fn publish(&self, publication: &Publication<'_>) -> Result<(), String>;
}

/// A sink several lists share: the code-supplied sinks
/// ([`crate::daemon::Watch::sink`]), in the sinks of every configuration a
/// reload builds.
#[async_trait::async_trait]
impl<S: Sink + ?Sized> Sink for Arc<S> {
    fn describe(&self) -> String {
        (**self).describe()
    }

    async fn publish(&self, publication: &Publication<'_>) -> Result<(), String> {
        (**self).publish(publication).await
    }
}

/// The sink a configuration entry describes; a file sink's template is
/// loaded and checked here (a bad one names its file and line).
pub fn build(config: &SinkConfig) -> Result<Box<dyn Sink>, SettingsError> {
    Ok(match config {
        SinkConfig::File { path, format } => {
            let renderer = Renderer::new(format).map_err(|unusable| unusable.setting)?;
            Box::new(AtomicFileSink::new(path.clone(), renderer))
        }
        SinkConfig::Exec { command, timeout } => Box::new(ExecSink::new(command.clone(), *timeout)),
        SinkConfig::Stdout {} => Box::new(StdoutSink::new()),
    })
}
