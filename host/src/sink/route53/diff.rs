//! The changes that take the zone's owned record sets to the desired ones,
//! and their split into change batches within Route 53's limits.
//!
//! A record set that is desired and differs (or is missing) is an UPSERT;
//! one the sink owns that is no longer desired is a DELETE carrying its
//! current TTL and values, as Route 53 requires. Equal sets are no change.
//! Values are compared as Route 53 means them: addresses as addresses
//! (`fd00::0:2` is `fd00::2`), the rest without case.

use super::records::{RecordSet, RecordSets, RecordType};
use std::collections::BTreeSet;
use std::net::IpAddr;

/// What one change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Upsert,
    Delete,
}

/// One change of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub action: Action,
    pub set: RecordSet,
}

/// The most `ResourceRecord` elements one `ChangeResourceRecordSets` call
/// carries (an UPSERT's count twice).
pub const BATCH_RECORDS: usize = 1_000;
/// The most characters of values one call carries (an UPSERT's count
/// twice).
pub const BATCH_CHARACTERS: usize = 32_000;

/// Exactly the changes from `current` (the owned record sets the zone
/// holds) to `desired`: none when they are equal.
pub fn changes(desired: &RecordSets, current: &RecordSets) -> Vec<Change> {
    let mut changes: Vec<Change> = desired
        .iter()
        .filter(|(key, set)| current.get(*key).is_none_or(|present| !same(present, set)))
        .map(|(_, set)| Change {
            action: Action::Upsert,
            set: set.clone(),
        })
        .collect();
    changes.extend(
        current
            .iter()
            .filter(|(key, _)| !desired.contains_key(*key))
            .map(|(_, set)| Change {
                action: Action::Delete,
                set: set.clone(),
            }),
    );
    changes
}

/// Whether two record sets of one name and type say the same.
fn same(one: &RecordSet, other: &RecordSet) -> bool {
    let meaning = |set: &RecordSet| -> BTreeSet<String> {
        set.values
            .iter()
            .map(|value| canonical(set.kind, value))
            .collect()
    };
    one.ttl == other.ttl && meaning(one) == meaning(other)
}

/// A value as Route 53 means it.
fn canonical(kind: RecordType, value: &str) -> String {
    match kind {
        RecordType::A | RecordType::Aaaa => value
            .parse::<IpAddr>()
            .map_or_else(|_| value.to_owned(), |address| address.to_string()),
        RecordType::Srv => value.trim().to_lowercase(),
    }
}

/// What one change counts against a batch's limits: records, characters.
fn weight(change: &Change) -> (usize, usize) {
    let times = match change.action {
        Action::Upsert => 2,
        Action::Delete => 1,
    };
    let characters: usize = change.set.values.iter().map(String::len).sum();
    (change.set.values.len() * times, characters * times)
}

