//! Tells systemd how the daemon is doing, over the sd_notify protocol, when
//! it runs as a `Type=notify` unit (`NOTIFY_SOCKET` is set); without that
//! variable every call here does nothing.
//!
//! The service calls this at the moments that matter: `READY=1` once, when
//! the first answer has reached every sink; `STATUS=` with the members and
//! the answer's age or why it is stale; `RELOADING=1` (with
//! `MONOTONIC_USEC=`) and `READY=1` around a reload; `STOPPING=1` when
//! shutdown starts. `WATCHDOG=1` goes out at half of `WatchdogSec=`, sent by
//! the watch loop itself while it awaits [`Notifier::watchdog_due`] or
//! [`Notifier::alive_while`]: a loop that stops being polled stops pinging,
//! and systemd restarts the service.

use super::status::Status;
use sd_notify::NotifyState;
use std::future::Future;
use std::time::{Duration, SystemTime};
use tokio::time::{Interval, MissedTickBehavior};

/// The longest `STATUS=` text sent, in characters (it is one line of
/// `systemctl status`).
const STATUS_LIMIT: usize = 160;

/// The shortest watchdog ping period, whatever `WATCHDOG_USEC` says.
const SHORTEST_PING: Duration = Duration::from_millis(1);
/// The longest, so that no timeout, however long, overflows a deadline.
const LONGEST_PING: Duration = Duration::from_secs(86_400);

/// The daemon's side of the sd_notify protocol.
pub struct Notifier {
    channel: Channel,
    /// Half the watchdog timeout; `None` without a watchdog.
    ping_every: Option<Duration>,
    /// Ticks every `ping_every`, from the first wait for a ping on: the
    /// loop's start, not the daemon's.
    pings: Option<Interval>,
    /// Whether `READY=1` has been sent.
    ready: bool,
    /// The last `STATUS=` text sent; the same again is not sent.
    last_status: String,
    /// Whether the last send failed (a failure is logged once until a send
    /// works again).
    failing: bool,
}

/// Where notifications go.
enum Channel {
    /// Not run by systemd: nowhere.
    Off,
    /// The socket `NOTIFY_SOCKET` names.
    Systemd,
    /// Kept in memory, one string per datagram, for tests.
    #[cfg(test)]
    Recording(std::sync::Arc<std::sync::Mutex<Vec<String>>>),
}

impl Notifier {
    /// Notifies the socket `NOTIFY_SOCKET` names, if set, and pings the
    /// watchdog if `WATCHDOG_USEC` is set (and `WATCHDOG_PID`, if set, is
    /// this process).
    pub fn from_env() -> Notifier {
        if std::env::var_os("NOTIFY_SOCKET").is_none() {
            return Notifier::new(Channel::Off, None);
        }
        let watchdog = sd_notify::watchdog_enabled();
        if let Some(timeout) = watchdog {
            tracing::info!(timeout = ?timeout, "systemd watchdog enabled; pinging at half the timeout.");
        }
        Notifier::new(Channel::Systemd, watchdog)
    }

    /// A notifier that sends nothing: for a daemon embedded in a program
    /// that speaks to systemd itself, if at all.
    pub fn off() -> Notifier {
        Notifier::new(Channel::Off, None)
    }

    /// A notifier that records each datagram it would send, with a
    /// watchdog of `watchdog`.
    #[cfg(test)]
    pub fn recording(
        watchdog: Option<Duration>,
    ) -> (Notifier, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        let record = std::sync::Arc::default();
        let notifier = Notifier::new(Channel::Recording(std::sync::Arc::clone(&record)), watchdog);
        (notifier, record)
    }

    fn new(channel: Channel, watchdog: Option<Duration>) -> Notifier {
        let ping_every = match channel {
            Channel::Off => None,
            _ => watchdog
                .filter(|timeout| !timeout.is_zero())
                .map(|timeout| (timeout / 2).clamp(SHORTEST_PING, LONGEST_PING)),
        };
        Notifier {
            channel,
            ping_every,
            pings: None,
            ready: false,
            last_status: String::new(),
            failing: false,
        }
    }

