//! A describe-instances JSON document on disk as an inventory source.

use super::{Inventory, InventorySource, SourceError, read_describe_instances};
use crate::capped_file::{CappedReadError, INVENTORY, read_capped};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The largest inventory file rollcall reads: 1 GiB (see
/// [`crate::capped_file::INVENTORY`]).
pub const MAX_INVENTORY_FILE_BYTES: u64 = INVENTORY.limit;

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
        let bytes = tokio::task::spawn_blocking(move || read_inventory(&path))
            .await
            .map_err(|err| {
                SourceError::Unavailable(format!(
                    "reading inventory {} stopped unexpectedly: {err}",
                    self.path.display()
                ))
            })??;
        let fleet = read_describe_instances(&bytes)
            .map_err(|err| SourceError::Input(err.located_in(&self.path)))?;
        Ok(Inventory {
            instances: fleet.into(),
            source: self.describe(),
            fetched_at: SystemTime::now(),
            snapshot: None,
            unconfirmed: Vec::new(),
            stale_parts: Vec::new(),
        })
    }
}

/// The whole file, if it holds at most [`MAX_INVENTORY_FILE_BYTES`]: a
/// regular file is refused by its size before anything is read; a pipe or a
/// device is read up to one byte past the limit and refused there.
fn read_inventory(path: &Path) -> Result<Vec<u8>, SourceError> {
    read_capped(path, INVENTORY).map_err(|err| {
        SourceError::Input(match err {
            CappedReadError::Io(err) => format!("cannot read inventory {}: {err}", path.display()),
            refused => format!("{}: {refused}", path.display()),
        })
    })
}
