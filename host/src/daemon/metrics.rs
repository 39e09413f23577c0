//! The daemon's Prometheus metrics: refreshes, fetch and policy timings,
//! members per role, reloads and freshness, EC2 and Auto Scaling calls and the fleet's
//! snapshot, the HTTP API's connections and explanations, rendered for
//! `/metrics`.

use super::reload::Counting;
use super::slots::Kind;
use crate::inventory::{ApiCalls, CallCounts};
use crate::membership::Membership;
use crate::snapshot::Tally;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime};

/// The `Content-Type` of [`Metrics::render`]'s output: the Prometheus text
/// format, version 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Upper bounds, in seconds, for a fetch of the fleet: one quick page up to
/// the default 120 s fetch timeout.
const FETCH_BUCKETS: [f64; 11] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0];

/// Upper bounds, in seconds, for one policy evaluation: a plugin call takes
/// from well under a millisecond to its deadline.
const EVALUATION_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// How a reload ended, as `rollcall_reloads_total{outcome}` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reloaded {
    /// Swapped in.
    Ok,
    /// The candidate failed; the old configuration serves.
    RolledBack,
    /// The change guard held back its policy; the old configuration serves.
    Refused,
}

impl Reloaded {
    fn label(self) -> &'static str {
        match self {
            Reloaded::Ok => "ok",
            Reloaded::RolledBack => "rolled_back",
            Reloaded::Refused => "refused",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RoleLabel {
    role: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

/// The states `rollcall_members_by_state` counts members in.
/// `stale`: its account-region could not be listed this time.
const MEMBER_STATES: [&str; 4] = ["serving", "leaving", "unconfirmed", "stale"];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkLabel {
    sink: String,
}

/// Every metric the daemon exports, behind one registry. Cheap to update
/// from the refresh loop and safe to share as `Arc<Metrics>`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    refreshes: Family<OutcomeLabel, Counter>,
    fetch_duration: Histogram,
    policy_evaluation: Histogram,
    members: Family<RoleLabel, Gauge>,
    /// The roles `members` has a series for; held while the series change so
    /// concurrent updates cannot leave a vanished role behind.
    published_roles: Mutex<BTreeSet<String>>,
    members_by_state: Family<StateLabel, Gauge>,
    reloads: Family<OutcomeLabel, Counter>,
    last_success: Gauge<f64, AtomicU64>,
    stale: Gauge,
    sink_failures: Family<SinkLabel, Counter>,
    http_connections: Family<OutcomeLabel, Counter>,
    http_idle_closed: Counter,
    explanations: Family<OutcomeLabel, Counter>,
    explanations_running: Gauge,
    explanations_waiting: Gauge,
    /// Counted by the sources the daemon builds (see [`Metrics::counting`]).
    counting: Counting,
}

/// Registers `rollcall_ec2_calls_total{outcome}`,
/// `rollcall_api_calls_total{service,outcome}` and the snapshot's metrics,
/// each outcome's series from the start, and returns counters that count
/// into them.
fn register_counting(registry: &mut Registry) -> Counting {
    let ec2_calls = Family::<OutcomeLabel, Counter>::default();
    let reads = Family::<OutcomeLabel, Counter>::default();
    let leases = Family::<OutcomeLabel, Counter>::default();
    let markers = Family::<OutcomeLabel, Counter>::default();
    let writes = Counter::default();
    let conflicts = Counter::default();
    let bytes = Family::<KindLabel, Counter>::default();
    let shards = Family::<OutcomeLabel, Counter>::default();
    let age = Gauge::<f64, AtomicU64>::default();
    let change_age = Gauge::<f64, AtomicU64>::default();
    let events = Family::default();
    let event_lag = Gauge::<f64, AtomicU64>::default();
    let members_dropped = Counter::default();
    registry.register(
        "members_dropped",
        "Members dropped from the policy's answers because it gave them a name or address that \
         cannot be used safely (a control character, an empty role...), counted in every answer \
         decided; the rest of each answer stands, and `rollcall explain` says why",
        members_dropped.clone(),
    );
    registry.register(
        "ec2_calls",
        "DescribeInstances attempts by outcome (ok, throttled, failed), retries included; the \
         same counts as rollcall_api_calls_total{service=\"ec2\"}, kept for existing dashboards",
        ec2_calls.clone(),
    );
    registry.register(
        "snapshot_reads",
        "Reads of the fleet's snapshot by outcome (fresh, not_modified, stale, missing, failed, \
         unusable, from_the_future, shrinking)",
        reads.clone(),
    );
    registry.register(
        "snapshot_markers",
        "Leave markers by what the lister did with them (folded: an instance marked leaving in \
         the snapshot written; skipped: the marker makes no sense; deleted: its instance is \
         gone; failed: a store request about markers failed)",
        markers.clone(),
    );
    registry.register(
        "snapshot_writes",
        "Snapshots this node listed and wrote",
        writes.clone(),
    );
    registry.register(
        "snapshot_head_conflicts",
        "Heads this node was about to write when another writer changed the head first (it \
         reads the head again and retries)",
        conflicts.clone(),
    );
    registry.register(
        "snapshot_bytes",
        "Bytes of the snapshot's objects read, by kind (head and shard: format 2; snapshot: \
         format 1's snapshot.zst); an unchanged fleet costs a 304 on the head and nothing here",
        bytes.clone(),
    );
    registry.register(
        "snapshot_shards",
        "Format 2's shards by what this node did with them (fetched: read for a new head; \
         written: new content; swept: deleted once no head named them for snapshot_max_age)",
        shards.clone(),
    );
    registry.register(
        "snapshot_leases",
        "Attempts at a refresh period's lease by outcome (won, lost)",
        leases.clone(),
    );
    registry.register_with_unit(
        "snapshot_age",
        "Age of the snapshot last read",
        Unit::Seconds,
        age.clone(),
    );
    registry.register_with_unit(
        "change_age",
        "How long the last change to the snapshot this node took had been written when it took \
         it (its answer is decided and published right after): freshness from the head's update \
         to this node's answer",
        Unit::Seconds,
        change_age.clone(),
    );
    registry.register(
        "events",
        "EC2 events from the queue by kind (state_change, spot_interruption, rebalance, \
         launch_lifecycle, terminate_lifecycle; unrecognised: not an event; queue: the queue \
         itself) and outcome (applied, unchanged, outside, retried, unknown, failed, \
         unrecognised; the queue's: denied, missing, unreachable); counted by the node that \
         holds the event lease",
        events.clone(),
    );
    registry.register_with_unit(
        "event_lag",
        "From the oldest event of the last head written for events to that head",
        Unit::Seconds,
        event_lag.clone(),
    );
    let series = |family: &Family<OutcomeLabel, Counter>, outcome: &'static str| {
        family.get_or_create(&OutcomeLabel { outcome }).clone()
    };
    // A series' guard is dropped before the next is made: the family's
    // lock is taken again to add one.
    let of_kind = |kind: &'static str| bytes.get_or_create(&KindLabel { kind }).clone();
    let api_calls = ApiCalls::counting_ec2_into(CallCounts {
        answered: series(&ec2_calls, "ok"),
        throttled: series(&ec2_calls, "throttled"),
        failed: series(&ec2_calls, "failed"),
    });
    registry.register_collector(Box::new(ApiCallsCollector(api_calls.clone())));
    Counting {
        snapshot: Tally {
            reads_fresh: series(&reads, "fresh"),
            reads_not_modified: series(&reads, "not_modified"),
            reads_stale: series(&reads, "stale"),
            reads_missing: series(&reads, "missing"),
            reads_failed: series(&reads, "failed"),
            reads_unusable: series(&reads, "unusable"),
            reads_from_the_future: series(&reads, "from_the_future"),
            reads_shrinking: series(&reads, "shrinking"),
            markers_folded: series(&markers, "folded"),
            markers_skipped: series(&markers, "skipped"),
            markers_deleted: series(&markers, "deleted"),
            markers_failed: series(&markers, "failed"),
            head_bytes: of_kind("head"),
            shard_bytes: of_kind("shard"),
            legacy_bytes: of_kind("snapshot"),
            writes,
            writes_lost: conflicts,
            shards_fetched: series(&shards, "fetched"),
            shards_written: series(&shards, "written"),
            shards_swept: series(&shards, "swept"),
            leases_won: series(&leases, "won"),
            leases_lost: series(&leases, "lost"),
            snapshot_age: age,
            change_age,
            events,
            event_lag,
        },
        api_calls,
        members_dropped,
    }
}

/// `rollcall_api_calls_total{account,region,service,outcome}`: every call
/// a listing spends of each account-region's API budget, by service (`ec2`:
/// DescribeInstances, `autoscaling`: DescribeAutoScalingGroups); `account`
/// is `own` for this node's own credentials. Summed over accounts and
/// regions, the EC2 series are `rollcall_ec2_calls_total`.
#[derive(Debug)]
struct ApiCallsCollector(ApiCalls);

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartServiceOutcomeLabel {
    account: String,
    region: String,
    service: &'static str,
    outcome: &'static str,
}

impl Collector for ApiCallsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut metric = encoder.encode_descriptor(
            "api_calls",
            "API attempts by account (own: this node's credentials), region, service (ec2: \
             DescribeInstances, autoscaling: DescribeAutoScalingGroups, ec2_security_groups: \
             DescribeSecurityGroups) and outcome (ok, \
             throttled, failed), retries included: together what listings spend of each \
             account-region's API budget.",
            None,
            MetricType::Counter,
        )?;
        for (part, calls) in self.0.by_part() {
            let services = [
                ("ec2", &calls.ec2),
                ("autoscaling", &calls.auto_scaling),
                ("ec2_security_groups", &calls.security_groups),
            ];
            for (service, counts) in services {
                for (outcome, counter) in [
                    ("ok", &counts.answered),
                    ("throttled", &counts.throttled),
                    ("failed", &counts.failed),
                ] {
                    let label = PartServiceOutcomeLabel {
                        account: part.account_label().to_owned(),
                        region: part.region.clone(),
                        service,
                        outcome,
                    };
                    counter.encode(metric.encode_family(&label)?)?;
                }
            }
        }
        Ok(())
    }
}

