use super::*;
use crate::membership::{SelfEntry, sample};
use std::cell::RefCell;
use std::collections::VecDeque;

fn condition(text: &str) -> Condition {
    text.parse().unwrap_or_else(|err| panic!("{text}: {err}"))
}

#[test]
fn conditions_are_read_as_written_and_bad_ones_say_what_was_expected() {
    assert_eq!(condition("targets>=2"), Condition::Targets(2));
    assert_eq!(
        condition(" role = monitor >= 3 "),
        Condition::Role {
            name: "monitor".to_owned(),
            at_least: 3
        }
    );
    assert_eq!(condition("self-role"), Condition::SelfRole);
    for text in ["role=monitor>=2", "targets>=0", "self-role"] {
        assert_eq!(condition(text).to_string(), text);
    }
    let err = "monitors>=2".parse::<Condition>().unwrap_err();
    assert!(
        err.contains("expected targets>=N, role=NAME>=N or self-role"),
        "{err}"
    );
    let err = "role=>=2".parse::<Condition>().unwrap_err();
    assert!(err.contains("is not a condition"), "{err}");
    let err = "targets>=two".parse::<Condition>().unwrap_err();
    assert!(err.contains("\"two\" is not a count"), "{err}");
    let err = "targets>=-1".parse::<Condition>().unwrap_err();
    assert!(err.contains("is not a count"), "{err}");
}

/// Two monitors and an agent; self (the agent, or nobody) registers with
/// `targets` of the monitors.
fn fleet(own: Option<(&str, Option<&str>)>, targets: usize) -> Membership {
    let monitors = [("i-m1", "10.0.0.1"), ("i-m2", "10.0.0.2")];
    let mut membership = sample(
        &[("i-a1", "agent"), ("i-m1", "monitor"), ("i-m2", "monitor")],
        &monitors[..targets],
    );
    membership.own = own.map(|(id, role)| SelfEntry {
        instance_id: id.to_owned(),
        role: role.map(str::to_owned),
        clusters: Vec::new(),
        leaving: None,
    });
    membership
}

#[test]
fn unmet_conditions_say_what_was_seen() {
    let agent = fleet(Some(("i-a1", Some("agent"))), 1);
    assert_eq!(condition("targets>=1").unmet(&agent), None);
    assert_eq!(
        condition("targets>=2").unmet(&agent).as_deref(),
        Some("targets: 1 of 2")
    );
    assert_eq!(condition("role=monitor>=2").unmet(&agent), None);
    assert_eq!(
        condition("role=monitor>=3").unmet(&agent).as_deref(),
        Some("role=monitor: 2 of 3")
    );
    assert_eq!(
        condition("role=seed>=1").unmet(&agent).as_deref(),
        Some("role=seed: 0 of 1")
    );
    assert_eq!(condition("self-role").unmet(&agent), None);
    let roleless = fleet(Some(("i-x9", None)), 0);
    assert_eq!(
        condition("self-role").unmet(&roleless).as_deref(),
        Some("self-role: the policy gave i-x9 no role")
    );
    assert_eq!(
        condition("self-role").unmet(&fleet(None, 0)).as_deref(),
        Some("self-role: there is no self")
    );
    assert!(condition("targets>=1").needs_self());
    assert!(condition("self-role").needs_self());
    assert!(!condition("role=monitor>=1").needs_self());
}

fn waiting(conditions: &[&str], timeout: u64, interval: u64) -> Waiting {
    Waiting {
        conditions: conditions.iter().map(|text| condition(text)).collect(),
        timeout: Duration::from_secs(timeout),
        interval: Duration::from_secs(interval),
    }
}

/// Attempts that answer from a script, recording when each was made (in
/// seconds since the start); once the script is spent, every attempt
/// answers like the last.
struct Script {
    started: Instant,
    outcomes: RefCell<VecDeque<Outcome>>,
    asked_at: RefCell<Vec<f64>>,
}

#[derive(Clone)]
enum Outcome {
    Answer(usize),
    Down,
    Throttled,
    Broken,
    Hangs,
    /// Down, after this many seconds.
    SlowlyDown(u64),
}

impl Script {
    fn new(outcomes: &[Outcome]) -> Self {
        Script {
            started: Instant::now(),
            outcomes: RefCell::new(outcomes.iter().cloned().collect()),
            asked_at: RefCell::new(Vec::new()),
        }
    }

    async fn attempt(&self) -> Tried<String> {
        self.asked_at
            .borrow_mut()
            .push(self.started.elapsed().as_secs_f64());
        let outcome = {
            let mut outcomes = self.outcomes.borrow_mut();
            if outcomes.len() > 1 {
                outcomes.pop_front()
            } else {
                outcomes.front().cloned()
            }
        };
        match outcome.expect("a script") {
            Outcome::Answer(targets) => {
                Tried::Answer(fleet(Some(("i-a1", Some("agent"))), targets))
            }
            Outcome::Down => Tried::Transient {
                error: "EC2 is down".to_owned(),
                throttled: false,
            },
            Outcome::Throttled => Tried::Transient {
                error: "throttled".to_owned(),
                throttled: true,
            },
            Outcome::Broken => Tried::Final("the policy trapped".to_owned()),
            Outcome::Hangs => std::future::pending().await,
            Outcome::SlowlyDown(seconds) => {
                tokio::time::sleep(Duration::from_secs(seconds)).await;
                Tried::Transient {
                    error: "EC2 is down".to_owned(),
                    throttled: false,
                }
            }
        }
    }

