//! Format 2's shards: the fleet split by a stable hash of the instance id
//! into a power-of-two number of shards, each one zstd frame holding a
//! describe-instances document of its instances in id order. A shard is
//! immutable and named by its content ([`ShardName`]: the first 64 bits of
//! the SHA-256 of the object, base64url), so an unchanged shard keeps its
//! name from one head to the next and a reader fetches only what changed.
//!
//! A reader takes a shard only if its bytes hash to the name it was asked
//! for, and decompresses it under a cap; what it holds is checked like any
//! other fleet (ids) by the head's reader ([`super::head`]).

use super::format::{Unusable, decompress_within};
use crate::inventory::{Instance, parse_describe_instances, write_describe_instances};
use base64::Engine;
use sha2::Digest;

/// Where shards go under the prefix: `shards/<name>`.
pub const SHARD_DIRECTORY: &str = "shards";

/// The instances a shard holds at most on average when the writer picks
/// the number of shards: at 10,000 instances 128 shards of about 78, about
/// 6 KiB each compressed, so that a one-instance change costs a reader one
/// small object beside a head of under 2 KB.
pub const INSTANCES_PER_SHARD: usize = 128;

/// The most shards a head may name: 4,096 x 128 is a 524,288-instance
/// fleet.
pub const MAX_SHARDS: usize = 4096;

/// The largest shard object read (a shard of a fleet far past its target
/// size is still read whole).
pub const MAX_SHARD_BYTES: u64 = 32 << 20;

/// zstd level: as the format-1 snapshot.
const COMPRESSION_LEVEL: i32 = 3;

/// Characters in a shard's name: 64 bits in base64url without padding.
pub const NAME_LENGTH: usize = 11;

/// A shard's content address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardName(String);

