//! Format 2's head: the small object every node polls (`PREFIX/head`,
//! JSON, about 1.5 KB for 10,000 instances). It names the listing's scope,
//! its times, its writer, a revision number, how many instances the fleet
//! holds and the content names of its shards ([`super::shard`]), in shard
//! order, as one string.
//!
//! A reader checks the head before it fetches a shard: the format, the
//! scope, times a node can hold, a shard count within bounds and names
//! that are names. The fleet the shards hold is checked when assembled
//! ([`Head::assemble`]): the count the head promised, unique ids, and a
//! writer that is a running instance of it.

use super::format::{Scope, Unusable};
use super::shard::{MAX_SHARDS, NAME_LENGTH, ShardName};
use crate::inventory::{Instance, PartKey, StalePart};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The head's object name under the prefix.
pub const HEAD_OBJECT: &str = "head";

/// The format a head is.
pub const HEAD_FORMAT: u32 = 2;

/// The largest head read: 4,096 names and the rest, with room.
pub const MAX_HEAD_BYTES: u64 = 256 << 10;

/// One state of the fleet, as shards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub scope: Scope,
    /// When EC2 was last listed whole: the periodic listing's age.
    pub listed_at: SystemTime,
    /// When this state was written: the listing's time, or later when
    /// events changed some instances since.
    pub updated_at: SystemTime,
    pub writer: Option<String>,
    /// One more than the head it replaced.
    pub revision: u64,
    pub instances: usize,
    /// In shard order; a power of two of them.
    pub shards: Vec<ShardName>,
    /// Account-regions the writer could not list: their instances are the
    /// ones last listed.
    pub stale: Vec<StalePart>,
}

/// The most stale parts a head may name: every part of the largest scope
/// with room.
const MAX_STALE_PARTS: usize = 4096;
/// The longest reason a head gives for a stale part, in characters.
const MAX_STALE_REASON: usize = 500;

/// A stale part, as written.
#[derive(Serialize, Deserialize)]
struct StaleFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    account: Option<String>,
    region: String,
    since_ms: u64,
    error: String,
}

/// The object, as written.
#[derive(Serialize, Deserialize)]
struct HeadFile {
    format: u32,
    scope: Scope,
    listed_at_ms: u64,
    updated_at_ms: u64,
    #[serde(default)]
    writer: Option<String>,
    revision: u64,
    instances: u64,
    /// Every shard's name, [`NAME_LENGTH`] characters each.
    shards: String,
    /// Older readers ignore it: they serve the instances as they are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    stale: Vec<StaleFile>,
}

/// Only the version, to refuse another format before reading more.
#[derive(Deserialize)]
struct Version {
    format: u32,
}

impl Head {
    pub fn encode(&self) -> Vec<u8> {
        let file = HeadFile {
            format: HEAD_FORMAT,
            scope: self.scope.clone(),
            listed_at_ms: millis_since_epoch(self.listed_at),
            updated_at_ms: millis_since_epoch(self.updated_at),
            writer: self.writer.clone(),
            revision: self.revision,
            instances: self.instances as u64,
            shards: self.shards.iter().map(ShardName::as_str).collect(),
            stale: self
                .stale
                .iter()
                .map(|stale| StaleFile {
                    account: stale.part.account.clone(),
                    region: stale.part.region.clone(),
                    since_ms: millis_since_epoch(stale.since),
                    error: stale.error.clone(),
                })
                .collect(),
        };
        // A head holds strings and numbers only: it always serialises.
        serde_json::to_vec(&file).unwrap_or_default()
    }