    fn pauses(&self) -> Vec<f64> {
        self.asked_at
            .borrow()
            .windows(2)
            .map(|pair| pair[1] - pair[0])
            .collect()
    }
}

/// The wait as `resolve` runs it: its time starts before the first try.
async fn run(waiting: &Waiting, script: &Script) -> Waited<String> {
    let started = Instant::now();
    let first = script.attempt().await;
    waiting.until_met(started, first, || script.attempt()).await
}

#[tokio::test(start_paused = true)]
async fn the_first_tries_time_counts_against_the_timeout() {
    let script = Script::new(&[Outcome::SlowlyDown(20)]);
    let started = Instant::now();
    let waited = run(&waiting(&["targets>=1"], 30, 1), &script).await;
    assert!(matches!(waited, Waited::NoAnswer(_)), "{waited:?}");
    assert_eq!(started.elapsed(), Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn the_first_answer_that_meets_every_condition_ends_the_wait() {
    let script = Script::new(&[
        Outcome::Answer(0),
        Outcome::Down,
        Outcome::Answer(1),
        Outcome::Answer(2),
    ]);
    let waited = run(
        &waiting(&["targets>=2", "role=monitor>=2"], 300, 10),
        &script,
    )
    .await;
    let Waited::Met(membership) = waited else {
        panic!("{waited:?}")
    };
    assert_eq!(membership.register_with.len(), 2);
    assert_eq!(script.asked_at.borrow().len(), 4);
    for pause in script.pauses() {
        assert!((5.0..=15.0).contains(&pause), "{:?}", script.pauses());
    }
}

#[tokio::test(start_paused = true)]
async fn pauses_are_jittered_so_a_fleet_booted_together_spreads_out() {
    let script = Script::new(&[Outcome::Answer(0)]);
    let waited = run(&waiting(&["targets>=1"], 2_000, 10), &script).await;
    assert!(matches!(waited, Waited::Unmet { .. }), "{waited:?}");
    let pauses = script.pauses();
    assert!(pauses.len() > 100, "{pauses:?}");
    assert!(pauses.iter().all(|pause| (5.0..=15.0).contains(pause)));
    let shortest = pauses.iter().copied().fold(f64::MAX, f64::min);
    let longest = pauses.iter().copied().fold(0.0, f64::max);
    assert!(shortest < 7.0 && longest > 13.0, "{shortest} .. {longest}");
}

#[tokio::test(start_paused = true)]
async fn throttling_doubles_the_pause_and_an_answer_resets_it() {
    let script = Script::new(&[
        Outcome::Throttled,
        Outcome::Throttled,
        Outcome::Throttled,
        Outcome::Answer(0),
        Outcome::Answer(1),
    ]);
    let waited = run(&waiting(&["targets>=1"], 3_600, 10), &script).await;
    assert!(matches!(waited, Waited::Met(_)), "{waited:?}");
    let pauses = script.pauses();
    let bounds = [(10.0, 30.0), (20.0, 60.0), (40.0, 120.0), (5.0, 15.0)];
    assert_eq!(pauses.len(), bounds.len(), "{pauses:?}");
    for (pause, (low, high)) in pauses.iter().zip(bounds) {
        assert!((low..=high).contains(pause), "{pauses:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn at_the_timeout_the_last_answer_comes_back_with_what_it_lacked() {
    let script = Script::new(&[Outcome::Answer(1), Outcome::Down]);
    let started = Instant::now();
    let waited = run(
        &waiting(&["targets>=2", "role=monitor>=1"], 60, 10),
        &script,
    )
    .await;
    assert_eq!(started.elapsed(), Duration::from_secs(60));
    let Waited::Unmet {
        last,
        unmet,
        failed_since,
    } = waited
    else {
        panic!("{waited:?}")
    };
    assert_eq!(last.register_with.len(), 1);
    assert_eq!(unmet, ["targets: 1 of 2"]);
    assert_eq!(failed_since.as_deref(), Some("EC2 is down"));
}

#[tokio::test(start_paused = true)]
async fn a_source_that_never_answers_is_reported_at_the_timeout() {
    let script = Script::new(&[Outcome::Down]);
    let waited = run(&waiting(&["targets>=1"], 30, 1), &script).await;
    let Waited::NoAnswer(failure) = waited else {
        panic!("{waited:?}")
    };
    assert_eq!(failure, "EC2 is down");
    assert!(script.asked_at.borrow().len() > 15);
}

#[tokio::test(start_paused = true)]
async fn a_failure_that_waiting_cannot_mend_ends_the_wait_at_once() {
    let script = Script::new(&[Outcome::Answer(0), Outcome::Broken]);
    let started = Instant::now();
    let waited = run(&waiting(&["targets>=1"], 300, 10), &script).await;
    assert!(
        matches!(&waited, Waited::Failed(error) if error == "the policy trapped"),
        "{waited:?}"
    );
    assert!(started.elapsed() <= Duration::from_secs(15));
}

#[tokio::test(start_paused = true)]
async fn an_attempt_still_running_at_the_timeout_is_abandoned() {
    let script = Script::new(&[Outcome::Answer(0), Outcome::Hangs]);
    let started = Instant::now();
    let waited = run(&waiting(&["targets>=1"], 45, 10), &script).await;
    assert_eq!(started.elapsed(), Duration::from_secs(45));
    assert!(
        matches!(
            waited,
            Waited::Unmet {
                failed_since: None,
                ..
            }
        ),
        "{waited:?}"
    );
}
