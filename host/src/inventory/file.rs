//! A describe-instances JSON document on disk as an inventory source.

use super::{Inventory, InventorySource, SourceError, parse_describe_instances};
use std::path::PathBuf;
use std::time::SystemTime;

/// Reads the fleet from what `aws ec2 describe-instances --output json`
/// printed (or a JSON array of such pages), every time it is fetched.
#[derive(Debug, Clone)]
pub struct FileSource {
    path: PathBuf,
}

impl FileSource {
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
        let bytes = tokio::fs::read(&self.path).await.map_err(|err| {
            SourceError::Input(format!(
                "cannot read inventory {}: {err}",
                self.path.display()
            ))
        })?;
        let instances = parse_describe_instances(&bytes)
            .map_err(|err| SourceError::Input(err.located_in(&self.path)))?;
        Ok(Inventory {
            instances,
            source: self.describe(),
            fetched_at: SystemTime::now(),
        })
    }
}
