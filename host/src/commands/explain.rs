//! `rollcall explain`: fetch once, ask the policy to explain one instance,
//! print why.

use super::resolve::{Fleet, PolicyLoad};
use super::{Failure, print, render, source};
use crate::commands::flags::ExplainArgs;
use crate::explain::explain;
use crate::settings::ResolveSettings;

pub async fn run(args: ExplainArgs) -> Result<(), Failure> {
    let load = PolicyLoad::from_args(&args.policy)?;
    let settings = ResolveSettings::from_flags(&args.source, &args.identity)?;
    let fleet = Fleet {
        source: source::open(&settings).await?,
        choice: settings.own,
        own: tokio::sync::OnceCell::new(),
    };
    let (policy, read) = tokio::join!(load.run(), fleet.read());
    let policy = policy?;
    let (inventory, own) = read?;
    let explanation = explain(inventory, policy, own, args.instance).await?;
    print(&render(
        args.format,
        &explanation,
        |explanation| explanation.text(),
        "the explanation",
    )?)
}
