//! A fleet listed in parts, one per account and region: EC2's API budget is
//! a bucket per account and region, and one part failing (a role denied, a
//! region throttled) is that part's trouble, not the fleet's.
//!
//! Parts are listed a few at a time ([`list_parts`]), each one that failed
//! waits before it is asked again ([`PartSchedule`], doubling from
//! [`FIRST_RETRY`] to [`LAST_RETRY`]; a fleet of one part never waits), and a listing with failed parts
//! becomes a fleet by taking those parts' instances from the last fleet
//! the node held, marked stale ([`patch`]). With nothing held, a failed
//! part fails the listing: a fleet without it would be smaller than the
//! fleet is.

use super::{Instance, SourceError};
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// A failed part is asked again no sooner than this after its first
/// failure in a row...
pub const FIRST_RETRY: Duration = Duration::from_secs(15);
/// ...and, the wait doubling with each failure, at least this often.
pub const LAST_RETRY: Duration = Duration::from_secs(5 * 60);
/// Between the wait and the last error in a waiting part's message.
const LAST_ERROR: &str = "; last: ";

/// The wait after the `failures`th failure in a row.
fn wait_after(failures: u32) -> Duration {
    FIRST_RETRY
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(LAST_RETRY)
}

/// The first point of the doubling waits (from a part's first failure)
/// past `asked` after it, and the failures in a row it makes. A few
/// doubling steps, then waits of [`LAST_RETRY`] counted at once: a `since`
/// from another node, however old, costs no more.
fn next_ask(asked: Duration) -> (u32, Duration) {
    let (mut failures, mut next) = (1u32, FIRST_RETRY);
    while next <= asked && wait_after(failures) < LAST_RETRY {
        failures += 1;
        next = next.saturating_add(wait_after(failures));
    }
    if next <= asked {
        let steps = (asked - next).as_secs() / LAST_RETRY.as_secs() + 1;
        let steps = u32::try_from(steps).unwrap_or(u32::MAX);
        failures = failures.saturating_add(steps);
        next = next.saturating_add(LAST_RETRY.saturating_mul(steps));
    }
    (failures, next)
}

/// One account-region a listing covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PartKey {
    /// The account listed through a role; `None`: this node's own
    /// credentials' account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    pub region: String,
}

impl PartKey {
    pub fn new(account: Option<&str>, region: &str) -> PartKey {
        PartKey {
            account: account.map(str::to_owned),
            region: region.to_owned(),
        }
    }

    /// Whether `instance` was listed in this part: its region, and its
    /// account when the part names one.
    pub fn covers(&self, instance: &Instance) -> bool {
        self.covers_listing(instance.region.as_deref(), instance.account.as_deref())
    }

    /// Whether an instance of this region and account was listed in this
    /// part.
    pub fn covers_listing(&self, region: Option<&str>, account: Option<&str>) -> bool {
        region == Some(self.region.as_str())
            && (self.account.is_none() || account == self.account.as_deref())
    }

    /// The account as metrics label it: the id, or `own`.
    pub fn account_label(&self) -> &str {
        self.account.as_deref().unwrap_or("own")
    }
}

impl std::fmt::Display for PartKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.account {
            Some(account) => write!(f, "account {account} in {}", self.region),
            None => f.write_str(&self.region),
        }
    }
}

/// A part that could not be listed: its instances are the ones last known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StalePart {
    pub part: PartKey,
    /// When it first failed, of the failures in a row.
    pub since: SystemTime,
    /// Why it failed last.
    pub error: String,
}

/// A part that failed this listing.
#[derive(Debug)]
pub struct PartFailure {
    pub part: PartKey,
    pub error: SourceError,
    /// When it first failed, of the failures in a row.
    pub since: SystemTime,
}

/// What a listing of parts came to: the instances of the parts listed, in
/// the parts' order, and the parts that failed.
#[derive(Debug, Default)]
pub struct PartialListing {
    pub instances: Vec<Instance>,
    pub failed: Vec<PartFailure>,
}

/// When each failed part may be asked again. Parts that never failed, or
/// succeeded since, are due.
#[derive(Debug, Default)]
pub struct PartSchedule {
    waits: Mutex<HashMap<PartKey, Waiting>>,
}

#[derive(Debug, Clone)]
struct Waiting {
    failures: u32,
    retry_at: tokio::time::Instant,
    since: SystemTime,
    /// The last failure, as said; and whether it was throttling.
    error: String,
    throttled: bool,
}

