//! Where the daemon publishes every new answer: files, commands, stdout,
//! Route 53 records, and the embedding program's callback.
//!
//! A sink that fails is logged and counted by the caller; the next change is
//! published to it again, and, for a sink with a [`Sink::retry_after`], the
//! same answer after that wait if no change came first. No sink failure
//! stops the daemon.

mod callback;
mod exec;
mod file;
mod route53;
mod stdout;

pub use callback::CallbackSink;
pub use exec::ExecSink;
pub use file::AtomicFileSink;
pub use route53::Route53Sink;
pub use stdout::StdoutSink;

use crate::changes::ChangeEvent;
use crate::membership::Membership;
use crate::output::Renderer;
use crate::settings::{SettingsError, SinkConfig};
use std::sync::Arc;
use std::time::Duration;

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

    /// After `failures` failed publications in a row (1 or more), how long
    /// until the newest answer is published again if no newer one comes
    /// first; `None`, the default: not before the next change.
    fn retry_after(&self, _failures: u32) -> Option<Duration> {
        None
    }
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

    fn retry_after(&self, failures: u32) -> Option<Duration> {
        (**self).retry_after(failures)
    }
}

/// The sink a configuration entry describes; a file sink's template is
/// loaded and checked here (a bad one names its file and line).
pub fn build(config: &SinkConfig) -> Result<Box<dyn Sink>, SettingsError> {
    Ok(match config {
        SinkConfig::File { path, format } => {
            let renderer = Renderer::new(format).map_err(SettingsError::from)?;
            Box::new(AtomicFileSink::new(path.clone(), renderer))
        }
        SinkConfig::Exec { command, timeout } => Box::new(ExecSink::new(command.clone(), *timeout)),
        SinkConfig::Stdout {} => Box::new(StdoutSink::new()),
        SinkConfig::Route53(route53) => Box::new(Route53Sink::new(route53.clone())),
    })
}
