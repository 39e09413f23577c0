//! The inventory source and self, from flags.

use super::{EXIT_SOURCE, EXIT_USAGE, Failure};
use crate::cli::{SelfArgs, SourceArgs};
use crate::identity::{SelfChoice, instance_id_from_imds};
use crate::inventory::{FileSource, InventorySource};
use crate::snapshot::{self, Sharing};
use std::sync::Arc;

/// The file named by --inventory, or else EC2 configured by the flags.
pub async fn open(
    source: &SourceArgs,
    identity: &SelfArgs,
) -> Result<Arc<dyn InventorySource>, Failure> {
    if let Some(path) = &source.inventory {
        return Ok(Arc::new(FileSource::new(path)));
    }
    let settings = source
        .ec2_settings(identity)
        .map_err(|err| Failure::new(EXIT_USAGE, err.of_flag()))?;
    Ok(snapshot::open(settings, Sharing::at_boot(identity.choice(true))).await?)
}

/// The id of the instance rollcall runs on, if there is one.
pub async fn find_self(choice: SelfChoice) -> Result<Option<String>, Failure> {
    match choice {
        SelfChoice::Given(id) => Ok(Some(id)),
        SelfChoice::Nobody => Ok(None),
        SelfChoice::FromImds => instance_id_from_imds()
            .await
            .map(Some)
            .map_err(|message| Failure::new(EXIT_SOURCE, message)),
    }
}