impl Metrics {
    /// Registers every metric, all at zero; both outcomes of each counter are
    /// exported from the start so rates work before the first failure.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("rollcall");
        let refreshes = Family::<OutcomeLabel, Counter>::default();
        let fetch_duration = Histogram::new(FETCH_BUCKETS);
        let policy_evaluation = Histogram::new(EVALUATION_BUCKETS);
        let members = Family::<RoleLabel, Gauge>::default();
        let members_by_state = Family::<StateLabel, Gauge>::default();
        let reloads = Family::<OutcomeLabel, Counter>::default();
        let last_success = Gauge::<f64, AtomicU64>::default();
        let stale = Gauge::default();
        let sink_failures = Family::<SinkLabel, Counter>::default();

        registry.register(
            "refreshes",
            "Fleet refreshes by outcome (fetch, evaluate and validate)",
            refreshes.clone(),
        );
        registry.register_with_unit(
            "fetch_duration",
            "Time to read the fleet from its source, successful or not",
            Unit::Seconds,
            fetch_duration.clone(),
        );
        registry.register_with_unit(
            "policy_evaluation",
            "Time the policy plugin took to decide",
            Unit::Seconds,
            policy_evaluation.clone(),
        );
        registry.register(
            "members",
            "Members per role in the last good answer",
            members.clone(),
        );
        registry.register(
            "members_by_state",
            "Members of the answer served by state: serving, leaving (going away: spot \
             interruption, Auto Scaling termination, maintenance, rebalance, announced) or \
             unconfirmed (missing from the latest listing, kept for a grace period)",
            members_by_state.clone(),
        );
        for state in MEMBER_STATES {
            drop(members_by_state.get_or_create(&StateLabel { state }));
        }
        registry.register(
            "reloads",
            "Policy or config reloads by outcome: ok (swapped in), rolled_back (the candidate \
             failed), refused (it works, but the change guard, [policy] max_change, held back \
             its policy until [policy] accept_change names the change); the old configuration \
             keeps serving unless ok",
            reloads.clone(),
        );
        registry.register_with_unit(
            "last_success_timestamp",
            "Unix time of the last successful refresh",
            Unit::Seconds,
            last_success.clone(),
        );
        registry.register(
            "stale",
            "1 when the served answer is stale, else 0",
            stale.clone(),
        );
        registry.register(
            "sink_failures",
            "Publications a sink failed, by sink",
            sink_failures.clone(),
        );

