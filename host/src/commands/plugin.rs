//! `rollcall plugin compile`: compile a policy ahead of time; `rollcall
//! plugin check`: say what a plugin file is and whether it would run.

use super::{EXIT_INTERNAL, EXIT_POLICY, EXIT_USAGE, Failure, print};
use crate::cli::{PluginCommand, ReportFormat};
use crate::policy::PolicyEngine;

pub fn run(command: PluginCommand) -> Result<(), Failure> {
    match command {
        PluginCommand::Check { plugin, format } => {
            let report = engine()?.check(&plugin)?;
            let text = match format {
                ReportFormat::Text => report.text(),
                ReportFormat::Json => {
                    serde_json::to_string_pretty(&report).map_err(|err| {
                        Failure::new(EXIT_INTERNAL, format!("cannot render the report: {err}"))
                    })? + "\n"
                }
            };
            print(&text)?;
            if report.accepted() {
                Ok(())
            } else {
                Err(Failure::new(
                    EXIT_POLICY,
                    format!("{} is refused", plugin.display()),
                ))
            }
        }
        PluginCommand::Compile { plugin, cache } => {
            let cache = cache.cache().ok_or_else(|| {
                Failure::new(
                    EXIT_USAGE,
                    "no cache directory: pass --cache-dir, or set ROLLCALL_CACHE_DIR or HOME",
                )
            })?;
            let entry = engine()?.precompile(&plugin, &cache)?;
            print(&format!("{}\n", entry.display()))
        }
    }
}

fn engine() -> Result<PolicyEngine, Failure> {
    PolicyEngine::new().map_err(|err| {
        Failure::new(
            EXIT_POLICY,
            format!("cannot set up the WebAssembly engine: {err:#}"),
        )
    })
}
