//! How many explanations (`GET /v1/explain/{instance_id}`) run at once.
//!
//! Each is a whole policy evaluation with the policy's full memory limit,
//! so only a few run at a time; a request waits a bounded time for its
//! turn, then is refused (the API answers 503 with `Retry-After`). An
//! evaluation that has started keeps its turn until it ends, even when its
//! client has gone: a client that hangs up cannot start more of them.

use super::metrics::Metrics;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// The turns explanations take.
#[derive(Debug, Clone)]
pub struct ExplainLimit {
    turns: Arc<Semaphore>,
    at_once: usize,
    wait: Duration,
}

/// Why an explanation did not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum NoExplanation {
    #[error(
        "{at_once} explanations are running already and none finished within {wait:?}; retry later"
    )]
    Busy { at_once: usize, wait: Duration },
    #[error("the explanation stopped unexpectedly: {0}")]
    Stopped(String),
}

impl ExplainLimit {
    /// `at_once` explanations at a time; a request waits up to `wait`.
    pub fn new(at_once: usize, wait: Duration) -> ExplainLimit {
        ExplainLimit {
            turns: Arc::new(Semaphore::new(at_once)),
            at_once,
            wait,
        }
    }

    /// Runs `explanation` on its own task once it has a turn, counted in
    /// `metrics`.
    pub async fn run<T: Send + 'static>(
        &self,
        metrics: &Metrics,
        explanation: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, NoExplanation> {
        let waiting = metrics.explanation_waiting();
        let turn = tokio::time::timeout(self.wait, Arc::clone(&self.turns).acquire_owned()).await;
        drop(waiting);
        let Ok(Ok(turn)) = turn else {
            metrics.explanation_refused();
            tracing::debug!(wait = ?self.wait, "An explanation waited too long for its turn: 503.");
            return Err(NoExplanation::Busy {
                at_once: self.at_once,
                wait: self.wait,
            });
        };
        let running = metrics.explanation_started();
        tokio::spawn(async move {
            let explained = explanation.await;
            drop((turn, running));
            explained
        })
        .await
        .map_err(|err| NoExplanation::Stopped(err.to_string()))
    }
}
