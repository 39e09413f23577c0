//! The change guard of hot reload: a new policy that would drop too many of
//! the members served now or lately, or leave self with nobody to register
//! with, is refused until the operator accepts that exact change.
//!
//! The rule, on one fleet (the trial's), between the answer of the policy in
//! service and the candidate's answer:
//! - *dropped* = the members that leave + the members whose role changes
//!   (joins, and cluster or address changes, drop nobody); with `N` members
//!   now and `max_change = "P%"`, the change is refused when
//!   `dropped * 100 > P * N`: 5 of 10 pass at 50%, 6 of 10 do not. With no
//!   member now (`N = 0`) nothing can be dropped and this never refuses.
//! - the same, against the largest answer served within `change_window`
//!   ([`super::baseline`]), counting only its members still running in the
//!   fleet: drops in steps (10 → 6 → 3, each under 50%) add up there.
//! - self registered with at least one member and would register with none.
//!
//! `max_change = "off"` turns all of it off; `accept_change` naming the
//! change (see [`ChangeId`]) lets that one change through whatever it drops.
//! These settings judge from the reload after the one that changes them: an
//! edit cannot turn the guard off for itself. Only a change of the policy
//! (its plugin's bytes or its settings) is guarded: not the first start, not
//! a reload that changes only the source, sinks, self or limits, and not
//! one with no fleet yet to compare on.

use crate::diff::DecisionDiff;
use crate::membership::Membership;
use crate::policy::Decision;
use crate::settings::{ChangeGuard, ChangeId, MaxChange};
use std::fmt;
use std::time::Duration;

impl ChangeId {
    /// The change to a plugin of hash `plugin_sha256` with `settings`.
    pub fn of(plugin_sha256: &str, settings: &str) -> ChangeId {
        ChangeId::from_digest(crate::policy::sha256_hex(
            format!("{plugin_sha256}\n{settings}").as_bytes(),
        ))
    }
}

/// What the guard says of a change.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Within the limits (or the guard is off).
    Pass,
    /// Past them, but `accept_change` names this change.
    Accepted(Refusal),
    /// Past them: the reload must not happen.
    Refused(Refusal),
}

/// Why a change was, or would have been, refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub change: ChangeId,
    pub breaches: Vec<Breach>,
    /// [`DecisionDiff::summary`] of the two answers.
    pub summary: String,
    /// Whether a configuration file can take `accept_change` (else only a
    /// restart takes the change).
    pub configured: bool,
}

/// One limit a change goes past.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Breach {
    /// `dropped` of the `members` of the answer `of` would leave or change
    /// role, more than `max` allows.
    Dropped {
        dropped: usize,
        members: usize,
        max: MaxChange,
        of: Compared,
    },
    /// Self registers with `targets` members now, and would with none.
    Stranded { own: String, targets: usize },
}

/// The answer a candidate's drops are counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compared {
    /// The answer of the policy in service, on the trial's fleet.
    Current,
    /// The largest answer served within `window`, its members still running
    /// in the trial's fleet.
    Largest { window: Duration },
}

/// What a candidate is judged against: the answer of the policy in service
/// on the trial's fleet, and the largest answer served lately (its members
/// still running in that fleet; see [`super::baseline`]).
#[derive(Debug, Clone, Copy)]
pub struct Judged<'a> {
    pub current: &'a Membership,
    pub largest: Option<&'a Membership>,
}

