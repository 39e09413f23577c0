//! Format 1's snapshot object (`PREFIX/snapshot.zst`), and what every
//! format shares (the scope, why an object is unusable): what one listing
//! of EC2 found, for the whole fleet to share. One zstd frame holding a header line (JSON: format version,
//! the listing's scope, when and by whom it was listed) and then the fleet
//! as a describe-instances document, the format `rollcall inventory` writes.
//!
//! A reader checks the header before it reads the fleet: another format
//! version or another scope (regions, filters) is refused with both named.
//! Both the object and its decompressed content are read under a size cap,
//! the content while it is decompressed. What another node wrote is checked
//! for sense too: a listing time that is no time, or a writer that is not a
//! running instance of the fleet it lists, makes the object unusable.

use crate::bounded_read::{Capped, read_within};
use crate::inventory::{
    Instance, MAX_INVENTORY_FILE_BYTES, parse_describe_instances, write_describe_instances,
};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The version this rollcall writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// zstd level: 3 is zstd's default, fast at both ends; a 10,000-instance
/// fleet compresses about tenfold.
const COMPRESSION_LEVEL: i32 = 3;

/// The largest decompressed snapshot read: the inventory file limit.
pub const MAX_SNAPSHOT_BYTES: u64 = MAX_INVENTORY_FILE_BYTES;

/// What a listing asked EC2 for. Snapshots of one scope serve only readers
/// of the same scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// Sorted.
    pub regions: Vec<String>,
    /// As written (`Name=...,Values=...`), sorted.
    pub filters: Vec<String>,
    /// The accounts listed through roles, sorted, each as
    /// `ACCOUNT` (in `regions`) or `ACCOUNT:REGION+REGION` (in its own);
    /// empty for a fleet of the writer's own account, as before accounts
    /// were read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
}

impl Scope {
    pub fn new(mut regions: Vec<String>, mut filters: Vec<String>) -> Scope {
        regions.sort();
        filters.sort();
        Scope {
            regions,
            filters,
            accounts: Vec::new(),
        }
    }

    /// The same scope across `accounts` (see [`Scope::accounts`]).
    pub fn with_accounts(mut self, mut accounts: Vec<String>) -> Scope {
        accounts.sort();
        self.accounts = accounts;
        self
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "regions [{}]", self.regions.join(", "))?;
        match self.accounts.len() {
            0 => {}
            1..=5 => write!(f, ", accounts [{}]", self.accounts.join(", "))?,
            many => write!(
                f,
                ", {many} accounts [{}, ...]",
                self.accounts[..3].join(", ")
            )?,
        }
        if self.filters.is_empty() {
            write!(f, ", no filters")
        } else {
            write!(f, ", filters [{}]", self.filters.join("; "))
        }
    }
}

/// The header line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Header {
    format: u32,
    scope: Scope,
    /// When EC2 was listed, in milliseconds since the Unix epoch.
    listed_at_ms: u64,
    /// The instance that listed it, when it knew itself.
    #[serde(default)]
    writer: Option<String>,
    /// Written by a rollcall that writes format 2 too (format-1 readers
    /// ignore it): a reader that finds it absent has seen an older writer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    sharded: bool,
}

/// Only the version, to refuse another format before reading more.
#[derive(Deserialize)]
struct Version {
    format: u32,
}

/// One shared listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub scope: Scope,
    pub listed_at: SystemTime,
    pub writer: Option<String>,
    pub instances: Vec<Instance>,
    /// Whether its writer writes format 2 too (see [`Header`]).
    pub sharded: bool,
}

/// Why a snapshot object cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    #[error("it is snapshot format {found}; this rollcall reads formats 1 and 2")]
    Format { found: u32 },
    #[error("it lists {found}; this node lists {wanted}")]
    Scope {
        found: Box<Scope>,
        wanted: Box<Scope>,
    },
    #[error("it is not a rollcall snapshot: {0}")]
    Corrupt(String),
    #[error("it is larger than {}, the most a snapshot may be", crate::bounded_read::size_text(*.limit))]
    TooLarge { limit: u64 },
    #[error("its listing time, {listed_at_ms} ms after 1970, is not a time this node can hold")]
    ListingTime { listed_at_ms: u64 },
    #[error(
        "it was listed {} ahead of this node's clock (more than the {} allowed): \
         its writer's clock is wrong, or the object is forged",
        humantime::format_duration(*.ahead),
        humantime::format_duration(*.allowed)
    )]
    FromTheFuture { ahead: Duration, allowed: Duration },
    #[error("it names no writer; a snapshot is taken only from a running instance of its fleet")]
    NoWriter,
    #[error("its writer {writer} is not a running instance of the fleet it lists")]
    WriterNotRunning { writer: String },
}

