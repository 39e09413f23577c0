//! The inventory source and self, from flags.

use super::{EXIT_SOURCE, EXIT_USAGE, Failure};
use crate::cli::{SelfArgs, SourceArgs};
use crate::identity::{SelfChoice, instance_id_from_imds};
use crate::inventory::{Ec2Source, FileSource, InventorySource};

/// The file named by --inventory, or else EC2 configured by the flags.
pub async fn open(
    source: &SourceArgs,
    identity: &SelfArgs,
) -> Result<Box<dyn InventorySource>, Failure> {
    if let Some(path) = &source.inventory {
        return Ok(Box::new(FileSource::new(path)));
    }
    let settings = source
        .ec2_settings(identity)
        .map_err(|err| Failure::new(EXIT_USAGE, err.of_flag()))?;
    Ok(Box::new(Ec2Source::connect(settings).await?))
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