    /// Whether `READY=1` has been sent.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// `READY=1` with the status, the first time only.
    pub fn ready(&mut self, status: &Status) {
        if self.ready {
            return;
        }
        self.ready = true;
        let summary = summary(status, SystemTime::now());
        self.send(&[NotifyState::Ready, NotifyState::Status(&summary)]);
        self.last_status = summary;
    }

    /// `STATUS=` with the members and the answer's age, or why it is
    /// stale, unless that is what systemd shows already.
    pub fn status(&mut self, status: &Status) {
        let summary = summary(status, SystemTime::now());
        if summary != self.last_status {
            self.send(&[NotifyState::Status(&summary)]);
            self.last_status = summary;
        }
    }

    /// `RELOADING=1` with the monotonic time, once ready (a reload before
    /// the first answer is part of starting up).
    pub fn reloading(&mut self) {
        if !self.ready {
            return;
        }
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.send(&[NotifyState::Reloading, now]),
            Err(err) => {
                tracing::debug!(error = %err, "Cannot read the monotonic clock; RELOADING=1 without it.");
                self.send(&[NotifyState::Reloading]);
            }
        }
    }

    /// `READY=1` with the status after a reload, once ready; before that,
    /// the status alone.
    pub fn reloaded(&mut self, status: &Status) {
        if !self.ready {
            self.status(status);
            return;
        }
        let summary = summary(status, SystemTime::now());
        self.send(&[NotifyState::Ready, NotifyState::Status(&summary)]);
        self.last_status = summary;
    }

    /// `STOPPING=1`.
    pub fn stopping(&mut self) {
        self.send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
    }

    /// `EXTEND_TIMEOUT_USEC=`: systemd gives the stop `by` more (as much as
    /// the protocol can say, about 71 minutes, at the most).
    pub fn extend_stop(&mut self, by: Duration) {
        let usec = u32::try_from(by.as_micros()).unwrap_or(u32::MAX);
        self.send(&[NotifyState::ExtendTimeoutUsec(usec)]);
    }

    /// Waits for the next watchdog ping and sends it; never resolves
    /// without a watchdog. Cancel-safe: a ping not yet due stays due.
    pub async fn watchdog_due(&mut self) {
        let Some(period) = self.ping_every else {
            return std::future::pending().await;
        };
        let pings = self.pings.get_or_insert_with(|| {
            let mut pings = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            // After a stall, ping once and keep the pace from there: a burst
            // of pings would say nothing more.
            pings.set_missed_tick_behavior(MissedTickBehavior::Delay);
            pings
        });
        pings.tick().await;
        self.send(&[NotifyState::Watchdog]);
    }

    /// Runs `work` to its end, pinging the watchdog meanwhile: the loop is
    /// alive while it drives its own work (which has deadlines of its own).
    pub async fn alive_while<F: Future>(&mut self, work: F) -> F::Output {
        let mut work = std::pin::pin!(work);
        loop {
            tokio::select! {
                biased;
                output = &mut work => return output,
                () = self.watchdog_due() => {}
            }
        }
    }

    fn send(&mut self, states: &[NotifyState<'_>]) {
        let sent = match &self.channel {
            Channel::Off => return,
            Channel::Systemd => sd_notify::notify(states),
            #[cfg(test)]
            Channel::Recording(record) => {
                let datagram: Vec<String> = states.iter().map(ToString::to_string).collect();
                record
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(datagram.join("\n"));
                Ok(())
            }
        };
        match sent {
            Ok(()) => self.failing = false,
            Err(err) if !self.failing => {
                self.failing = true;
                tracing::warn!(error = %err, "Cannot notify systemd (NOTIFY_SOCKET); further failures are logged at debug level.");
            }
            Err(err) => tracing::debug!(error = %err, "Cannot notify systemd."),
        }
    }
}