impl Snapshot {
    /// The compressed object, or why it could not be made.
    pub fn encode(&self) -> Result<Vec<u8>, String> {
        let header = Header {
            format: FORMAT_VERSION,
            scope: self.scope.clone(),
            listed_at_ms: millis_since_epoch(self.listed_at),
            writer: self.writer.clone(),
            sharded: self.sharded,
        };
        let mut plain = serde_json::to_vec(&header).map_err(|err| format!("the header: {err}"))?;
        plain.push(b'\n');
        let fleet =
            write_describe_instances(&self.instances).map_err(|err| format!("the fleet: {err}"))?;
        plain.extend_from_slice(fleet.as_bytes());
        zstd::bulk::compress(&plain, COMPRESSION_LEVEL).map_err(|err| format!("zstd: {err}"))
    }

    /// Reads an object, refusing one of another format or scope.
    pub fn decode(object: &[u8], wanted: &Scope) -> Result<Snapshot, Unusable> {
        Snapshot::decode_within(object, wanted, MAX_SNAPSHOT_BYTES)
    }

    /// [`Snapshot::decode`] with `cap` bytes at most decompressed.
    pub fn decode_within(object: &[u8], wanted: &Scope, cap: u64) -> Result<Snapshot, Unusable> {
        let corrupt = |what: String| Unusable::Corrupt(what);
        let plain = decompress_within(object, cap).map_err(|err| match err {
            Unusable::Corrupt(why) => corrupt(why),
            other => other,
        })?;
        let newline = plain
            .iter()
            .position(|&byte| byte == b'\n')
            .ok_or_else(|| corrupt("no header line".to_owned()))?;
        let (line, fleet) = (&plain[..newline], &plain[newline + 1..]);
        let version: Version =
            serde_json::from_slice(line).map_err(|err| corrupt(format!("header: {err}")))?;
        if version.format != FORMAT_VERSION {
            return Err(Unusable::Format {
                found: version.format,
            });
        }
        let header: Header =
            serde_json::from_slice(line).map_err(|err| corrupt(format!("header: {err}")))?;
        if header.scope != *wanted {
            return Err(Unusable::Scope {
                found: Box::new(header.scope),
                wanted: Box::new(wanted.clone()),
            });
        }
        let listed_at = UNIX_EPOCH
            .checked_add(Duration::from_millis(header.listed_at_ms))
            .ok_or(Unusable::ListingTime {
                listed_at_ms: header.listed_at_ms,
            })?;
        let instances =
            parse_describe_instances(fleet).map_err(|err| corrupt(format!("fleet: {err}")))?;
        crate::inventory::check_ids(&instances)
            .map_err(|problem| corrupt(format!("fleet: {problem}")))?;
        let writer = header.writer.ok_or(Unusable::NoWriter)?;
        let running = |instance: &&Instance| instance.id == writer && instance.state == "running";
        if !instances.iter().any(|instance| running(&instance)) {
            return Err(Unusable::WriterNotRunning {
                writer: crate::inventory::printable(&writer, 100),
            });
        }
        Ok(Snapshot {
            scope: header.scope,
            listed_at,
            writer: Some(writer),
            instances,
            sharded: header.sharded,
        })
    }
}

use super::head::millis_since_epoch;