impl ChangeGuard {
    /// The verdict on `change`, from `judged` to `candidate` (the new
    /// policy's answer on the trial's fleet).
    pub fn judge(
        &self,
        change: ChangeId,
        judged: Judged<'_>,
        candidate: &Membership,
        configured: bool,
    ) -> Verdict {
        let MaxChange::Percent(percent) = self.max_change else {
            return Verdict::Pass;
        };
        let current = judged.current;
        let diff = difference(current, candidate);
        let mut breaches = breaches(percent, current, candidate, &diff);
        let dropped_now = breaches
            .iter()
            .any(|breach| matches!(breach, Breach::Dropped { .. }));
        if !dropped_now && let Some(largest) = judged.largest {
            let of = Compared::Largest {
                window: self.window,
            };
            let since = DecisionDiff::members(&decision(largest), &decision(candidate));
            breaches.extend(dropped_breach(percent, largest, &since, of));
        }
        if breaches.is_empty() {
            return Verdict::Pass;
        }
        let accepted = self.accept_change.as_ref() == Some(&change);
        let refusal = Refusal {
            change,
            breaches,
            summary: diff.summary(),
            configured,
        };
        match accepted {
            true => Verdict::Accepted(refusal),
            false => Verdict::Refused(refusal),
        }
    }
}

/// The members' and self's targets' difference between two answers.
fn difference(current: &Membership, candidate: &Membership) -> DecisionDiff {
    let (before, after) = (decision(current), decision(candidate));
    let mut diff = DecisionDiff::members(&before, &after);
    if let Some(own) = candidate.own.as_ref().or(current.own.as_ref()) {
        diff.add_targets(
            &own.instance_id,
            &before.register_with,
            &after.register_with,
        );
    }
    diff
}

/// The decision an answer was made of (the notes aside).
fn decision(answer: &Membership) -> Decision {
    Decision {
        members: answer.members.clone(),
        register_with: answer
            .register_with
            .iter()
            .map(|target| target.instance_id.clone())
            .collect(),
        notes: Vec::new(),
    }
}

/// The limits the change from `current` to `candidate` goes past.
fn breaches(
    percent: u8,
    current: &Membership,
    candidate: &Membership,
    diff: &DecisionDiff,
) -> Vec<Breach> {
    let mut breaches: Vec<Breach> = dropped_breach(percent, current, diff, Compared::Current)
        .into_iter()
        .collect();
    if !current.register_with.is_empty() && candidate.register_with.is_empty() {
        let own = current.own.as_ref().or(candidate.own.as_ref());
        breaches.push(Breach::Stranded {
            own: own.map_or_else(|| "self".to_owned(), |own| own.instance_id.clone()),
            targets: current.register_with.len(),
        });
    }
    breaches
}

/// The breach of `max_change` (`percent`) in `diff`, the difference from
/// `before`, if it is one.
fn dropped_breach(
    percent: u8,
    before: &Membership,
    diff: &DecisionDiff,
    of: Compared,
) -> Option<Breach> {
    let members = before.members.len();
    let dropped = diff.left.len()
        + diff
            .changed
            .iter()
            .filter(|change| change.role.is_some())
            .count();
    // In u128: no product of two counts overflows it.
    (dropped as u128 * 100 > u128::from(percent) * members as u128).then_some(Breach::Dropped {
        dropped,
        members,
        max: MaxChange::Percent(percent),
        of,
    })
}

