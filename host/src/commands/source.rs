//! The inventory source and self, from flags.

use super::{EXIT_SOURCE, Failure};
use crate::identity::instance_id_from_imds;
use crate::inventory::InventorySource;
use crate::settings::{ResolveSettings, SelfChoice};
use crate::snapshot::Sharing;
use std::sync::Arc;

/// The source `settings` name, opened as a one-shot command reads it.
pub async fn open(settings: &ResolveSettings) -> Result<Arc<dyn InventorySource>, Failure> {
    Ok(settings
        .source
        .open(Sharing::at_boot(settings.own.clone()))
        .await?)
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
