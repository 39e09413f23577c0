//! Waiting at boot (`resolve --wait-for`): the conditions an answer must
//! meet, and the loop that asks again, with jitter and backoff, until they
//! hold or the time is up.

use crate::membership::Membership;
use std::fmt;
use std::future::Future;
use std::ops::ControlFlow;
use std::str::FromStr;
use std::time::Duration;
use tokio::time::Instant;

/// What an answer must show before a boot script may go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// `targets>=N`: self has at least N registration targets.
    Targets(usize),
    /// `role=NAME>=N`: at least N members (self included) have the role.
    Role { name: String, at_least: usize },
    /// `self-role`: the policy gave self a role.
    SelfRole,
}

/// How conditions are written, for `--help` and errors.
pub const CONDITION_SYNTAX: &str = "targets>=N, role=NAME>=N or self-role";

impl FromStr for Condition {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text == "self-role" {
            return Ok(Condition::SelfRole);
        }
        let expected = || format!("{text:?} is not a condition (expected {CONDITION_SYNTAX})");
        let (subject, count) = text.split_once(">=").ok_or_else(expected)?;
        let count: usize = count.trim().parse().map_err(|_| {
            format!(
                "{text:?}: {:?} is not a count (expected a whole number such as 2)",
                count.trim()
            )
        })?;
        match subject.trim().split_once('=') {
            None if subject.trim() == "targets" => Ok(Condition::Targets(count)),
            Some((kind, name)) if kind.trim() == "role" && !name.trim().is_empty() => {
                Ok(Condition::Role {
                    name: name.trim().to_owned(),
                    at_least: count,
                })
            }
            _ => Err(expected()),
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::Targets(count) => write!(f, "targets>={count}"),
            Condition::Role { name, at_least } => write!(f, "role={name}>={at_least}"),
            Condition::SelfRole => f.write_str("self-role"),
        }
    }
}

impl Condition {
    /// Whether the condition is about self, and so cannot hold without one.
    pub fn needs_self(&self) -> bool {
        !matches!(self, Condition::Role { .. })
    }

    /// `None` when `membership` meets the condition, else what was seen
    /// instead (`role=monitor: 0 of 2`).
    pub fn unmet(&self, membership: &Membership) -> Option<String> {
        match self {
            Condition::Targets(wanted) => {
                let seen = membership.register_with.len();
                (seen < *wanted).then(|| format!("targets: {seen} of {wanted}"))
            }
            Condition::Role { name, at_least } => {
                let seen = membership
                    .members
                    .iter()
                    .filter(|member| member.role == *name)
                    .count();
                (seen < *at_least).then(|| format!("role={name}: {seen} of {at_least}"))
            }
            Condition::SelfRole => match &membership.own {
                None => Some("self-role: there is no self".to_owned()),
                Some(own) if own.role.is_none() => Some(format!(
                    "self-role: the policy gave {} no role",
                    own.instance_id
                )),
                Some(_) => None,
            },
        }
    }
}

/// What `--wait-for`, `--wait-timeout` and `--wait-interval` ask.
#[derive(Debug, Clone)]
pub struct Waiting {
    /// Every one must hold.
    pub conditions: Vec<Condition>,
    /// When to give up, from the first attempt.
    pub timeout: Duration,
    /// The pause between attempts, before jitter and backoff.
    pub interval: Duration,
}

/// Each pause is the interval times a random factor in this range, so that
/// instances booted together do not ask in lockstep.
const JITTER: (f64, f64) = (0.5, 1.5);

/// Throttled attempts double the pause, up to this many times.
const MAX_DOUBLINGS: u32 = 5;

/// One attempt's outcome, as the waiting loop needs to know it.
#[derive(Debug)]
#[allow(clippy::large_enum_variant, reason = "one per try, a few per minute")]
pub enum Tried<E> {
    /// The fleet was fetched and decided.
    Answer(Membership),
    /// Worth trying again: the source failed, or has not listed self yet.
    Transient { error: E, throttled: bool },
    /// Trying again cannot help: bad input, a failing policy.
    Final(E),
}

/// How the wait ended.
#[derive(Debug)]
pub enum Waited<E> {
    /// An answer met every condition.
    Met(Membership),
    /// Time ran out: the last answer, what it lacked, and the failure of a
    /// later attempt if one failed.
    Unmet {
        last: Membership,
        unmet: Vec<String>,
        failed_since: Option<E>,
    },
    /// Time ran out before any answer: the last failure.
    NoAnswer(E),
    /// An attempt failed in a way that waiting cannot mend.
    Failed(E),
}