impl PartSchedule {
    /// Why `part` is not asked now, if it is waiting.
    fn waiting(&self, part: &PartKey) -> Option<PartFailure> {
        let waits = self.waits.lock().unwrap_or_else(PoisonError::into_inner);
        let waiting = waits.get(part)?;
        let left = waiting
            .retry_at
            .checked_duration_since(tokio::time::Instant::now())
            .filter(|left| !left.is_zero())?;
        let message = format!(
            "{part}: not asked for another {}s after {} failures in a row{LAST_ERROR}{}",
            left.as_secs().max(1),
            waiting.failures,
            waiting.error
        );
        Some(PartFailure {
            part: part.clone(),
            error: if waiting.throttled {
                SourceError::Throttled(message)
            } else {
                SourceError::Unavailable(message)
            },
            since: waiting.since,
        })
    }

    fn succeeded(&self, part: &PartKey) {
        self.waits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(part);
    }

    /// Records a failure at `now`; returns when the run of failures began.
    fn failed(&self, part: &PartKey, error: &SourceError, now: SystemTime) -> SystemTime {
        let mut waits = self.waits.lock().unwrap_or_else(PoisonError::into_inner);
        let previous = waits.get(part);
        let failures = previous.map_or(1, |waiting| waiting.failures.saturating_add(1));
        let since = previous.map_or(now, |waiting| waiting.since);
        let wait = wait_after(failures);
        waits.insert(
            part.clone(),
            Waiting {
                failures,
                retry_at: tokio::time::Instant::now() + wait,
                since,
                error: error.to_string(),
                throttled: matches!(error, SourceError::Throttled(_)),
            },
        );
        since
    }

    /// Takes up the failures other nodes met: each part `stale` names (the
    /// fleet listed at `listed` marks it, failing since its `since`) waits
    /// as though this node had asked it at every point of the doubling
    /// waits from `since` up to `listed`. Whichever node lists, a failing
    /// part is then asked about as often as one node alone would ask it,
    /// not once per listing. A part this node's own failures keep waiting
    /// longer is left as it is.
    pub fn recall(&self, stale: &[StalePart], listed: SystemTime, now: SystemTime) {
        let mut waits = self.waits.lock().unwrap_or_else(PoisonError::into_inner);
        let instant = tokio::time::Instant::now();
        for part in stale {
            let asked = listed.duration_since(part.since).unwrap_or_default();
            let (failures, next) = next_ask(asked);
            let due = part.since.checked_add(next).unwrap_or(now);
            let Some(left) = due.duration_since(now).ok().filter(|left| !left.is_zero()) else {
                continue;
            };
            let retry_at = instant + left;
            let error = part.error.rsplit(LAST_ERROR).next().unwrap_or(&part.error);
            let waiting = waits.entry(part.part.clone()).or_insert_with(|| Waiting {
                failures,
                retry_at,
                since: part.since,
                error: error.to_owned(),
                throttled: false,
            });
            if waiting.retry_at < retry_at {
                waiting.retry_at = retry_at;
                waiting.failures = waiting.failures.max(failures);
            }
            waiting.since = waiting.since.min(part.since);
        }
    }
}

