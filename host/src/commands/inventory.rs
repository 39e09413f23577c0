//! `rollcall inventory`: fetch once and record the fleet as a
//! describe-instances document.

use super::{EXIT_INTERNAL, Failure, check_output, deliver, source};
use crate::commands::flags::InventoryArgs;
use crate::inventory::write_describe_instances;
use crate::settings::ResolveSettings;

pub async fn run(args: InventoryArgs) -> Result<(), Failure> {
    check_output(args.output.as_deref())?;
    // Recording needs no self, so IMDS is asked at most for the region.
    let source = source::open(&ResolveSettings::outsider(&args.source)?).await?;
    let inventory = source.fetch().await?;
    let mut text = write_describe_instances(&inventory.instances)
        .map_err(|err| Failure::new(EXIT_INTERNAL, format!("cannot write the inventory: {err}")))?;
    text.push('\n');
    deliver(&text, args.output.as_deref())?;
    if let Some(path) = &args.output {
        tracing::info!(path = %path.display(), instances = inventory.instances.len(), source = %inventory.source, "Inventory recorded.");
    }
    Ok(())
}