        let counting = register_counting(&mut registry);

        let http_connections = Family::<OutcomeLabel, Counter>::default();
        let http_idle_closed = Counter::default();
        let explanations = Family::<OutcomeLabel, Counter>::default();
        let explanations_running = Gauge::default();
        let explanations_waiting = Gauge::default();
        registry.register(
            "http_connections",
            "HTTP connections accepted, by the slot they took: general, reserved (only \
             /healthz and /metrics, every general one being busy) or refused (every slot busy)",
            http_connections.clone(),
        );
        registry.register(
            "http_idle_connections_closed",
            "Idle HTTP connections closed to make room for new ones",
            http_idle_closed.clone(),
        );
        registry.register(
            "explanations",
            "GET /v1/explain requests by outcome: run, or refused (503: too many running \
             already, for too long)",
            explanations.clone(),
        );
        registry.register(
            "explanations_running",
            "Policy evaluations GET /v1/explain runs now",
            explanations_running.clone(),
        );
        registry.register(
            "explanations_waiting",
            "GET /v1/explain requests waiting for their turn",
            explanations_waiting.clone(),
        );
        for outcome in ["general", "reserved", "refused"] {
            drop(http_connections.get_or_create(&OutcomeLabel { outcome }));
        }
        for outcome in ["run", "refused"] {
            drop(explanations.get_or_create(&OutcomeLabel { outcome }));
        }