    /// Reads a head, refusing one of another format or scope, or one that
    /// makes no sense.
    pub fn decode(object: &[u8], wanted: &Scope) -> Result<Head, Unusable> {
        let corrupt = |what: String| Unusable::Corrupt(format!("head: {what}"));
        let version: Version =
            serde_json::from_slice(object).map_err(|err| corrupt(err.to_string()))?;
        if version.format != HEAD_FORMAT {
            return Err(Unusable::Format {
                found: version.format,
            });
        }
        let file: HeadFile =
            serde_json::from_slice(object).map_err(|err| corrupt(err.to_string()))?;
        if file.scope != *wanted {
            return Err(Unusable::Scope {
                found: Box::new(file.scope),
                wanted: Box::new(wanted.clone()),
            });
        }
        let time = |ms: u64| {
            UNIX_EPOCH
                .checked_add(Duration::from_millis(ms))
                .ok_or(Unusable::ListingTime { listed_at_ms: ms })
        };
        let listed_at = time(file.listed_at_ms)?;
        let updated_at = time(file.updated_at_ms)?;
        if updated_at < listed_at {
            return Err(corrupt(format!(
                "it was updated at {} ms, before its listing at {} ms",
                file.updated_at_ms, file.listed_at_ms
            )));
        }
        let names = file.shards.len() / NAME_LENGTH;
        if !file.shards.len().is_multiple_of(NAME_LENGTH)
            || !names.is_power_of_two()
            || names > MAX_SHARDS
        {
            return Err(corrupt(format!(
                "its shard names take {} characters: not a power of two of at most {MAX_SHARDS} names \
                 of {NAME_LENGTH}",
                file.shards.len()
            )));
        }
        let shards = (0..names)
            .map(|n| {
                let text = file.shards.get(n * NAME_LENGTH..(n + 1) * NAME_LENGTH);
                text.and_then(ShardName::parse)
                    .ok_or_else(|| corrupt(format!("shard {n}'s name is not a name")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let instances = usize::try_from(file.instances)
            .map_err(|_| corrupt(format!("{} instances", file.instances)))?;
        if file.stale.len() > MAX_STALE_PARTS {
            return Err(corrupt(format!(
                "it names {} stale parts, more than {MAX_STALE_PARTS}",
                file.stale.len()
            )));
        }
        let stale = file
            .stale
            .into_iter()
            .map(|stale| {
                // Failing since after the head was written makes no sense:
                // since it was written, at the latest.
                let since = time(stale.since_ms)?.min(updated_at);
                // What another node wrote reaches logs and documents:
                // printable and short.
                let printable = |text: &str| crate::inventory::printable(text, MAX_STALE_REASON);
                Ok(StalePart {
                    part: PartKey {
                        account: stale.account.as_deref().map(printable),
                        region: printable(&stale.region),
                    },
                    since,
                    error: printable(&stale.error),
                })
            })
            .collect::<Result<Vec<_>, Unusable>>()?;
        Ok(Head {
            scope: file.scope,
            listed_at,
            updated_at,
            writer: file.writer,
            revision: file.revision,
            instances,
            shards,
            stale,
        })
    }

    /// The fleet, from its shards' instances, in id order (every node
    /// serves one order, whoever wrote it): refused unless it holds as many
    /// instances as the head says, each id once, and the writer running
    /// among them.
    pub fn assemble(&self, shards: &[&[Instance]]) -> Result<Vec<Instance>, Unusable> {
        let total: usize = shards.iter().map(|shard| shard.len()).sum();
        if total != self.instances {
            return Err(Unusable::Corrupt(format!(
                "its shards hold {total} instances; its head says {}",
                self.instances
            )));
        }
        let mut instances = Vec::with_capacity(total);
        for shard in shards {
            instances.extend_from_slice(shard);
        }
        instances.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        crate::inventory::check_ids(&instances)
            .map_err(|problem| Unusable::Corrupt(format!("fleet: {problem}")))?;
        let writer = self.writer.as_deref().ok_or(Unusable::NoWriter)?;
        if !instances
            .iter()
            .any(|instance| instance.id == writer && instance.state == "running")
        {
            return Err(Unusable::WriterNotRunning {
                writer: crate::inventory::printable(writer, 100),
            });
        }
        Ok(instances)
    }
}

/// The head's key under `prefix` (already trimmed of slashes).
pub fn head_key(prefix: &str) -> String {
    if prefix.is_empty() {
        HEAD_OBJECT.to_owned()
    } else {
        format!("{prefix}/{HEAD_OBJECT}")
    }
}

pub fn millis_since_epoch(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        .try_into()
        .unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::shard::{encode, split};

    fn scope() -> Scope {
        Scope::new(vec!["us-east-1".to_owned()], Vec::new())
    }

    fn head(shards: Vec<ShardName>, instances: usize) -> Head {
        let at = UNIX_EPOCH + Duration::from_millis(1_796_000_000_000);
        Head {
            scope: scope(),
            listed_at: at,
            updated_at: at + Duration::from_secs(3),
            writer: Some("i-0000000000000000a".to_owned()),
            revision: 7,
            instances,
            shards,
            stale: Vec::new(),
        }
    }

    #[test]
    fn stale_parts_read_back_printable_and_a_head_of_none_is_as_before() {
        let one_shard = || vec![encode(&[]).unwrap().name];
        let mut stale = head(one_shard(), 0);
        let since = UNIX_EPOCH + Duration::from_millis(1_795_000_000_000);
        stale.stale = vec![StalePart {
            part: PartKey::new(Some("111111111111"), "eu-west-1"),
            since,
            error: "AccessDenied\u{1b}[31m".to_owned(),
        }];
        let read = Head::decode(&stale.encode(), &scope()).unwrap();
        assert_eq!(read.stale[0].part, stale.stale[0].part);
        assert_eq!(read.stale[0].since, since);
        assert!(
            !read.stale[0].error.contains('\u{1b}'),
            "a reason from another node reaches terminals printable: {:?}",
            read.stale[0].error
        );
        // A head without stale parts is written as before them.
        let plain = String::from_utf8(head(one_shard(), 0).encode()).unwrap();
        assert!(!plain.contains("stale"), "{plain}");
        // Failing since after the head was written: since it was written.
        let forged = String::from_utf8(stale.encode())
            .unwrap()
            .replace("1795000000000", "18446744073709551615");
        let read = Head::decode(forged.as_bytes(), &scope()).unwrap();
        assert_eq!(read.stale[0].since, stale.updated_at);
    }

    #[test]
    fn a_head_reads_back_and_its_shards_make_the_fleet() {
        let fleet: Vec<Instance> = ["i-0000000000000000a", "i-0000000000000000b"]
            .iter()
            .map(|id| Instance::running(id))
            .collect();
        let shards = split(&fleet, 2);
        let names = shards.iter().map(|shard| encode(shard).unwrap().name);
        let head = head(names.collect(), 2);
        assert_eq!(Head::decode(&head.encode(), &scope()), Ok(head.clone()));
        let parts: Vec<&[Instance]> = shards.iter().map(Vec::as_slice).collect();
        let mut assembled = head.assemble(&parts).unwrap();
        assembled.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(assembled, fleet);

        let mut short = head.clone();
        short.instances = 3;
        assert!(matches!(
            short.assemble(&parts),
            Err(Unusable::Corrupt(why)) if why.contains("its head says 3")
        ));
        let mut forged = head;
        forged.writer = Some("i-elsewhere".to_owned());
        assert!(matches!(
            forged.assemble(&parts),
            Err(Unusable::WriterNotRunning { .. })
        ));
    }

    #[test]
    fn a_head_that_makes_no_sense_is_refused_with_the_reason() {
        let name = encode(&[]).unwrap().name;
        let good = String::from_utf8(head(vec![name.clone(); 2], 0).encode()).unwrap();
        for (edit, says) in [
            ((name.as_str().to_owned() + "\"", "abc\""), "power of two"),
            ((format!("{name}{name}\""), "../../x/..\""), "power of two"),
            (("\"format\":2".to_owned(), "\"format\":3"), "format 3"),
            (
                (
                    "\"updated_at_ms\":1796000003000".to_owned(),
                    "\"updated_at_ms\":1",
                ),
                "before its listing",
            ),
        ] {
            let forged = good.replacen(&edit.0, edit.1, 1);
            assert_ne!(forged, good, "{says}: the edit applies");
            let err = Head::decode(forged.as_bytes(), &scope()).unwrap_err();
            assert!(err.to_string().contains(says), "{says}: {err}");
        }
        let bad_name = good.replacen(name.as_str(), "aaaaaaaaa/.", 1);
        assert!(
            Head::decode(bad_name.as_bytes(), &scope())
                .unwrap_err()
                .to_string()
                .contains("shard 0's name is not a name")
        );
        let elsewhere = Scope::new(vec!["eu-west-1".to_owned()], Vec::new());
        assert!(matches!(
            Head::decode(good.as_bytes(), &elsewhere),
            Err(Unusable::Scope { .. })
        ));
    }
}
