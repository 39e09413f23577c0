//! `rollcall plugin compile`: compile a policy ahead of time; `rollcall
//! plugin check`: say what a plugin file is and whether it would run;
//! `rollcall plugin diff`: what a new policy would change on a fleet;
//! `rollcall plugin test` (in `plugin_test`): a policy against its cases;
//! `rollcall plugin new`: a policy project (`crate::scaffold`).

use super::{
    EXIT_DIFFERENT, EXIT_INTERNAL, EXIT_POLICY, EXIT_USAGE, Failure, engine, print, render,
};
use crate::commands::flags::{DiffArgs, PluginCommand};
use crate::diff::DecisionDiff;
use crate::inventory::{FileSource, Instances, InventorySource};
use crate::policy::{Policy, WasmPolicy, evaluate};
use crate::resolve::self_in_fleet;
use crate::settings::{PluginSettings, PolicyLimits};

pub async fn run(command: PluginCommand) -> Result<(), Failure> {
    match command {
        PluginCommand::Diff(args) => diff(args).await,
        PluginCommand::Test(args) => super::plugin_test::run(args).await,
        PluginCommand::New { name, lang, dir } => {
            let root = crate::scaffold::create(&name, lang, &dir)
                .map_err(|err| Failure::new(EXIT_USAGE, err.to_string()))?;
            print(&format!(
                "made {root}\nnext: cd {root} && ./build && rollcall plugin test {name}.wasm tests/cases.toml\n",
                root = root.display()
            ))
        }
        PluginCommand::Check { plugin, format } => {
            let report = engine()?.check(&plugin)?;
            print(&render(
                format,
                &report,
                |report| report.text(),
                "the report",
            )?)?;
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

/// Decides the fleet with both policies and prints what differs.
async fn diff(args: DiffArgs) -> Result<(), Failure> {
    let engine = engine()?.with_cache(args.cache.cache());
    let load = |path: &std::path::Path, settings: &str| -> Result<WasmPolicy, Failure> {
        let settings = PluginSettings::from_flag(settings).and_then(|settings| settings.load())?;
        Ok(engine.load(path, &settings, PolicyLimits::default())?)
    };
    let old = load(&args.old, &args.settings_old)?;
    let new = load(&args.new, &args.settings_new)?;
    let inventory = FileSource::new(&args.inventory).fetch().await?;
    self_in_fleet(&inventory, args.self_id.as_deref())?;
    let instances = inventory.instances;
    let (self_id, all_selves) = (args.self_id, args.all_selves);
    let compared = tokio::task::spawn_blocking(move || {
        compare(&old, &new, &instances, self_id.as_deref(), all_selves)
    })
    .await
    .map_err(|err| Failure::new(EXIT_INTERNAL, format!("the comparison stopped: {err}")))??;
    print(&render(
        args.format,
        &compared,
        |compared| compared.text(),
        "the difference",
    )?)?;
    if compared.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(
            EXIT_DIFFERENT,
            format!("the policies decide differently: {}", compared.summary()),
        ))
    }
}

/// The members' difference seen from `self_id`, and the registration
/// targets' of that self, or of every instance with `all_selves`.
fn compare(
    old: &dyn Policy,
    new: &dyn Policy,
    instances: &Instances,
    self_id: Option<&str>,
    all_selves: bool,
) -> Result<DecisionDiff, Failure> {
    let before = evaluate(old, instances, self_id)?;
    let after = evaluate(new, instances, self_id)?;
    let mut diff = DecisionDiff::members(&before, &after);
    if all_selves {
        for instance in instances {
            let own = Some(instance.id.as_str());
            let before = evaluate(old, instances, own)?;
            let after = evaluate(new, instances, own)?;
            diff.add_targets(&instance.id, &before.register_with, &after.register_with);
        }
    } else if let Some(own) = self_id {
        diff.add_targets(own, &before.register_with, &after.register_with);
    }
    Ok(diff)
}
