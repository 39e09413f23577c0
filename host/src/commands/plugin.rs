//! `rollcall plugin compile`: compile a policy ahead of time.

use super::{EXIT_POLICY, EXIT_USAGE, Failure, print};
use crate::cli::PluginCommand;
use crate::policy::PolicyEngine;

pub fn run(command: PluginCommand) -> Result<(), Failure> {
    match command {
        PluginCommand::Compile { plugin, cache } => {
            let cache = cache.cache().ok_or_else(|| {
                Failure::new(
                    EXIT_USAGE,
                    "no cache directory: pass --cache-dir, or set ROLLCALL_CACHE_DIR or HOME",
                )
            })?;
            let engine = PolicyEngine::new().map_err(|err| {
                Failure::new(
                    EXIT_POLICY,
                    format!("cannot set up the WebAssembly engine: {err:#}"),
                )
            })?;
            let entry = engine.precompile(&plugin, &cache)?;
            print(&format!("{}\n", entry.display()))
        }
    }
}