        // Creating a series exports it at zero; the guard is not needed.
        for outcome in ["ok", "failed"] {
            drop(refreshes.get_or_create(&OutcomeLabel { outcome }));
        }
        for outcome in [Reloaded::Ok, Reloaded::RolledBack, Reloaded::Refused].map(Reloaded::label)
        {
            drop(reloads.get_or_create(&OutcomeLabel { outcome }));
        }

        Metrics {
            registry,
            refreshes,
            fetch_duration,
            policy_evaluation,
            members,
            published_roles: Mutex::new(BTreeSet::new()),
            members_by_state,
            reloads,
            last_success,
            stale,
            sink_failures,
            http_connections,
            http_idle_closed,
            explanations,
            explanations_running,
            explanations_waiting,
            counting,
        }
    }

    /// Where sources count EC2 calls and snapshot coordination into these
    /// metrics.
    pub fn counting(&self) -> Counting {
        self.counting.clone()
    }

    /// Records a successful refresh: its timings, the members per role of
    /// `membership` (roles it no longer has are removed), `at` as the last
    /// success, and the answer as fresh.
    pub fn refresh_succeeded(
        &self,
        fetch: Duration,
        evaluation: Duration,
        membership: &Membership,
        at: SystemTime,
    ) {
        self.refreshes
            .get_or_create(&OutcomeLabel { outcome: "ok" })
            .inc();
        self.fetch_duration.observe(fetch.as_secs_f64());
        self.policy_evaluation.observe(evaluation.as_secs_f64());

        let mut counts = BTreeMap::<&str, i64>::new();
        for member in &membership.members {
            *counts.entry(member.role.as_str()).or_default() += 1;
        }
        {
            let mut published = self
                .published_roles
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for role in published.iter() {
                if !counts.contains_key(role.as_str()) {
                    self.members.remove(&RoleLabel { role: role.clone() });
                }
            }
            for (role, count) in &counts {
                self.members
                    .get_or_create(&RoleLabel {
                        role: (*role).to_owned(),
                    })
                    .set(*count);
            }
            *published = counts.keys().map(|role| (*role).to_owned()).collect();
        }

        let since_epoch = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        self.last_success.set(since_epoch.as_secs_f64());
        self.stale.set(0);
    }

    /// Counts the members of the answer served, `membership`, by state.
    pub fn member_states(&self, membership: &Membership) {
        let mut counts = [0i64; MEMBER_STATES.len()];
        for member in &membership.members {
            let state = if member.status.unconfirmed {
                2
            } else if member.status.stale {
                3
            } else if member.status.leaving.is_some() {
                1
            } else {
                0
            };
            counts[state] += 1;
        }
        for (state, count) in MEMBER_STATES.into_iter().zip(counts) {
            self.members_by_state
                .get_or_create(&StateLabel { state })
                .set(count);
        }
    }

    /// Records a failed refresh and how long its fetch took (the time to the
    /// error, when the fetch itself failed). Members and the last success
    /// keep their values: the last good answer is still served.
    pub fn refresh_failed(&self, fetch: Duration) {
        self.refreshes
            .get_or_create(&OutcomeLabel { outcome: "failed" })
            .inc();
        self.fetch_duration.observe(fetch.as_secs_f64());
    }

    /// Records a reload and how it ended.
    pub fn reload(&self, outcome: Reloaded) {
        let outcome = outcome.label();
        self.reloads.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    /// Whether the served answer is stale.
    /// Counts a publication `sink` (as the sink describes itself) failed.
    pub fn sink_failed(&self, sink: &str) {
        self.sink_failures
            .get_or_create(&SinkLabel {
                sink: sink.to_owned(),
            })
            .inc();
    }

    pub fn set_stale(&self, stale: bool) {
        self.stale.set(i64::from(stale));
    }

    /// Counts an accepted HTTP connection by the slot it took (`None`:
    /// refused), and the idle ones closed to make room for it.
    pub fn http_connection(&self, slot: Option<Kind>, closed_idle: usize) {
        let outcome = match slot {
            Some(Kind::General) => "general",
            Some(Kind::Reserved) => "reserved",
            None => "refused",
        };
        self.http_connections
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
        self.http_idle_closed
            .inc_by(u64::try_from(closed_idle).unwrap_or(u64::MAX));
    }

    /// Counts an explanation refused for want of room.
    pub fn explanation_refused(&self) {
        self.explanations
            .get_or_create(&OutcomeLabel { outcome: "refused" })
            .inc();
    }

    /// Counts an explanation waiting for its turn until the guard is
    /// dropped.
    pub fn explanation_waiting(&self) -> Held {
        Held::new(&self.explanations_waiting)
    }

    /// Counts an explanation starting; it runs until the guard is dropped.
    pub fn explanation_started(&self) -> Held {
        self.explanations
            .get_or_create(&OutcomeLabel { outcome: "run" })
            .inc();
        Held::new(&self.explanations_running)
    }

    /// Every metric in the Prometheus text format ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut text = String::new();
        if let Err(error) = prometheus_text::encode(&mut text, &self.registry) {
            tracing::error!(%error, "Could not encode the metrics.");
        }
        text
    }
}

