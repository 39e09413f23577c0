//! The answer a reload's new policy is judged against besides the one in
//! service ([`super::guard`]): the largest answer served within the change
//! window. A smaller answer does not replace it, so a fleet cannot be
//! shrunk in steps that each stay under `max_change`; an answer as large
//! renews it, and once it is older than the window the next answer served
//! takes its place.

use crate::inventory::Inventory;
use crate::membership::Membership;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The largest answer served lately, and when it was last served.
#[derive(Debug, Default)]
pub struct LargestAnswer {
    held: Option<(Arc<Membership>, Instant)>,
}

impl LargestAnswer {
    /// Notes `answer`, served `now`: it replaces the one held if it has as
    /// many members or more, or if the one held is older than `window`.
    pub fn record(&mut self, answer: &Arc<Membership>, now: Instant, window: Duration) {
        let keep = self.held.as_ref().is_some_and(|(largest, since)| {
            largest.members.len() > answer.members.len()
                && now.saturating_duration_since(*since) <= window
        });
        if !keep {
            self.held = Some((Arc::clone(answer), now));
        }
    }

    /// The largest answer served within `window` before `now`, with only
    /// its members still running in `fleet`: an instance that stopped or
    /// left since was not dropped by a policy.
    pub fn within(&self, fleet: &Inventory, now: Instant, window: Duration) -> Option<Membership> {
        let (largest, since) = self.held.as_ref()?;
        if now.saturating_duration_since(*since) > window {
            return None;
        }
        let running: HashSet<&str> = fleet
            .instances
            .iter()
            .filter(|instance| instance.state == "running")
            .map(|instance| instance.id.as_str())
            .collect();
        let mut answer = (**largest).clone();
        answer
            .members
            .retain(|member| running.contains(member.instance_id.as_str()));
        Some(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Instance;
    use crate::membership::sample;
    use std::time::SystemTime;

    const WINDOW: Duration = Duration::from_secs(3600);

    /// An answer of `count` monitors `i-0`, `i-1`, ...
    fn answer(count: usize) -> Arc<Membership> {
        let ids: Vec<String> = (0..count).map(|n| format!("i-{n}")).collect();
        let members: Vec<(&str, &str)> = ids.iter().map(|id| (id.as_str(), "monitor")).collect();
        Arc::new(sample(&members, &[]))
    }

    /// A fleet of `count` running instances `i-0`, `i-1`, ...
    fn fleet(count: usize) -> Inventory {
        Inventory {
            instances: (0..count)
                .map(|n| Instance::running(&format!("i-{n}")))
                .collect(),
            source: "test".to_owned(),
            fetched_at: SystemTime::now(),
            snapshot: None,
            unconfirmed: Vec::new(),
            stale_parts: Vec::new(),
        }
    }

    fn members(largest: &LargestAnswer, fleet: &Inventory) -> Option<usize> {
        largest
            .within(fleet, Instant::now(), WINDOW)
            .map(|answer| answer.members.len())
    }

    #[tokio::test(start_paused = true)]
    async fn a_smaller_answer_does_not_replace_the_largest_within_the_window() {
        let mut largest = LargestAnswer::default();
        let everyone = fleet(10);
        assert_eq!(members(&largest, &everyone), None, "nothing served yet");
        largest.record(&answer(10), Instant::now(), WINDOW);
        tokio::time::advance(Duration::from_secs(60)).await;
        largest.record(&answer(6), Instant::now(), WINDOW);
        assert_eq!(members(&largest, &everyone), Some(10), "a step down");
        tokio::time::advance(WINDOW - Duration::from_secs(60)).await;
        largest.record(&answer(3), Instant::now(), WINDOW);
        assert_eq!(members(&largest, &everyone), Some(10), "the window's end");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(members(&largest, &everyone), None, "past the window");
        largest.record(&answer(3), Instant::now(), WINDOW);
        assert_eq!(members(&largest, &everyone), Some(3), "the next answer");
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_as_large_renews_the_window() {
        let mut largest = LargestAnswer::default();
        let everyone = fleet(10);
        largest.record(&answer(10), Instant::now(), WINDOW);
        tokio::time::advance(WINDOW).await;
        largest.record(&answer(10), Instant::now(), WINDOW);
        tokio::time::advance(WINDOW).await;
        largest.record(&answer(2), Instant::now(), WINDOW);
        assert_eq!(members(&largest, &everyone), Some(10));
    }

    #[tokio::test(start_paused = true)]
    async fn members_no_longer_running_in_the_fleet_are_left_out() {
        let mut largest = LargestAnswer::default();
        largest.record(&answer(10), Instant::now(), WINDOW);
        let mut shrunk = fleet(6);
        shrunk.instances[5].state = "stopped".to_owned();
        assert_eq!(members(&largest, &shrunk), Some(5));
    }
}