/// One short line on the daemon's state: "12 members, answer 3s old", or
/// "stale: 12 members, answer 1m 35s old; refresh failing: <reason>".
pub fn summary(status: &Status, now: SystemTime) -> String {
    let ago = |at: SystemTime| {
        let seconds = now.duration_since(at).unwrap_or_default().as_secs();
        humantime::format_duration(Duration::from_secs(seconds)).to_string()
    };
    let answer = status.membership.as_ref().map(|membership| {
        let count = membership.members.len();
        let members = if count == 1 { "member" } else { "members" };
        match status.last_success {
            Some(at) => format!("{count} {members}, answer {} old", ago(at)),
            None => format!("{count} {members}"),
        }
    });
    let mut line = match (answer, &status.refresh_failure) {
        (None, None) => "starting: no answer yet".to_owned(),
        (None, Some(failure)) => format!(
            "no answer yet: refresh failed {} ago: {}",
            ago(failure.at),
            failure.error
        ),
        (Some(answer), None) => answer,
        (Some(answer), Some(failure)) => {
            format!("stale: {answer}; refresh failing: {}", failure.error)
        }
    };
    if let Some(failure) = &status.reload_failure {
        line.push_str(&format!("; reload failed: {}", failure.error));
    }
    let leaving = status
        .membership
        .as_ref()
        .and_then(|membership| membership.own.as_ref()?.leaving.as_ref());
    if let Some(leaving) = leaving {
        line.push_str(&format!("; leaving: {}", leaving.reason));
    }
    match status.sink_failures.len() {
        0 => {}
        1 => line.push_str("; 1 sink failing"),
        count => line.push_str(&format!("; {count} sinks failing")),
    }
    one_short_line(&line)
}