impl ShardName {
    /// The name of an object: its bytes' hash.
    pub fn of(object: &[u8]) -> ShardName {
        let digest = sha2::Sha256::digest(object);
        ShardName(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..8]))
    }

    /// `text` if it is a shard name (what a head says is checked before
    /// it becomes a key).
    pub fn parse(text: &str) -> Option<ShardName> {
        let valid = text.len() == NAME_LENGTH
            && text
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
        valid.then(|| ShardName(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ShardName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The shard an instance belongs to among `count` (a power of two): the
/// low bits of the FNV-1a hash of its id. Part of the format: every
/// writer, of every version, must split the same way, or unchanged shards
/// would change names.
pub fn shard_of(id: &str, count: usize) -> usize {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = id.bytes().fold(OFFSET, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    });
    // `count` is at most MAX_SHARDS: the cast keeps every bit used.
    (hash % count.max(1) as u64) as usize
}

/// How many shards `instances` go into: the number already used while it
/// keeps shards between a quarter and twice their target size, else the
/// power of two nearest the target. Keeping it keeps every unchanged
/// shard's name; changing it renames them all once.
pub fn shard_count(instances: usize, current: Option<usize>) -> usize {
    let fits = |count: usize| {
        let per_shard = instances / count.max(1);
        count == 1 && instances <= 2 * INSTANCES_PER_SHARD
            || (INSTANCES_PER_SHARD / 4..=2 * INSTANCES_PER_SHARD).contains(&per_shard)
    };
    if let Some(count) =
        current.filter(|&count| count.is_power_of_two() && count <= MAX_SHARDS && fits(count))
    {
        return count;
    }
    instances
        .div_ceil(INSTANCES_PER_SHARD)
        .next_power_of_two()
        .clamp(1, MAX_SHARDS)
}

/// `instances` split into `count` shards, each in id order.
pub fn split(instances: &[Instance], count: usize) -> Vec<Vec<Instance>> {
    let count = count.max(1);
    let mut shards = vec![Vec::new(); count];
    for instance in instances {
        shards[shard_of(&instance.id, count)].push(instance.clone());
    }
    for shard in &mut shards {
        shard.sort_by(|a, b| a.id.cmp(&b.id));
    }
    shards
}

/// A shard ready to be written.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub name: ShardName,
    pub object: Vec<u8>,
}

/// The object of a shard holding `instances`, and its name.
pub fn encode(instances: &[Instance]) -> Result<Encoded, String> {
    let plain = write_describe_instances(instances).map_err(|err| format!("a shard: {err}"))?;
    let object = zstd::bulk::compress(plain.as_bytes(), COMPRESSION_LEVEL)
        .map_err(|err| format!("zstd: {err}"))?;
    Ok(Encoded {
        name: ShardName::of(&object),
        object,
    })
}

/// The instances of the shard `name`, from its object, and how many bytes
/// they took decompressed: refused when the bytes are not the ones named,
/// or hold more than `cap` bytes decompressed.
pub fn decode(name: &ShardName, object: &[u8], cap: u64) -> Result<(Vec<Instance>, u64), Unusable> {
    let corrupt = |what: String| Unusable::Corrupt(format!("shard {name}: {what}"));
    if ShardName::of(object) != *name {
        return Err(corrupt(
            "its bytes are not the ones its name says (changed or cut)".to_owned(),
        ));
    }
    let plain = decompress_within(object, cap).map_err(|err| match err {
        Unusable::Corrupt(why) => corrupt(why),
        other => other,
    })?;
    let instances = parse_describe_instances(&plain).map_err(|err| corrupt(err.to_string()))?;
    Ok((instances, plain.len() as u64))
}

/// The key of shard `name` under `prefix` (already trimmed of slashes).
pub fn shard_key(prefix: &str, name: &ShardName) -> String {
    if prefix.is_empty() {
        format!("{SHARD_DIRECTORY}/{name}")
    } else {
        format!("{prefix}/{SHARD_DIRECTORY}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet(count: usize) -> Vec<Instance> {
        (0..count)
            .map(|n| {
                let mut instance = Instance::running(&format!("i-{n:017x}"));
                instance.private_ipv4 = Some(format!("10.0.{}.{}", n / 250, n % 250 + 1));
                instance
            })
            .collect()
    }

    #[test]
    fn an_instance_stays_in_its_shard_and_shards_split_when_doubled() {
        for id in ["i-0123456789abcdef0", "i-1", "i-ffffffffffffffff0"] {
            let in_64 = shard_of(id, 64);
            assert_eq!(shard_of(id, 64), in_64);
            // Doubling splits shard n into n and n + 64.
            assert_eq!(shard_of(id, 128) % 64, in_64);
        }
        // The rule is the format: pinned.
        assert_eq!(shard_of("i-0123456789abcdef0", 4096), 1_045);
    }

    #[test]
    fn the_count_follows_the_fleet_but_keeps_still_within_bounds() {
        assert_eq!(shard_count(0, None), 1);
        assert_eq!(shard_count(100, None), 1);
        assert_eq!(shard_count(10_000, None), 128);
        assert_eq!(shard_count(100_000, None), 1024);
        assert_eq!(shard_count(10_000_000, None), MAX_SHARDS);
        // Kept while shards hold a quarter to twice their target.
        assert_eq!(shard_count(12_000, Some(128)), 128);
        assert_eq!(shard_count(40_000, Some(256)), 256);
        assert_eq!(shard_count(40_000, Some(128)), 512);
        assert_eq!(shard_count(1_000, Some(256)), 8);
        // A count that is no power of two is not kept.
        assert_eq!(shard_count(10_000, Some(100)), 128);
    }

    #[test]
    fn at_ten_thousand_instances_a_change_costs_a_reader_under_sixteen_kib() {
        let instances: Vec<Instance> = (0..10_000).map(crate::inventory::described).collect();
        let count = shard_count(instances.len(), None);
        let largest = split(&instances, count)
            .iter()
            .map(|shard| encode(shard).unwrap().object.len())
            .max()
            .unwrap();
        let head = super::super::head::Head {
            scope: super::super::format::Scope::new(vec!["us-east-1".to_owned()], Vec::new()),
            listed_at: std::time::UNIX_EPOCH,
            updated_at: std::time::UNIX_EPOCH,
            writer: Some(instances[0].id.clone()),
            revision: u64::from(u32::MAX),
            instances: instances.len(),
            shards: vec![encode(&[]).unwrap().name; count],
            stale: Vec::new(),
        }
        .encode()
        .len();
        eprintln!("{count} shards, largest {largest} bytes, head {head} bytes");
        assert!(head <= 2_048, "the head takes {head} bytes");
        assert!(
            head + largest <= 16 << 10,
            "a change costs {} bytes",
            head + largest
        );
    }

    #[test]
    fn a_shard_reads_back_only_under_its_own_name() {
        let shards = split(&fleet(300), 4);
        assert_eq!(shards.iter().map(Vec::len).sum::<usize>(), 300);
        let encoded = encode(&shards[1]).unwrap();
        let (read, plain) = decode(&encoded.name, &encoded.object, 1 << 20).unwrap();
        assert_eq!(read, shards[1]);
        // The same instances, the same bytes, the same name.
        assert_eq!(encode(&shards[1]).unwrap().name, encoded.name);

        let other = encode(&shards[2]).unwrap();
        assert!(matches!(
            decode(&encoded.name, &other.object, 1 << 20),
            Err(Unusable::Corrupt(why)) if why.contains("not the ones its name says")
        ));
        assert_eq!(
            plain,
            zstd::bulk::decompress(&encoded.object, 1 << 20)
                .unwrap()
                .len() as u64
        );
        assert_eq!(
            decode(&encoded.name, &encoded.object, plain - 1),
            Err(Unusable::TooLarge { limit: plain - 1 })
        );
    }

    #[test]
    fn only_names_a_shard_can_have_become_keys() {
        let name = encode(&[]).unwrap().name;
        assert_eq!(ShardName::parse(name.as_str()), Some(name.clone()));
        assert_eq!(
            shard_key("fleet/prod", &name),
            format!("fleet/prod/shards/{name}")
        );
        for bad in ["", "../../head00", "abc", "aaaaaaaaaa/", "aaaaaaaaaaaa"] {
            assert_eq!(ShardName::parse(bad), None, "{bad:?}");
        }
    }
}