/// One more in a gauge of things in progress, until dropped.
#[derive(Debug)]
pub struct Held(Gauge);

impl Held {
    fn new(gauge: &Gauge) -> Held {
        gauge.inc();
        Held(gauge.clone())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn membership(members: &[(&str, &str)]) -> Membership {
        crate::membership::sample(members, &[])
    }

    fn lines(text: &str) -> Vec<&str> {
        text.lines().collect()
    }

    fn assert_has(text: &str, sample: &str) {
        assert!(
            lines(text).contains(&sample),
            "missing {sample:?} in:\n{text}"
        );
    }

    fn assert_lacks(text: &str, fragment: &str) {
        assert!(
            !text.contains(fragment),
            "unexpected {fragment:?} in:\n{text}"
        );
    }

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn everything_starts_at_zero_with_both_outcomes() {
        let text = Metrics::new().render();
        for sample in [
            "# TYPE rollcall_refreshes_total counter",
            r#"rollcall_refreshes_total{outcome="ok"} 0"#,
            r#"rollcall_refreshes_total{outcome="failed"} 0"#,
            "# TYPE rollcall_fetch_duration_seconds histogram",
            "rollcall_fetch_duration_seconds_count 0",
            "# TYPE rollcall_policy_evaluation_seconds histogram",
            "rollcall_policy_evaluation_seconds_count 0",
            r#"rollcall_reloads_total{outcome="ok"} 0"#,
            r#"rollcall_reloads_total{outcome="rolled_back"} 0"#,
            r#"rollcall_reloads_total{outcome="refused"} 0"#,
            "# TYPE rollcall_last_success_timestamp_seconds gauge",
            "rollcall_last_success_timestamp_seconds 0.0",
            "# TYPE rollcall_stale gauge",
            "rollcall_stale 0",
            "# TYPE rollcall_members_dropped_total counter",
            "rollcall_members_dropped_total 0",
            r#"rollcall_http_connections_total{outcome="general"} 0"#,
            r#"rollcall_http_connections_total{outcome="reserved"} 0"#,
            r#"rollcall_http_connections_total{outcome="refused"} 0"#,
            "rollcall_http_idle_connections_closed_total 0",
            r#"rollcall_explanations_total{outcome="run"} 0"#,
            r#"rollcall_explanations_total{outcome="refused"} 0"#,
            "rollcall_explanations_running 0",
            "rollcall_explanations_waiting 0",
        ] {
            assert_has(&text, sample);
        }
        assert_lacks(&text, "rollcall_members{");
        assert_lacks(&text, "# EOF");
    }

    #[test]
    fn members_are_counted_by_state() {
        let metrics = Metrics::new();
        let text = metrics.render();
        assert_has(&text, r#"rollcall_members_by_state{state="leaving"} 0"#);
        let mut answer = membership(&[
            ("i-a", "agent"),
            ("i-b", "agent"),
            ("i-c", "agent"),
            ("i-d", "agent"),
        ]);
        answer.members[0].status.leaving = Some(crate::inventory::LeavingEntry {
            reason: "spot-interruption".to_owned(),
            deadline: None,
        });
        answer.members[1].status.unconfirmed = true;
        answer.members[3].status.stale = true;
        metrics.member_states(&answer);
        let text = metrics.render();
        for sample in [
            r#"rollcall_members_by_state{state="serving"} 1"#,
            r#"rollcall_members_by_state{state="leaving"} 1"#,
            r#"rollcall_members_by_state{state="unconfirmed"} 1"#,
            r#"rollcall_members_by_state{state="stale"} 1"#,
        ] {
            assert_has(&text, sample);
        }
    }

    #[test]
    fn a_success_records_timings_members_and_when() {
        let metrics = Metrics::new();
        metrics.set_stale(true);
        metrics.refresh_succeeded(
            Duration::from_millis(300),
            Duration::from_millis(2),
            &membership(&[("i-a", "monitor"), ("i-b", "agent"), ("i-c", "agent")]),
            at(1_700_000_000),
        );
        let text = metrics.render();
        for sample in [
            r#"rollcall_refreshes_total{outcome="ok"} 1"#,
            r#"rollcall_refreshes_total{outcome="failed"} 0"#,
            r#"rollcall_fetch_duration_seconds_bucket{le="0.25"} 0"#,
            r#"rollcall_fetch_duration_seconds_bucket{le="0.5"} 1"#,
            r#"rollcall_fetch_duration_seconds_bucket{le="+Inf"} 1"#,
            "rollcall_fetch_duration_seconds_sum 0.3",
            "rollcall_fetch_duration_seconds_count 1",
            r#"rollcall_policy_evaluation_seconds_bucket{le="0.001"} 0"#,
            r#"rollcall_policy_evaluation_seconds_bucket{le="0.0025"} 1"#,
            "rollcall_policy_evaluation_seconds_count 1",
            r#"rollcall_members{role="monitor"} 1"#,
            r#"rollcall_members{role="agent"} 2"#,
            "rollcall_last_success_timestamp_seconds 1700000000.0",
            "rollcall_stale 0",
        ] {
            assert_has(&text, sample);
        }
    }

    #[test]
    fn roles_that_disappear_are_removed() {
        let metrics = Metrics::new();
        metrics.refresh_succeeded(
            Duration::ZERO,
            Duration::ZERO,
            &membership(&[("i-a", "monitor"), ("i-b", "agent")]),
            at(10),
        );
        metrics.refresh_succeeded(
            Duration::ZERO,
            Duration::ZERO,
            &membership(&[("i-a", "monitor"), ("i-b", "monitor"), ("i-c", "relay")]),
            at(20),
        );
        let text = metrics.render();
        assert_has(&text, r#"rollcall_members{role="monitor"} 2"#);
        assert_has(&text, r#"rollcall_members{role="relay"} 1"#);
        assert_lacks(&text, r#"role="agent""#);

        metrics.refresh_succeeded(Duration::ZERO, Duration::ZERO, &membership(&[]), at(30));
        assert_lacks(&metrics.render(), "rollcall_members{");
    }

    #[test]
    fn a_failure_counts_and_times_the_fetch_but_keeps_the_last_answer() {
        let metrics = Metrics::new();
        metrics.refresh_succeeded(
            Duration::from_secs(1),
            Duration::ZERO,
            &membership(&[("i-a", "monitor")]),
            at(100),
        );
        metrics.refresh_failed(Duration::from_secs(20));
        metrics.refresh_failed(Duration::from_secs(200));
        metrics.set_stale(true);
        let text = metrics.render();
        for sample in [
            r#"rollcall_refreshes_total{outcome="ok"} 1"#,
            r#"rollcall_refreshes_total{outcome="failed"} 2"#,
            "rollcall_fetch_duration_seconds_count 3",
            r#"rollcall_fetch_duration_seconds_bucket{le="30"} 2"#,
            r#"rollcall_fetch_duration_seconds_bucket{le="120"} 2"#,
            r#"rollcall_fetch_duration_seconds_bucket{le="+Inf"} 3"#,
            "rollcall_policy_evaluation_seconds_count 1",
            r#"rollcall_members{role="monitor"} 1"#,
            "rollcall_last_success_timestamp_seconds 100.0",
            "rollcall_stale 1",
        ] {
            assert_has(&text, sample);
        }
        metrics.set_stale(false);
        assert_has(&metrics.render(), "rollcall_stale 0");
    }

    #[test]
    fn reloads_count_by_outcome() {
        let metrics = Metrics::new();
        metrics.reload(Reloaded::Ok);
        metrics.reload(Reloaded::RolledBack);
        metrics.reload(Reloaded::RolledBack);
        metrics.reload(Reloaded::Refused);
        let text = metrics.render();
        assert_has(&text, r#"rollcall_reloads_total{outcome="ok"} 1"#);
        assert_has(&text, r#"rollcall_reloads_total{outcome="rolled_back"} 2"#);
        assert_has(&text, r#"rollcall_reloads_total{outcome="refused"} 1"#);
    }

    #[test]
    fn api_calls_count_per_account_region_and_service_and_ec2_s_also_in_the_old_metric() {
        let metrics = Metrics::new();
        let calls = metrics.counting().api_calls;
        let own = crate::inventory::PartKey::new(None, "us-east-1");
        let other = crate::inventory::PartKey::new(Some("111111111111"), "eu-west-1");
        calls.ec2.answered.inc();
        calls.ec2.answered.inc();
        calls.part(&own).ec2.answered.inc();
        calls.part(&other).ec2.answered.inc();
        calls.part(&other).auto_scaling.answered.inc();
        calls.part(&other).auto_scaling.failed.inc();
        let text = metrics.render();
        assert_has(&text, "rollcall_ec2_calls_total{outcome=\"ok\"} 2");
        assert_has(
            &text,
            "rollcall_api_calls_total{account=\"own\",region=\"us-east-1\",service=\"ec2\",outcome=\"ok\"} 1",
        );
        assert_has(
            &text,
            "rollcall_api_calls_total{account=\"111111111111\",region=\"eu-west-1\",service=\"ec2\",outcome=\"ok\"} 1",
        );
        assert_has(
            &text,
            "rollcall_api_calls_total{account=\"111111111111\",region=\"eu-west-1\",service=\"autoscaling\",outcome=\"failed\"} 1",
        );
        assert_has(
            &text,
            "rollcall_api_calls_total{account=\"own\",region=\"us-east-1\",service=\"autoscaling\",outcome=\"throttled\"} 0",
        );
        assert_has(&text, "# TYPE rollcall_api_calls_total counter");
        assert_has(
            &text,
            "rollcall_snapshot_markers_total{outcome=\"folded\"} 0",
        );
    }

    #[test]
    fn metrics_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync + 'static>() {}
        shareable::<Metrics>();
    }
}