/// What the attempts so far have given.
#[allow(clippy::large_enum_variant, reason = "one per wait")]
enum Latest<E> {
    /// An answer that lacks something, and the failure of a later attempt.
    Answer {
        last: Membership,
        failed_since: Option<E>,
    },
    /// No answer yet; only failures.
    Failure(E),
}

impl Waiting {
    /// What `membership` lacks; empty when every condition holds.
    pub fn unmet(&self, membership: &Membership) -> Vec<String> {
        self.conditions
            .iter()
            .filter_map(|condition| condition.unmet(membership))
            .collect()
    }

    /// When a wait that began at `started` gives up.
    pub fn deadline(&self, started: Instant) -> Instant {
        started
            .checked_add(self.timeout)
            .unwrap_or_else(|| started + Duration::from_secs(86_400 * 365))
    }

    /// Takes `first` and then the outcomes of `attempt` until one answer
    /// meets every condition, an attempt fails for good, or the timeout
    /// passes, counted from `started`, which the first try's time is part
    /// of (an attempt still running then is abandoned).
    pub async fn until_met<E, F, Fut>(
        &self,
        started: Instant,
        first: Tried<E>,
        mut attempt: F,
    ) -> Waited<E>
    where
        E: fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Tried<E>>,
    {
        let deadline = self.deadline(started);
        let mut rng = fastrand::Rng::new();
        let mut said = String::new();
        let mut doublings = backoff(0, &first);
        let mut latest = match self.absorb(None, first, &mut said) {
            ControlFlow::Continue(latest) => latest,
            ControlFlow::Break(waited) => return waited,
        };
        loop {
            let jitter = rng.f64().mul_add(JITTER.1 - JITTER.0, JITTER.0);
            let pause = self
                .interval
                .mul_f64(jitter)
                .saturating_mul(2u32.pow(doublings));
            let wake = Instant::now().checked_add(pause).unwrap_or(deadline);
            tokio::time::sleep_until(deadline.min(wake)).await;
            if Instant::now() >= deadline {
                break;
            }
            let Ok(tried) = tokio::time::timeout_at(deadline, attempt()).await else {
                break;
            };
            doublings = backoff(doublings, &tried);
            latest = match self.absorb(Some(latest), tried, &mut said) {
                ControlFlow::Continue(latest) => latest,
                ControlFlow::Break(waited) => return waited,
            };
        }
        match latest {
            Latest::Answer { last, failed_since } => Waited::Unmet {
                unmet: self.unmet(&last),
                last,
                failed_since,
            },
            Latest::Failure(error) => Waited::NoAnswer(error),
        }
    }

    /// `latest` updated with one more attempt, or the end of the wait;
    /// says what is lacking or failing whenever that changes (`said` holds
    /// what was said last).
    fn absorb<E: fmt::Display>(
        &self,
        latest: Option<Latest<E>>,
        tried: Tried<E>,
        said: &mut String,
    ) -> ControlFlow<Waited<E>, Latest<E>> {
        let mut say = |news: String| {
            if news != *said {
                tracing::warn!(waiting_for = %self.written(), "Waiting: {news}");
                *said = news;
            }
        };
        match tried {
            Tried::Answer(last) => {
                let unmet = self.unmet(&last);
                if unmet.is_empty() {
                    return ControlFlow::Break(Waited::Met(last));
                }
                say(unmet.join(", "));
                ControlFlow::Continue(Latest::Answer {
                    last,
                    failed_since: None,
                })
            }
            Tried::Transient { error, .. } => {
                say(format!("trying again after: {error}"));
                ControlFlow::Continue(match latest {
                    Some(Latest::Answer { last, .. }) => Latest::Answer {
                        last,
                        failed_since: Some(error),
                    },
                    _ => Latest::Failure(error),
                })
            }
            Tried::Final(error) => ControlFlow::Break(Waited::Failed(error)),
        }
    }

    /// The conditions as given, for logs and messages.
    pub fn written(&self) -> String {
        self.conditions
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// How many times to double the next pause: once more after each throttled
/// attempt, up to [`MAX_DOUBLINGS`]; back to none after any other.
fn backoff<E>(doublings: u32, tried: &Tried<E>) -> u32 {
    match tried {
        Tried::Transient {
            throttled: true, ..
        } => (doublings + 1).min(MAX_DOUBLINGS),
        _ => 0,
    }
}

#[cfg(test)]
mod tests;
