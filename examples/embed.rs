//! rollcall inside another program: a custom boot agent that decides its
//! place in the fleet once, then follows the fleet and reacts to changes,
//! with no `rollcall` process to run.
//!
//! ```sh
//! scripts/plugins
//! cargo run --release --example embed -- \
//!     examples/seed-fleet.json target/wasm32-wasip2/release/elastic_grid.wasm i-df71a7b6
//! ```
//!
//! It prints the agent's registration targets from one resolution, then
//! runs the daemon on the same fleet until the first answer arrives, and
//! stops it.

use rollcall::{FileSource, Format, InventorySource, Membership, PolicyEngine, PolicyLimits};
use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(fleet), Some(plugin), own) = (args.next(), args.next(), args.next()) else {
        return Err("usage: embed FLEET.json PLUGIN.wasm [SELF_ID]".into());
    };
    let (fleet, plugin) = (
        PathBuf::from(fleet).canonicalize()?,
        PathBuf::from(plugin).canonicalize()?,
    );

    // Once, as at boot: load the policy, read the fleet, decide.
    let engine = PolicyEngine::new()?;
    let policy = engine.load(&plugin, "{}", PolicyLimits::default())?;
    let inventory = FileSource::new(&fleet).fetch().await?;
    let answer = rollcall::resolve(Arc::new(inventory), Arc::new(policy), own.clone()).await?;
    print!("{}", rollcall::render(&answer, Format::Env)?);

    // Afterwards, as a daemon: the loop of `rollcall watch`, with a callback
    // for a sink. Its configuration is the file `watch --config` reads.
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("rollcall.toml");
    let own = own.map_or("none".to_owned(), |id| id);
    std::fs::write(
        &config,
        format!(
            "self = {own:?}\nrefresh = \"1s\"\n[source]\nkind = \"file\"\npath = {fleet:?}\n\
             [policy]\nplugin = {plugin:?}\n"
        ),
    )?;
    let (answers, mut received) = mpsc::unbounded_channel::<Membership>();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(rollcall::watch(
        config,
        move |answer: &Membership, changes: &[rollcall::ChangeEvent]| {
            eprintln!("embed: an answer with {} changes", changes.len());
            let _ = answers.send(answer.clone());
        },
        async {
            let _ = stopped.await;
        },
    ));
    let followed = received
        .recv()
        .await
        .ok_or("the daemon stopped before answering")?;
    assert_eq!(followed.register_with, answer.register_with);
    println!(
        "daemon: {} members, {} targets",
        followed.members.len(),
        followed.register_with.len()
    );
    let _ = stop.send(());
    daemon.await??;
    Ok(())
}
