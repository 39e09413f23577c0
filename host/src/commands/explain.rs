//! `rollcall explain`: fetch once, ask the policy to explain one instance,
//! print why.

use super::resolve::{Fleet, PolicyLoad};
use super::{EXIT_INTERNAL, Failure, print, source};
use crate::cli::{ExplainArgs, ReportFormat};
use crate::explain::explain;

pub async fn run(args: ExplainArgs) -> Result<(), Failure> {
    let load = PolicyLoad::from_args(&args.policy)?;
    let fleet = Fleet {
        source: source::open(&args.source, &args.identity).await?,
        choice: args.identity.choice(args.source.inventory.is_none()),
        own: tokio::sync::OnceCell::new(),
    };
    let (policy, read) = tokio::join!(load.run(), fleet.read());
    let policy = policy?;
    let (inventory, own) = read?;
    let explanation = explain(inventory, policy, own, args.instance).await?;
    let text = match args.format {
        ReportFormat::Text => explanation.text(),
        ReportFormat::Json => {
            serde_json::to_string_pretty(&explanation).map_err(|err| {
                Failure::new(
                    EXIT_INTERNAL,
                    format!("cannot render the explanation: {err}"),
                )
            })? + "\n"
        }
    };
    print(&text)
}
