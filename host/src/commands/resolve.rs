//! `rollcall resolve`: fetch once, decide, print.

use super::{EXIT_INTERNAL, EXIT_POLICY, EXIT_USAGE, Failure, print, source};
use crate::cli::ResolveArgs;
use crate::config::PluginSettings;
use crate::output;
use crate::policy::{CompiledCache, PolicyEngine, PolicyLimits, WasmPolicy};
use crate::resolve::resolve;
use std::path::Path;
use std::sync::Arc;

pub async fn run(args: ResolveArgs) -> Result<(), Failure> {
    let plugin_settings = PluginSettings::from_flag(&args.plugin_config)
        .map_err(|err| Failure::new(EXIT_USAGE, err.0))?;
    let settings = plugin_settings
        .load()
        .map_err(|err| Failure::new(EXIT_USAGE, err.0))?;
    let source = source::open(&args.source, &args.identity).await?;
    let choice = args.identity.choice(args.source.inventory.is_none());

    // Compiling the plugin, asking IMDS who we are and reading the fleet are
    // independent: overlap them.
    let plugin = args.plugin.clone();
    let limits = args
        .limits
        .apply_to(PolicyLimits::default())
        .map_err(|err| Failure::new(EXIT_USAGE, err.of_flag()))?;
    let cache = args.cache.cache();
    let loading = tokio::task::spawn_blocking(move || {
        load_policy(&plugin, &settings, &plugin_settings, limits, cache)
    });
    let (loaded, own, fetched) = tokio::join!(loading, source::find_self(choice), source.fetch());
    let policy = loaded.map_err(|err| {
        Failure::new(
            EXIT_POLICY,
            format!("policy loading stopped unexpectedly: {err}"),
        )
    })??;
    let own = own?;
    let inventory = fetched?;
    tracing::debug!(instances = inventory.instances.len(), source = %inventory.source, "Inventory fetched.");

    let inventory = Arc::new(inventory);
    let membership = resolve(Arc::clone(&inventory), Arc::new(policy), own).await?;
    let text = output::render(&membership, args.format)
        .map_err(|err| Failure::new(EXIT_INTERNAL, format!("cannot render the answer: {err}")))?;
    let printed = print(&text);
    // The process ends here: handing a large fleet's allocations back to
    // the allocator one by one took a fifth of `resolve` at 100k instances.
    std::mem::forget((inventory, membership, text));
    printed
}

/// Loads the plugin with `settings` (the JSON `plugin_settings` gave); a
/// rejection of TOML settings is said at the TOML file's line.
fn load_policy(
    path: &Path,
    settings: &str,
    plugin_settings: &PluginSettings,
    limits: PolicyLimits,
    cache: Option<CompiledCache>,
) -> Result<WasmPolicy, Failure> {
    let engine = PolicyEngine::new().map_err(|err| {
        Failure::new(
            EXIT_POLICY,
            format!("cannot set up the WebAssembly engine: {err:#}"),
        )
    })?;
    Ok(engine
        .with_cache(cache)
        .load(path, settings, limits)
        .map_err(|err| plugin_settings.explain_rejection(err))?)
}