impl fmt::Display for Breach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Breach::Dropped {
                dropped,
                members,
                max,
                of: Compared::Current,
            } => write!(
                f,
                "{dropped} of {members} members would leave or change role, more than max_change {max}"
            ),
            Breach::Dropped {
                dropped,
                members,
                max,
                of: Compared::Largest { window },
            } => write!(
                f,
                "{dropped} of the {members} members of the largest answer served in the last {} \
                 would leave or change role, more than max_change {max}",
                humantime::format_duration(*window)
            ),
            Breach::Stranded { own, targets } => write!(
                f,
                "{own} would register with nobody (it registers with {targets} now)"
            ),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the change guard refused the new policy (change {}): ",
            self.change
        )?;
        for (index, breach) in self.breaches.iter().enumerate() {
            let separator = if index == 0 { "" } else { "; " };
            write!(f, "{separator}{breach}")?;
        }
        write!(f, " ({}). ", self.summary)?;
        match self.configured {
            true => write!(
                f,
                "To take exactly this change, set [policy] accept_change = \"{}\" (or, to turn \
                 the guard off, max_change = \"off\"), then reload once more: a change to these \
                 judges from the reload after the one that makes it",
                self.change
            ),
            false => f.write_str(
                "Without a configuration file only a restart takes it (the first start is not guarded)",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::membership::{SelfEntry, Target, sample};
    use crate::settings::DEFAULT_CHANGE_WINDOW;

    /// `count` members `i-0`, `i-1`, ... with `role`.
    fn fleet(count: usize, role: &str) -> Vec<(String, String)> {
        (0..count)
            .map(|n| (format!("i-{n}"), role.to_owned()))
            .collect()
    }

    fn answer(members: &[(String, String)]) -> Membership {
        let members: Vec<(&str, &str)> = members
            .iter()
            .map(|(id, role)| (id.as_str(), role.as_str()))
            .collect();
        sample(&members, &[])
    }

    /// `members` with the first `flipped` turned into agents.
    fn flipped(members: &[(String, String)], flipped: usize) -> Vec<(String, String)> {
        let mut members = members.to_vec();
        for member in members.iter_mut().take(flipped) {
            member.1 = "agent".to_owned();
        }
        members
    }

    fn guard(max_change: &str) -> ChangeGuard {
        ChangeGuard {
            max_change: MaxChange::parse(max_change).unwrap(),
            ..ChangeGuard::default()
        }
    }

    fn change() -> ChangeId {
        ChangeId::of(&"a".repeat(64), "{}")
    }

    fn verdict(guard: &ChangeGuard, current: &Membership, candidate: &Membership) -> Verdict {
        let judged = Judged {
            current,
            largest: None,
        };
        guard.judge(change(), judged, candidate, true)
    }

    fn dropped(guard: &ChangeGuard, current: &Membership, candidate: &Membership) -> Vec<Breach> {
        match verdict(guard, current, candidate) {
            Verdict::Pass => Vec::new(),
            Verdict::Accepted(refusal) | Verdict::Refused(refusal) => refusal.breaches,
        }
    }

    #[test]
    fn more_than_max_change_of_the_members_dropped_is_refused() {
        let now = fleet(10, "monitor");
        let current = answer(&now);
        let half = guard("50%");
        assert_eq!(
            verdict(&half, &current, &answer(&flipped(&now, 5))),
            Verdict::Pass
        );
        assert_eq!(
            dropped(&half, &current, &answer(&flipped(&now, 6))),
            [Breach::Dropped {
                dropped: 6,
                members: 10,
                max: MaxChange::Percent(50),
                of: Compared::Current,
            }]
        );
        // Leaving counts like a role change: 3 leave, 3 flip.
        let mut fewer = flipped(&now, 3);
        fewer.truncate(7);
        assert!(matches!(
            verdict(&half, &current, &answer(&fewer)),
            Verdict::Refused(_)
        ));
        fewer.push(("i-9".to_owned(), "monitor".to_owned()));
        assert_eq!(verdict(&half, &current, &answer(&fewer)), Verdict::Pass);
        // 1 of 3 is 33.3%: past 33%, within 34%.
        let three = fleet(3, "monitor");
        let one_flips = answer(&flipped(&three, 1));
        assert!(matches!(
            verdict(&guard("33%"), &answer(&three), &one_flips),
            Verdict::Refused(_)
        ));
        assert_eq!(
            verdict(&guard("34%"), &answer(&three), &one_flips),
            Verdict::Pass
        );
        // At 100% nothing is too many; at 1%, one of ten is.
        assert_eq!(
            verdict(&guard("100%"), &current, &answer(&[])),
            Verdict::Pass
        );
        assert!(matches!(
            verdict(&guard("1%"), &current, &answer(&flipped(&now, 1))),
            Verdict::Refused(_)
        ));
    }

    /// The verdict with `largest` served lately besides `current`.
    fn verdict_since(
        guard: &ChangeGuard,
        largest: &Membership,
        current: &Membership,
        candidate: &Membership,
    ) -> Verdict {
        let judged = Judged {
            current,
            largest: Some(largest),
        };
        guard.judge(change(), judged, candidate, true)
    }

    #[test]
    fn drops_in_steps_add_up_against_the_largest_answer_served_lately() {
        // 10 -> 6 -> 3 members: each step drops under half of the answer in
        // service, together 7 of the 10 served lately.
        let ten = answer(&fleet(10, "monitor"));
        let six = answer(&fleet(6, "monitor"));
        let three = answer(&fleet(3, "monitor"));
        let half = guard("50%");
        assert_eq!(verdict_since(&half, &ten, &ten, &six), Verdict::Pass);
        assert_eq!(verdict(&half, &six, &three), Verdict::Pass, "alone");
        let Verdict::Refused(refusal) = verdict_since(&half, &ten, &six, &three) else {
            panic!("refused")
        };
        assert_eq!(
            refusal.breaches,
            [Breach::Dropped {
                dropped: 7,
                members: 10,
                max: MaxChange::Percent(50),
                of: Compared::Largest {
                    window: DEFAULT_CHANGE_WINDOW
                },
            }]
        );
        assert!(
            refusal.to_string().contains(
                "7 of the 10 members of the largest answer served in the last 1h would leave or \
                 change role, more than max_change 50%"
            ),
            "{refusal}"
        );
        // Within max_change of both: passes; with the guard off: passes.
        let eight = answer(&fleet(8, "monitor"));
        assert_eq!(verdict_since(&half, &ten, &eight, &six), Verdict::Pass);
        assert_eq!(
            verdict_since(&guard("off"), &ten, &six, &three),
            Verdict::Pass
        );
    }

    #[test]
    fn a_drop_from_the_answer_in_service_is_named_as_such_even_with_a_larger_one_lately() {
        let ten = answer(&fleet(10, "monitor"));
        let four = answer(&fleet(4, "monitor"));
        let one = answer(&fleet(1, "monitor"));
        assert_eq!(
            dropped(&guard("50%"), &four, &one),
            [Breach::Dropped {
                dropped: 3,
                members: 4,
                max: MaxChange::Percent(50),
                of: Compared::Current,
            }]
        );
        let Verdict::Refused(refusal) = verdict_since(&guard("50%"), &ten, &four, &one) else {
            panic!("refused")
        };
        assert_eq!(refusal.breaches.len(), 1, "{refusal}");
    }

    #[test]
    fn joins_and_other_changes_drop_nobody() {
        let now = fleet(4, "monitor");
        let mut grown = fleet(40, "monitor");
        let mut candidate = answer(&grown);
        for member in &mut candidate.members {
            member.clusters = vec!["blue".to_owned()];
            member.address = Some("10.0.0.9".to_owned());
        }
        assert_eq!(
            verdict(&guard("1%"), &answer(&now), &candidate),
            Verdict::Pass
        );
        grown.truncate(1);
        assert!(matches!(
            verdict(&guard("50%"), &answer(&now), &answer(&grown)),
            Verdict::Refused(_)
        ));
    }

    #[test]
    fn an_empty_membership_now_never_trips_the_guard() {
        let nobody = answer(&[]);
        for candidate in [answer(&[]), answer(&fleet(100, "agent"))] {
            assert_eq!(verdict(&guard("1%"), &nobody, &candidate), Verdict::Pass);
        }
    }

    /// `answer` seen from self `i-0`, registering with `targets`.
    fn seen_from_self(mut answer: Membership, targets: &[&str]) -> Membership {
        answer.own = Some(SelfEntry {
            instance_id: "i-0".to_owned(),
            role: Some("agent".to_owned()),
            clusters: Vec::new(),
            leaving: None,
        });
        answer.register_with = targets
            .iter()
            .map(|id| Target {
                instance_id: (*id).to_owned(),
                role: "monitor".to_owned(),
                address: "10.0.0.1".to_owned(),
                port: None,
            })
            .collect();
        answer
    }

    #[test]
    fn self_losing_every_target_is_refused_and_fewer_targets_are_not() {
        let members = fleet(10, "monitor");
        let current = seen_from_self(answer(&members), &["i-1", "i-2"]);
        let stranded = seen_from_self(answer(&members), &[]);
        let refused = match verdict(&guard("100%"), &current, &stranded) {
            Verdict::Refused(refusal) => refusal,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            refused.breaches,
            [Breach::Stranded {
                own: "i-0".to_owned(),
                targets: 2
            }]
        );
        assert_eq!(
            refused.summary,
            "0 joined, 0 left, 0 changed; registration targets changed for 1 self"
        );
        let fewer = seen_from_self(answer(&members), &["i-3"]);
        assert_eq!(verdict(&guard("50%"), &current, &fewer), Verdict::Pass);
        // Nobody then, nobody now: nothing lost.
        let alone = seen_from_self(answer(&members), &[]);
        assert_eq!(verdict(&guard("1%"), &alone, &stranded), Verdict::Pass);
    }

    #[test]
    fn off_passes_everything_and_accept_change_only_its_own_change() {
        let now = fleet(10, "monitor");
        let (current, candidate) = (answer(&now), answer(&flipped(&now, 10)));
        assert_eq!(verdict(&guard("off"), &current, &candidate), Verdict::Pass);

        let other = ChangeGuard {
            accept_change: ChangeId::parse("0123456789abcdef"),
            ..guard("50%")
        };
        assert!(matches!(
            verdict(&other, &current, &candidate),
            Verdict::Refused(_)
        ));
        let this = ChangeGuard {
            accept_change: Some(change()),
            ..guard("50%")
        };
        assert!(matches!(
            verdict(&this, &current, &candidate),
            Verdict::Accepted(_)
        ));
    }

    #[test]
    fn the_refusal_names_the_change_the_difference_and_the_way_out() {
        let now = fleet(2, "monitor");
        let current = seen_from_self(answer(&now), &["i-1"]);
        let candidate = seen_from_self(answer(&flipped(&now, 2)), &[]);
        let Verdict::Refused(refusal) = verdict(&guard("50%"), &current, &candidate) else {
            panic!("refused")
        };
        let id = change().to_string();
        assert_eq!(
            refusal.to_string(),
            format!(
                "the change guard refused the new policy (change {id}): 2 of 2 members would \
                 leave or change role, more than max_change 50%; i-0 would register with nobody \
                 (it registers with 1 now) (0 joined, 0 left, 2 changed; registration targets \
                 changed for 1 self). To take exactly this change, set [policy] accept_change = \
                 \"{id}\" (or, to turn the guard off, max_change = \"off\"), then reload once \
                 more: a change to these judges from the reload after the one that makes it"
            )
        );
        let unconfigured = Refusal {
            configured: false,
            ..refusal
        };
        assert!(unconfigured.to_string().ends_with(
            "Without a configuration file only a restart takes it (the first start is not guarded)"
        ));
    }

    #[test]
    fn a_change_id_is_short_stable_and_follows_plugin_and_settings() {
        let plugin = "b".repeat(64);
        let id = ChangeId::of(&plugin, r#"{"a":1}"#);
        assert_eq!(id, ChangeId::of(&plugin, r#"{"a":1}"#));
        assert_eq!(id.to_string().len(), 16);
        let expected = crate::policy::sha256_hex(format!("{plugin}\n{{\"a\":1}}").as_bytes());
        assert_eq!(id.to_string(), expected[..16]);
        assert_ne!(id, ChangeId::of(&plugin, r#"{"a":2}"#));
        assert_ne!(id, ChangeId::of(&"c".repeat(64), r#"{"a":1}"#));
        assert_eq!(ChangeId::parse(&id.to_string().to_uppercase()), Some(id));
        for bad in ["", "0123", "0123456789abcdeg", "0123456789abcdef0"] {
            assert_eq!(ChangeId::parse(bad), None, "{bad:?}");
        }
    }
}