/// `text` on one line (the protocol separates fields by newlines), cut to
/// [`STATUS_LIMIT`] characters.
fn one_short_line(text: &str) -> String {
    let flat = text.chars().map(|c| if c.is_control() { ' ' } else { c });
    if text.chars().count() <= STATUS_LIMIT {
        return flat.collect();
    }
    let mut cut: String = flat.take(STATUS_LIMIT - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::status::Failure;
    use crate::membership::{InventorySummary, Membership};
    use crate::policy::{Member, PolicyIdentity};
    use std::sync::{Arc, Mutex};

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn answer(members: usize) -> Arc<Membership> {
        let member = |index: usize| Member {
            instance_id: format!("i-{index}"),
            role: "agent".to_owned(),
            clusters: Vec::new(),
            address: None,
            port: None,
            labels: Default::default(),
            status: Default::default(),
        };
        Arc::new(Membership {
            own: None,
            register_with: Vec::new(),
            members: (0..members).map(member).collect(),
            policy: PolicyIdentity {
                path: "p.wasm".into(),
                sha256: String::new(),
            },
            inventory: InventorySummary {
                source: "test".to_owned(),
                instances: members,
                fetched_at: String::new(),
                stale: false,
                stale_for_seconds: None,
                error: None,
                snapshot: None,
                stale_parts: Vec::new(),
            },
        })
    }

    fn failure(seconds: u64, error: &str) -> Option<Failure> {
        Some(Failure {
            at: at(seconds),
            error: error.to_owned(),
        })
    }

    #[test]
    fn the_summary_says_members_and_age_or_why_it_is_stale() {
        let mut status = Status::new(Duration::from_secs(90));
        assert_eq!(summary(&status, at(100)), "starting: no answer yet");
        status.refresh_failure = failure(90, "connection refused");
        assert_eq!(
            summary(&status, at(100)),
            "no answer yet: refresh failed 10s ago: connection refused"
        );
        status.refresh_failure = None;
        status.membership = Some(answer(12));
        status.last_success = Some(at(97));
        assert_eq!(summary(&status, at(100)), "12 members, answer 3s old");
        status.membership = Some(answer(1));
        status.refresh_failure = failure(190, "throttled");
        assert_eq!(
            summary(&status, at(192)),
            "stale: 1 member, answer 1m 35s old; refresh failing: throttled"
        );
        status.refresh_failure = None;
        status.reload_failure = failure(150, "bad plugin");
        status.sink_failures.insert(
            "file".into(),
            Failure {
                at: at(150),
                error: "disk full".into(),
            },
        );
        assert_eq!(
            summary(&status, at(100)),
            "1 member, answer 3s old; reload failed: bad plugin; 1 sink failing"
        );
    }

    #[test]
    fn the_summary_is_one_line_of_bounded_length() {
        let mut status = Status::new(Duration::from_secs(90));
        status.refresh_failure = failure(0, &format!("first\nREADY=1\n{}", "é".repeat(500)));
        let line = summary(&status, at(0));
        assert!(!line.contains('\n'), "{line}");
        assert!(line.starts_with("no answer yet: refresh failed 0s ago: first READY=1 é"));
        assert_eq!(line.chars().count(), STATUS_LIMIT);
        assert!(line.ends_with('…'));
    }

    fn sent(record: &Mutex<Vec<String>>) -> Vec<String> {
        record.lock().unwrap().clone()
    }

    #[tokio::test(start_paused = true)]
    async fn the_watchdog_is_pinged_at_half_its_timeout_while_work_runs() {
        let (mut notifier, record) = Notifier::recording(Some(Duration::from_secs(10)));
        let start = tokio::time::Instant::now();
        let output = notifier
            .alive_while(tokio::time::sleep(Duration::from_secs(22)))
            .await;
        assert_eq!(output, ());
        assert_eq!(start.elapsed(), Duration::from_secs(22));
        assert_eq!(sent(&record), ["WATCHDOG=1"; 4], "at 5, 10, 15 and 20 s");
        // And on their own, at the same pace.
        tokio::time::timeout(Duration::from_secs(9), async {
            loop {
                notifier.watchdog_due().await;
            }
        })
        .await
        .unwrap_err();
        assert_eq!(sent(&record).len(), 6, "at 25 and 30 s");
    }

    #[tokio::test(start_paused = true)]
    async fn a_watchdog_timeout_of_any_length_is_kept_without_overflowing() {
        // WATCHDOG_USEC=18446744073709551615: half of it added to now
        // overflowed tokio's clock.
        let (mut notifier, record) = Notifier::recording(Some(Duration::MAX));
        notifier
            .alive_while(tokio::time::sleep(LONGEST_PING + Duration::from_secs(1)))
            .await;
        assert_eq!(sent(&record), ["WATCHDOG=1"], "pinged at least daily");
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_watchdog_nothing_is_pinged() {
        let (mut notifier, record) = Notifier::recording(None);
        notifier
            .alive_while(tokio::time::sleep(Duration::from_secs(3600)))
            .await;
        assert!(sent(&record).is_empty());
        let waited = tokio::time::timeout(Duration::from_secs(3600), notifier.watchdog_due()).await;
        assert!(waited.is_err(), "never due");
    }

    #[tokio::test(start_paused = true)]
    async fn ready_once_and_reloads_only_after_it() {
        let (mut notifier, record) = Notifier::recording(None);
        let status = Status::new(Duration::from_secs(90));
        notifier.reloading();
        notifier.reloaded(&status);
        assert_eq!(
            sent(&record),
            ["STATUS=starting: no answer yet"],
            "a reload while starting is part of starting"
        );
        record.lock().unwrap().clear();
        notifier.ready(&status);
        notifier.ready(&status);
        notifier.reloading();
        notifier.reloaded(&status);
        notifier.status(&status);
        notifier.stopping();
        let sent = sent(&record);
        let fields: Vec<Vec<&str>> = sent
            .iter()
            .map(|datagram| {
                datagram
                    .lines()
                    .map(|line| line.split('=').next().unwrap())
                    .collect()
            })
            .collect();
        assert_eq!(
            fields,
            [
                vec!["READY", "STATUS"],
                vec!["RELOADING", "MONOTONIC_USEC"],
                vec!["READY", "STATUS"],
                vec!["STOPPING", "STATUS"],
            ],
            "the same status again is not sent"
        );
        assert_eq!(sent[0], "READY=1\nSTATUS=starting: no answer yet");
    }
}
