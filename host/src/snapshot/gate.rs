//! How likely a node is to list EC2 itself when the shared snapshot cannot
//! serve it: chosen so that the whole fleet's expected calls stay within a
//! budget, whatever its size.

use std::time::Duration;

/// The chance that one node lists EC2 this period, when every one of
/// `nodes` nodes faces the same choice once per `refresh`: a listing costs
/// `pages` calls, and all of them together may spend `budget` calls per
/// second. Each throttled listing in a row halves it. An unknown fleet size
/// (a node that has seen no fleet yet) gives 1: one listing at boot.
pub fn listing_chance(
    budget: f64,
    refresh: Duration,
    nodes: Option<usize>,
    pages: usize,
    throttled_in_a_row: u32,
) -> f64 {
    let Some(nodes) = nodes.filter(|&nodes| nodes > 0) else {
        return 1.0;
    };
    let calls_per_period = nodes as f64 * pages.max(1) as f64;
    let chance = budget * refresh.as_secs_f64() / calls_per_period;
    let backoff = 0.5_f64.powi(throttled_in_a_row.min(30) as i32);
    (chance * backoff).clamp(0.0, 1.0)
}

/// The `DescribeInstances` calls one listing of `instances` takes:
/// `page_size` a page, at least one call per region.
pub fn pages(instances: usize, page_size: u32, regions: usize) -> usize {
    let pages = instances.div_ceil(page_size.max(1) as usize).max(1);
    pages + regions.saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFRESH: Duration = Duration::from_secs(30);

    #[test]
    fn the_fleet_spends_the_budget_in_expectation() {
        // 10,000 nodes, 10 pages each, 2 calls/s for 30 s: 60 of 100,000.
        let chance = listing_chance(2.0, REFRESH, Some(10_000), 10, 0);
        assert!((chance - 0.0006).abs() < 1e-12, "{chance}");
        // A small fleet may all list.
        assert_eq!(listing_chance(2.0, REFRESH, Some(20), 1, 0), 1.0);
    }

    #[test]
    fn throttling_halves_it_and_an_unknown_fleet_lists_once() {
        let calm = listing_chance(2.0, REFRESH, Some(1_000), 1, 0);
        assert_eq!(listing_chance(2.0, REFRESH, Some(1_000), 1, 2), calm / 4.0);
        assert_eq!(listing_chance(2.0, REFRESH, None, 1, 0), 1.0);
        assert_eq!(listing_chance(2.0, REFRESH, Some(0), 1, 0), 1.0);
        assert!(listing_chance(2.0, REFRESH, Some(1_000), 1, u32::MAX) < 1e-9);
    }

    #[test]
    fn pages_per_listing() {
        assert_eq!(pages(0, 1000, 1), 1);
        assert_eq!(pages(1000, 1000, 1), 1);
        assert_eq!(pages(1001, 1000, 1), 2);
        assert_eq!(pages(10_000, 1000, 2), 11);
    }
}