/// `changes` in as few batches as Route 53's limits allow, in order. One
/// batch is atomic; several are applied one after the other (a failure
/// between them leaves the zone part way, and the retry finishes it).
pub fn batches(changes: Vec<Change>) -> Vec<Vec<Change>> {
    let mut batches: Vec<Vec<Change>> = Vec::new();
    let (mut records, mut characters) = (0, 0);
    for change in changes {
        let (more_records, more_characters) = weight(&change);
        let full = records + more_records > BATCH_RECORDS
            || characters + more_characters > BATCH_CHARACTERS;
        match batches.last_mut() {
            Some(batch) if !full => batch.push(change),
            _ => {
                batches.push(vec![change]);
                (records, characters) = (0, 0);
            }
        }
        records += more_records;
        characters += more_characters;
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(name: &str, kind: RecordType, ttl: i64, values: &[&str]) -> RecordSet {
        RecordSet {
            name: name.to_owned(),
            kind,
            ttl,
            values: values.iter().map(|value| (*value).to_owned()).collect(),
        }
    }

    fn sets(list: &[RecordSet]) -> RecordSets {
        list.iter()
            .map(|set| ((set.name.clone(), set.kind), set.clone()))
            .collect()
    }

    #[test]
    fn equal_sets_are_no_change_whatever_the_order_or_spelling_of_values() {
        let desired = sets(&[
            set("a.x.", RecordType::A, 60, &["10.0.0.1", "10.0.0.2"]),
            set("a.x.", RecordType::Aaaa, 60, &["fd00::2"]),
            set("a.x.", RecordType::Srv, 60, &["0 0 80 i-1.a.x."]),
        ]);
        let current = sets(&[
            set("a.x.", RecordType::A, 60, &["10.0.0.2", "10.0.0.1"]),
            set("a.x.", RecordType::Aaaa, 60, &["FD00:0::0:2"]),
            set("a.x.", RecordType::Srv, 60, &["0 0 80 I-1.a.x."]),
        ]);
        assert_eq!(changes(&desired, &current), []);
    }

    #[test]
    fn new_and_changed_sets_are_upserts_and_gone_ones_deletes_with_their_current_values() {
        let desired = sets(&[
            set("new.x.", RecordType::A, 60, &["10.0.0.9"]),
            set("grown.x.", RecordType::A, 60, &["10.0.0.1", "10.0.0.2"]),
            set("same.x.", RecordType::A, 60, &["10.0.0.5"]),
            set("ttl.x.", RecordType::A, 30, &["10.0.0.6"]),
        ]);
        let current = sets(&[
            set("grown.x.", RecordType::A, 60, &["10.0.0.1"]),
            set("same.x.", RecordType::A, 60, &["10.0.0.5"]),
            set("ttl.x.", RecordType::A, 60, &["10.0.0.6"]),
            set("gone.x.", RecordType::Srv, 300, &["0 0 80 i-7.gone.x."]),
            set("same.x.", RecordType::Aaaa, 60, &["fd00::1"]),
        ]);
        let found = changes(&desired, &current);
        let upsert = |set: RecordSet| Change {
            action: Action::Upsert,
            set,
        };
        let delete = |set: RecordSet| Change {
            action: Action::Delete,
            set,
        };
        assert_eq!(
            found,
            [
                upsert(set(
                    "grown.x.",
                    RecordType::A,
                    60,
                    &["10.0.0.1", "10.0.0.2"]
                )),
                upsert(set("new.x.", RecordType::A, 60, &["10.0.0.9"])),
                upsert(set("ttl.x.", RecordType::A, 30, &["10.0.0.6"])),
                delete(set(
                    "gone.x.",
                    RecordType::Srv,
                    300,
                    &["0 0 80 i-7.gone.x."]
                )),
                delete(set("same.x.", RecordType::Aaaa, 60, &["fd00::1"])),
            ]
        );
    }

    #[test]
    fn batches_stay_within_route53_s_limits_counting_upserts_twice() {
        let values: Vec<String> = (0..300)
            .map(|n| format!("10.0.{}.{}", n / 256, n % 256))
            .collect();
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        // 300 values upserted count 600: one such change to a batch.
        let big: Vec<Change> = (0..3)
            .map(|n| Change {
                action: Action::Upsert,
                set: set(&format!("r{n}.x."), RecordType::A, 60, &values),
            })
            .collect();
        let split = batches(big);
        assert_eq!(split.iter().map(Vec::len).collect::<Vec<_>>(), [1, 1, 1]);
        // Deleted, 300 values count 300: three to a batch.
        let deletes: Vec<Change> = (0..4)
            .map(|n| Change {
                action: Action::Delete,
                set: set(&format!("r{n}.x."), RecordType::A, 60, &values),
            })
            .collect();
        let split = batches(deletes);
        assert_eq!(split.iter().map(Vec::len).collect::<Vec<_>>(), [3, 1]);
        // Long SRV values fill the characters first.
        let long = format!("0 0 80 {}.x.", "a".repeat(200));
        let characters: Vec<Change> = (0..200)
            .map(|n| Change {
                action: Action::Upsert,
                set: set(&format!("s{n}.x."), RecordType::Srv, 60, &[&long]),
            })
            .collect();
        for batch in batches(characters) {
            let (records, characters) = batch
                .iter()
                .map(weight)
                .fold((0, 0), |(r, c), (more_r, more_c)| (r + more_r, c + more_c));
            assert!(records <= BATCH_RECORDS && characters <= BATCH_CHARACTERS);
        }
        assert!(batches(Vec::new()).is_empty());
    }
}
