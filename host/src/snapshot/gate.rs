//! How likely a node is to list EC2 itself when the shared snapshot cannot
//! serve it: chosen so that the whole fleet's expected calls stay within a
//! budget in every account-region (each has a bucket of its own), whatever
//! the fleet's size.

use crate::inventory::{Instance, PartKey, auto_scaling_calls_per_listing};
use std::collections::HashMap;
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

/// The calls one listing of `known` (the fleet last served) takes in its
/// busiest account-region of `parts`, each of which has a budget of its
/// own: `DescribeInstances` pages of `page_size`, at least one per part,
/// and Auto Scaling's batches for the part's groups.
pub fn busiest_part_calls(known: &[Instance], parts: &[PartKey], page_size: u32) -> usize {
    let index: HashMap<(Option<&str>, &str), usize> = parts
        .iter()
        .enumerate()
        .map(|(n, part)| ((part.account.as_deref(), part.region.as_str()), n))
        .collect();
    let mut by_part: Vec<Vec<&Instance>> = vec![Vec::new(); parts.len()];
    for instance in known {
        let Some(region) = instance.region.as_deref() else {
            continue;
        };
        let part = index
            .get(&(instance.account.as_deref(), region))
            .or_else(|| index.get(&(None, region)));
        if let Some(&part) = part {
            by_part[part].push(instance);
        }
    }
    by_part
        .iter()
        .map(|instances| {
            let pages = instances.len().div_ceil(page_size.max(1) as usize).max(1);
            pages + auto_scaling_calls_per_listing(instances.iter().copied())
        })
        .max()
        .unwrap_or(1)
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

    fn instance(id: usize, account: &str, region: &str) -> Instance {
        let mut instance = Instance::running(&format!("i-{id:017x}"));
        instance.account = Some(account.to_owned());
        instance.region = Some(region.to_owned());
        instance
    }

    #[test]
    fn a_listing_costs_what_its_busiest_account_region_pays() {
        let parts = [
            PartKey::new(Some("111111111111"), "us-east-1"),
            PartKey::new(Some("111111111111"), "eu-west-1"),
            PartKey::new(Some("222222222222"), "us-east-1"),
        ];
        // 2,500 in one account-region, 10 in another, none in the third.
        let mut known: Vec<Instance> = (0..2_500)
            .map(|n| instance(n, "111111111111", "us-east-1"))
            .collect();
        known.extend((0..10).map(|n| instance(10_000 + n, "222222222222", "us-east-1")));
        assert_eq!(busiest_part_calls(&known, &parts, 1000), 3);
        // A fleet of one account and region: its pages, at least one.
        let own = [PartKey::new(None, "us-east-1")];
        assert_eq!(busiest_part_calls(&known, &own, 1000), 3);
        assert_eq!(busiest_part_calls(&[], &own, 1000), 1);
        assert_eq!(busiest_part_calls(&known[..1000], &own, 1000), 1);
        assert_eq!(busiest_part_calls(&known[..1001], &own, 1000), 2);
    }
}