/// The content of the zstd frame `object`, decompressed under `cap` bytes
/// as it is read: one that is more is [`Unusable::TooLarge`], one that is
/// no frame [`Unusable::Corrupt`].
pub fn decompress_within(object: &[u8], cap: u64) -> Result<Vec<u8>, Unusable> {
    let corrupt = |what: String| Unusable::Corrupt(what);
    let decoder = zstd::stream::read::Decoder::new(object)
        .map_err(|err| corrupt(format!("cannot start zstd: {err}")))?;
    // The size the frame says it holds: read into one buffer when true.
    let declared = zstd::zstd_safe::get_frame_content_size(object)
        .ok()
        .flatten();
    match read_within(decoder, cap, declared) {
        Ok(Capped::Whole(plain)) => Ok(plain),
        Ok(Capped::TooLong) => Err(Unusable::TooLarge { limit: cap }),
        Err(err) => Err(corrupt(format!("not a zstd frame: {err}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope::new(
            vec!["us-east-1".to_owned()],
            vec!["Name=tag:env,Values=prod".to_owned()],
        )
    }

    fn snapshot() -> Snapshot {
        let mut a = Instance::running("i-a");
        a.private_ipv4 = Some("10.0.0.1".to_owned());
        a.region = Some("us-east-1".to_owned());
        Snapshot {
            scope: scope(),
            listed_at: UNIX_EPOCH + Duration::from_millis(1_764_387_000_123),
            writer: Some("i-a".to_owned()),
            instances: vec![a, Instance::running("i-b")],
            sharded: false,
        }
    }

    #[test]
    fn a_snapshot_reads_back_as_written() {
        let snapshot = snapshot();
        let object = snapshot.encode().unwrap();
        assert_eq!(Snapshot::decode(&object, &scope()), Ok(snapshot));
    }

    #[test]
    fn another_scope_is_refused_naming_both() {
        let other = Scope::new(vec!["eu-west-1".to_owned()], Vec::new());
        let err = Snapshot::decode(&snapshot().encode().unwrap(), &other).unwrap_err();
        assert_eq!(
            err.to_string(),
            "it lists regions [us-east-1], filters [Name=tag:env,Values=prod]; \
             this node lists regions [eu-west-1], no filters"
        );
    }

    #[test]
    fn another_format_is_refused_before_the_rest_is_read() {
        let object =
            zstd::bulk::compress(b"{\"format\": 3, \"anything\": []}\n[garbage", 3).unwrap();
        let err = Snapshot::decode(&object, &scope()).unwrap_err();
        assert_eq!(err, Unusable::Format { found: 3 });
        assert!(
            err.to_string()
                .contains("format 3; this rollcall reads formats 1 and 2")
        );
    }

    #[test]
    fn garbage_and_truncation_are_named_not_taken() {
        for object in [
            b"hello".to_vec(),
            snapshot().encode().unwrap()[..20].to_vec(),
            zstd::bulk::compress(b"no header", 3).unwrap(),
        ] {
            assert!(matches!(
                Snapshot::decode(&object, &scope()),
                Err(Unusable::Corrupt(_))
            ));
        }
    }

    #[test]
    fn content_past_the_cap_is_refused_while_it_is_decompressed() {
        let object = snapshot().encode().unwrap();
        let plain = zstd::bulk::decompress(&object, 1 << 20).unwrap().len() as u64;
        assert!(Snapshot::decode_within(&object, &scope(), plain).is_ok());
        assert_eq!(
            Snapshot::decode_within(&object, &scope(), plain - 1),
            Err(Unusable::TooLarge { limit: plain - 1 })
        );
    }

    #[test]
    fn a_snapshot_is_taken_only_from_a_running_instance_of_its_fleet() {
        let mut forged = snapshot();
        forged.writer = None;
        let object = forged.encode().unwrap();
        assert_eq!(Snapshot::decode(&object, &scope()), Err(Unusable::NoWriter));

        forged.writer = Some("i-elsewhere\u{1b}[2K".to_owned());
        let err = Snapshot::decode(&forged.encode().unwrap(), &scope()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "its writer i-elsewhere?[2K is not a running instance of the fleet it lists"
        );

        // A writer that lists itself stopped, or an empty fleet.
        let mut stopped = snapshot();
        stopped.instances[0].state = "stopped".to_owned();
        let mut empty = snapshot();
        empty.instances.clear();
        for forged in [stopped, empty] {
            assert!(matches!(
                Snapshot::decode(&forged.encode().unwrap(), &scope()),
                Err(Unusable::WriterNotRunning { .. })
            ));
        }
    }
}
