//! The daemon's state as its readers see it: the last good answer and what
//! it was decided from, when a refresh last succeeded, the latest refresh,
//! reload and sink failures, and from these whether the daemon is healthy.
//! Shared through a `tokio::sync::watch` channel: the service loop writes
//! it, the sink publisher writes the sink failures; the HTTP server
//! (`/v1/membership`, `/v1/explain`, `/healthz`) and the systemd status line
//! read it.

use crate::inventory::Inventory;
use crate::membership::Membership;
use crate::policy::Policy;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// One failure, when it happened and what it said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub at: SystemTime,
    pub error: String,
}

/// What the current answer was decided from: enough to decide it again,
/// with the policy's reasons (`GET /v1/explain/{instance_id}`).
#[derive(Clone)]
pub struct Decided {
    pub inventory: Arc<Inventory>,
    pub policy: Arc<dyn Policy>,
    /// Self, as the answer names it.
    pub own: Option<String>,
}

impl std::fmt::Debug for Decided {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decided")
            .field("instances", &self.inventory.instances.len())
            .field("policy", self.policy.identity())
            .field("own", &self.own)
            .finish()
    }
}

/// The daemon's state as readers see it.
#[derive(Debug, Clone)]
pub struct Status {
    /// The last good answer, stale or not; `None` until the first success.
    pub membership: Option<Arc<Membership>>,
    /// What `membership` was decided from; `None` until the first success.
    pub decided: Option<Decided>,
    /// When the last refresh succeeded.
    pub last_success: Option<SystemTime>,
    /// The latest refresh's failure; `None` once a refresh succeeds again.
    pub refresh_failure: Option<Failure>,
    /// The latest failed policy or config reload; `None` once one succeeds.
    pub reload_failure: Option<Failure>,
    /// Age past which the answer counts as stale for `/healthz`.
    pub stale_after: Duration,
    /// Each sink's latest failure, by the sink's description; gone once it
    /// publishes again.
    pub sink_failures: BTreeMap<String, Failure>,
}

/// Whether the daemon serves a current answer, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Healthy,
    Unhealthy(String),
}

impl Status {
    pub fn new(stale_after: Duration) -> Self {
        Status {
            membership: None,
            decided: None,
            last_success: None,
            refresh_failure: None,
            reload_failure: None,
            stale_after,
            sink_failures: BTreeMap::new(),
        }
    }

    /// Healthy when there is an answer and it is younger than `stale_after`.
    /// A failed reload alone keeps the daemon healthy (the old policy still
    /// serves) but is part of every report.
    pub fn health(&self, now: SystemTime) -> Health {
        let Some(last_success) = self.last_success else {
            return Health::Unhealthy(match &self.refresh_failure {
                Some(failure) => format!("no successful refresh yet: {}", failure.error),
                None => "no refresh has finished yet".to_owned(),
            });
        };
        let age = now.duration_since(last_success).unwrap_or_default();
        if age > self.stale_after {
            let cause = self
                .refresh_failure
                .as_ref()
                .map(|failure| format!(": {}", failure.error))
                .unwrap_or_default();
            let millis = |duration: Duration| Duration::from_millis(duration.as_millis() as u64);
            return Health::Unhealthy(format!(
                "the answer is {} old, older than {}{cause}",
                humantime::format_duration(millis(age)),
                humantime::format_duration(millis(self.stale_after))
            ));
        }
        Health::Healthy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn unhealthy_until_the_first_success() {
        let mut status = Status::new(Duration::from_secs(60));
        assert_eq!(
            status.health(at(10)),
            Health::Unhealthy("no refresh has finished yet".into())
        );
        status.refresh_failure = Some(Failure {
            at: at(10),
            error: "endpoint down".into(),
        });
        assert_eq!(
            status.health(at(10)),
            Health::Unhealthy("no successful refresh yet: endpoint down".into())
        );
    }

    #[test]
    fn stale_past_the_configured_age_with_the_cause() {
        let mut status = Status::new(Duration::from_secs(60));
        status.last_success = Some(at(100));
        assert_eq!(status.health(at(160)), Health::Healthy);
        status.refresh_failure = Some(Failure {
            at: at(150),
            error: "throttled".into(),
        });
        assert_eq!(
            status.health(at(150)),
            Health::Healthy,
            "failing, not yet stale"
        );
        assert_eq!(
            status.health(at(161)),
            Health::Unhealthy("the answer is 1m 1s old, older than 1m: throttled".into())
        );
    }
}