/// Lists every part with `list`, at most `concurrency` at once, skipping
/// those still waiting after a failure; `now` is when failures are dated.
/// A fleet of one part never waits: its failure is the listing's, retried
/// as the caller retries a failed listing.
pub async fn list_parts<'a, F, Fut>(
    parts: &'a [PartKey],
    schedule: &PartSchedule,
    concurrency: usize,
    now: SystemTime,
    list: F,
) -> PartialListing
where
    F: Fn(&'a PartKey) -> Fut,
    Fut: Future<Output = Result<Vec<Instance>, SourceError>> + Send + 'a,
{
    let mut failed = Vec::new();
    let mut due = Vec::new();
    let one_part = parts.len() == 1;
    for part in parts {
        match schedule.waiting(part).filter(|_| !one_part) {
            Some(waiting) => failed.push(waiting),
            None => due.push(part),
        }
    }
    // Boxed before they reach the stream: a closure returning an async
    // block there is not general enough over lifetimes for a `Send` caller.
    let listings: Vec<BoxFuture<'a, _>> = due
        .into_iter()
        .map(|part| list(part).map(move |answer| (part, answer)).boxed())
        .collect();
    let answers: Vec<_> = futures::stream::iter(listings)
        .buffered(concurrency.max(1))
        .collect()
        .await;
    let mut instances = Vec::new();
    for (part, answer) in answers {
        match answer {
            Ok(listed) => {
                schedule.succeeded(part);
                instances.extend(listed);
            }
            Err(error) => {
                let since = schedule.failed(part, &error, now);
                tracing::warn!(%part, %error, "A part of the fleet could not be listed; its instances are kept as last known, marked stale.");
                failed.push(PartFailure {
                    part: part.clone(),
                    error,
                    since,
                });
            }
        }
    }
    PartialListing { instances, failed }
}

/// The fleet a listing comes to: the parts listed, and each failed part's
/// instances as `held` had them, marked stale (since the earlier of its
/// failures and `held_stale`'s). Fails when a part failed and nothing is
/// held: the fleet would lack that part.
pub fn patch(
    listing: PartialListing,
    held: Option<(&[Instance], &[StalePart])>,
) -> Result<(Vec<Instance>, Vec<StalePart>), SourceError> {
    let PartialListing {
        mut instances,
        failed,
    } = listing;
    if failed.is_empty() {
        return Ok((instances, Vec::new()));
    }
    let Some((held, held_stale)) = held else {
        let count = failed.len();
        let first = failed.into_iter().next().map(|failure| failure.error);
        let error = first.unwrap_or_else(|| SourceError::Unavailable(String::new()));
        return Err(error.context(format!(
            "{count} part(s) of the fleet could not be listed, and this node holds no earlier \
             listing of them to keep"
        )));
    };
    let mut stale = Vec::with_capacity(failed.len());
    for failure in failed {
        instances.extend(
            held.iter()
                .filter(|instance| failure.part.covers(instance))
                .cloned(),
        );
        let earlier = held_stale
            .iter()
            .find(|part| part.part == failure.part)
            .map(|part| part.since);
        stale.push(StalePart {
            since: earlier.map_or(failure.since, |earlier| earlier.min(failure.since)),
            error: failure.error.to_string(),
            part: failure.part,
        });
    }
    Ok((instances, stale))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(id: &str, account: &str, region: &str) -> Instance {
        let mut instance = Instance::running(id);
        instance.account = Some(account.to_owned());
        instance.region = Some(region.to_owned());
        instance
    }

    fn parts() -> Vec<PartKey> {
        ["111111111111", "222222222222"]
            .iter()
            .flat_map(|account| {
                ["us-east-1", "eu-west-1"].map(|region| PartKey::new(Some(account), region))
            })
            .collect()
    }

    /// Lists each part's one instance, failing `failing`.
    async fn listing(
        schedule: &PartSchedule,
        failing: Option<&PartKey>,
        asked: &Mutex<Vec<PartKey>>,
    ) -> PartialListing {
        let parts = parts();
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        list_parts(&parts, schedule, 2, at, |part| {
            asked.lock().unwrap().push(part.clone());
            let fails = Some(part) == failing;
            let listed = instance(
                &format!("i-{}{}", part.account_label(), part.region),
                part.account.as_deref().unwrap(),
                &part.region,
            );
            async move {
                if fails {
                    Err(SourceError::Throttled("RequestLimitExceeded".to_owned()))
                } else {
                    Ok(vec![listed])
                }
            }
        })
        .await
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_part_keeps_its_held_instances_marked_stale_and_the_rest_are_fresh() {
        let schedule = PartSchedule::default();
        let asked = Mutex::new(Vec::new());
        let first = listing(&schedule, None, &asked).await;
        let (held, stale) = patch(first, None).unwrap();
        assert_eq!(held.len(), 4);
        assert!(stale.is_empty());

        let failing = parts()[3].clone();
        let second = listing(&schedule, Some(&failing), &asked).await;
        assert_eq!(second.instances.len(), 3, "the other parts are listed");
        let (fleet, stale) = patch(second, Some((&held, &[]))).unwrap();
        assert_eq!(fleet.len(), 4, "the failed part's instance is kept");
        assert_eq!(stale.len(), 1);
        assert_eq!(stale[0].part, failing);
        assert!(stale[0].error.contains("RequestLimitExceeded"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_part_with_nothing_held_fails_the_listing() {
        let schedule = PartSchedule::default();
        let asked = Mutex::new(Vec::new());
        let failing = parts()[0].clone();
        let listed = listing(&schedule, Some(&failing), &asked).await;
        let err = patch(listed, None).unwrap_err();
        assert!(matches!(err, SourceError::Throttled(_)), "{err}");
        assert!(
            err.to_string().contains("holds no earlier listing"),
            "{err}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_part_waits_longer_after_each_failure_and_is_asked_again_once_due() {
        let schedule = PartSchedule::default();
        let asked = Mutex::new(Vec::new());
        let failing = parts()[1].clone();
        let times_asked = |asked: &Mutex<Vec<PartKey>>| {
            asked
                .lock()
                .unwrap()
                .iter()
                .filter(|part| **part == failing)
                .count()
        };
        listing(&schedule, Some(&failing), &asked).await;
        assert_eq!(times_asked(&asked), 1);
        // Waiting: not asked, but still reported failed, with the first
        // failure's time.
        let waiting = listing(&schedule, Some(&failing), &asked).await;
        assert_eq!(times_asked(&asked), 1);
        assert_eq!(waiting.failed.len(), 1);
        assert!(
            waiting.failed[0]
                .error
                .to_string()
                .contains("not asked for another")
        );
        tokio::time::advance(FIRST_RETRY).await;
        listing(&schedule, Some(&failing), &asked).await;
        assert_eq!(times_asked(&asked), 2, "asked again once due");
        // The second failure in a row waits twice as long.
        tokio::time::advance(FIRST_RETRY).await;
        listing(&schedule, Some(&failing), &asked).await;
        assert_eq!(times_asked(&asked), 2);
        tokio::time::advance(FIRST_RETRY).await;
        listing(&schedule, None, &asked).await;
        assert_eq!(times_asked(&asked), 3);
        // Answered: due again at once.
        let fresh = listing(&schedule, None, &asked).await;
        assert_eq!(times_asked(&asked), 4);
        assert!(fresh.failed.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_fleet_of_one_part_is_asked_again_at_once_after_a_failure() {
        let schedule = PartSchedule::default();
        let only = [PartKey::new(None, "us-east-1")];
        let asked = Mutex::new(0);
        let at = SystemTime::UNIX_EPOCH;
        for _ in 0..3 {
            let listed = list_parts(&only, &schedule, 8, at, |_| {
                *asked.lock().unwrap() += 1;
                async { Err(SourceError::Unavailable("down".to_owned())) }
            })
            .await;
            assert_eq!(listed.failed.len(), 1);
        }
        assert_eq!(*asked.lock().unwrap(), 3, "asked every time");
    }

    #[tokio::test(start_paused = true)]
    async fn a_part_another_node_found_failing_waits_as_if_this_node_had_failed_it() {
        // Two nodes take turns listing, each every other period, each with
        // its own schedule; one part fails throughout.
        let nodes = [PartSchedule::default(), PartSchedule::default()];
        let failing = parts()[2].clone();
        let asked = Mutex::new(Vec::new());
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let mut held: Option<(SystemTime, Vec<StalePart>)> = None;
        for period in 0..20u32 {
            let now = start + Duration::from_secs(30) * period;
            let schedule = &nodes[period as usize % 2];
            if let Some((listed, stale)) = &held {
                schedule.recall(stale, *listed, now);
            }
            let listed = listing(schedule, Some(&failing), &asked).await;
            let kept: Vec<Instance> = Vec::new();
            let stale = held.as_ref().map_or(&[][..], |(_, stale)| &stale[..]);
            let (_, stale) = patch(listed, Some((&kept, stale))).unwrap();
            assert_eq!(stale.len(), 1);
            assert!(
                stale[0].error.matches("not asked").count() <= 1,
                "the last error is not nested: {}",
                stale[0].error
            );
            held = Some((now, stale));
            tokio::time::advance(Duration::from_secs(30)).await;
        }
        let times = asked
            .lock()
            .unwrap()
            .iter()
            .filter(|part| **part == failing)
            .count();
        // At 0, then the first period after 15, 45, 105, 225 and 465 s.
        assert_eq!(times, 6, "asked {times} times in 20 periods");
    }

    #[test]
    fn the_next_ask_follows_the_doubling_waits_then_the_longest_at_once() {
        // Asked at 0, then 15, 45, 105, 225, 465 s, then every 300 s.
        let at = |secs: u64| next_ask(Duration::from_secs(secs)).1.as_secs();
        assert_eq!(at(0), 15);
        assert_eq!(at(15), 45);
        assert_eq!(at(44), 45);
        assert_eq!(at(465), 765);
        assert_eq!(at(764), 765);
        assert_eq!(at(765), 1065);
        // A part failing since 1970 by another node's word: one step.
        let (failures, next) = next_ask(Duration::from_secs(1_800_000_000));
        assert!(next > Duration::from_secs(1_800_000_000));
        assert!(next <= Duration::from_secs(1_800_000_000) + LAST_RETRY);
        assert!(failures > 5);
    }

    #[test]
    fn a_part_covers_its_account_and_region_and_the_own_part_every_account() {
        let part = PartKey::new(Some("111111111111"), "us-east-1");
        assert!(part.covers(&instance("i-1", "111111111111", "us-east-1")));
        assert!(!part.covers(&instance("i-2", "222222222222", "us-east-1")));
        assert!(!part.covers(&instance("i-3", "111111111111", "eu-west-1")));
        let own = PartKey::new(None, "us-east-1");
        assert!(own.covers(&instance("i-2", "222222222222", "us-east-1")));
        assert_eq!(own.account_label(), "own");
    }
}
