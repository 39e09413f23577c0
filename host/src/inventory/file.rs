//! A describe-instances JSON document on disk as an inventory source.

use super::{Inventory, InventorySource, SourceError, parse_describe_instances, size_text};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The largest inventory file rollcall reads: 1 GiB. A 100,000-instance
/// fleet in the benchmarks' realistic shape (`benches/support/fleet.rs`) is
/// 354 MB as the AWS CLI prints it (pretty, 3.5 KB an instance) and 194 MB
/// compact, so the limit leaves room for 100,000 instances of 10 KiB each,
/// and stops `--inventory /dev/zero` at 1 GiB of memory.
pub const MAX_INVENTORY_FILE_BYTES: u64 = 1 << 30;

/// Reads the fleet from what `aws ec2 describe-instances --output json`
/// printed (or a JSON array of such pages), every time it is fetched.
#[derive(Debug, Clone)]
pub struct FileSource {
    path: PathBuf,
}

impl FileSource {
    /// Reads `path` at every fetch.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), rollcall::SourceError> {
    /// # let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/seed-fleet.json");
    /// use rollcall::{FileSource, InventorySource};
    ///
    /// let fleet = FileSource::new(path).fetch().await?;
    /// assert_eq!(fleet.instances.len(), 2);
    /// assert!(fleet.contains("i-2271a74b"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileSource { path: path.into() }
    }
}

#[async_trait::async_trait]
impl InventorySource for FileSource {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    async fn fetch(&self) -> Result<Inventory, SourceError> {
        let path = self.path.clone();
        let bytes =
            tokio::task::spawn_blocking(move || read_inventory(&path, MAX_INVENTORY_FILE_BYTES))
                .await
                .map_err(|err| {
                    SourceError::Unavailable(format!(
                        "reading inventory {} stopped unexpectedly: {err}",
                        self.path.display()
                    ))
                })??;
        let instances = parse_describe_instances(&bytes)
            .map_err(|err| SourceError::Input(err.located_in(&self.path)))?;
        Ok(Inventory {
            instances,
            source: self.describe(),
            fetched_at: SystemTime::now(),
            snapshot: None,
        })
    }
}

/// The whole file, if it holds at most `limit` bytes. A regular file is
/// refused by its size before anything is read; anything else (a pipe, a
/// device) is read up to `limit + 1` bytes and refused there.
fn read_inventory(path: &Path, limit: u64) -> Result<Vec<u8>, SourceError> {
    let unreadable = |err: std::io::Error| {
        SourceError::Input(format!("cannot read inventory {}: {err}", path.display()))
    };
    let limit_text = size_text(limit);
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let size = file.metadata().map_err(unreadable)?.len();
    if size > limit {
        return Err(SourceError::Input(format!(
            "{}: the inventory file is {size} bytes, more than the {limit_text} an inventory \
             may be",
            path.display()
        )));
    }
    read_at_most(file, limit, size)
        .map_err(unreadable)?
        .ok_or_else(|| {
            SourceError::Input(format!(
                "{}: the inventory is larger than the {limit_text} an inventory may be \
                 (rollcall stopped reading there)",
                path.display()
            ))
        })
}

/// Everything `reader` holds if that is at most `limit` bytes, `None` if it
/// holds more. Never buffers more than `limit + 1` bytes; `expected` sizes
/// the buffer (a regular file's length, 0 when unknown).
fn read_at_most(reader: impl Read, limit: u64, expected: u64) -> std::io::Result<Option<Vec<u8>>> {
    let capacity = usize::try_from(expected.min(limit).saturating_add(1)).unwrap_or(usize::MAX);
    let mut bytes = Vec::with_capacity(capacity);
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_within_the_limit_is_read_whole() {
        let text = b"{\"Reservations\": []}";
        let read = read_at_most(&text[..], text.len() as u64, 0).unwrap();
        assert_eq!(read.as_deref(), Some(&text[..]));
    }

    #[test]
    fn an_endless_reader_stops_one_byte_past_the_limit() {
        let endless = std::io::repeat(b' ');
        assert_eq!(read_at_most(endless, 1024, 0).unwrap(), None);
    }

    #[test]
    fn a_regular_file_past_the_limit_is_refused_by_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fleet.json");
        std::fs::write(&path, vec![b' '; 11]).unwrap();
        let err = read_inventory(&path, 10).unwrap_err();
        assert!(
            err.to_string()
                .contains("the inventory file is 11 bytes, more than the 10 bytes an inventory"),
            "{err}"
        );
        assert_eq!(read_inventory(&path, 11).unwrap().len(), 11);
    }
}
