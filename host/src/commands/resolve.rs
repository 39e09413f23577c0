//! `rollcall resolve`: fetch once, decide, print; with `--wait-for`, fetch
//! and decide again until the answer meets the conditions.

use super::{
    EXIT_INTERNAL, EXIT_POLICY, EXIT_UNMET, EXIT_USAGE, Failure, Leftovers, check_output, deliver,
    engine, source,
};
use crate::commands::flags::{PolicyArgs, ResolveArgs};
use crate::inventory::{Inventory, InventorySource, SourceError};
use crate::membership::Membership;
use crate::output::{self, RenderError};
use crate::policy::{CompiledCache, Policy};
use crate::resolve::{ResolveError, resolve};
use crate::settings::{PluginSettings, PolicyLimits, ResolveSettings, SelfChoice};
use crate::wait::{Tried, Waited, Waiting};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub async fn run(args: ResolveArgs, leftovers: &mut Leftovers) -> Result<(), Failure> {
    check_output(args.output.as_deref())?;
    let renderer =
        output::Renderer::new(&args.format).map_err(|unusable| Failure::from(unusable.setting))?;
    let load = PolicyLoad::from_args(&args.policy)?;
    let settings = ResolveSettings::from_flags(&args.source, &args.identity)?;
    let waiting = args.wait.waiting();
    if let Some(waiting) = &waiting {
        refuse_conditions_on_nobody(waiting, &settings.own)?;
    }
    let source = source::open(&settings).await?;
    let choice = settings.own;

    // Compiling the plugin, asking IMDS who we are and reading the fleet are
    // independent: overlap them.
    let fleet = Fleet {
        source,
        choice,
        own: tokio::sync::OnceCell::new(),
    };
    // `--wait-timeout` bounds the whole wait, its first try included.
    let started = tokio::time::Instant::now();
    let first_read = async {
        let Some(waiting) = &waiting else {
            return fleet.read().await;
        };
        tokio::time::timeout_at(waiting.deadline(started), fleet.read())
            .await
            .unwrap_or_else(|_| {
                Err(ResolveError::Source(SourceError::Unavailable(
                    "the first try was still reading the fleet".to_owned(),
                )))
            })
    };
    let (policy, first) = tokio::join!(load.run(), first_read);
    let policy = policy?;
    // The first fleet is left to the process's end (see `answer`); a later
    // try's, while waiting, is freed as the next one comes.
    if let Ok((inventory, _)) = &first {
        leftovers.keep(Arc::clone(inventory));
    }
    let decide = |read: Result<Read, ResolveError>| {
        let policy = Arc::clone(&policy);
        async move {
            let (inventory, own) = read?;
            tracing::debug!(instances = inventory.instances.len(), source = %inventory.source, "Inventory fetched.");
            resolve(inventory, policy, own).await
        }
    };
    let first = decide(first).await;
    let format = &renderer;
    let output = args.output.as_deref();
    let Some(waiting) = waiting else {
        return answer(first?, format, output, leftovers);
    };
    let waited = waiting
        .until_met(started, tried(first), || async {
            tried(decide(fleet.read().await).await)
        })
        .await;
    match waited {
        Waited::Met(membership) => answer(membership, format, output, leftovers),
        Waited::Unmet {
            last,
            unmet,
            failed_since,
        } => {
            answer(last, format, output, leftovers)?;
            let mut message = format!(
                "--wait-for {}: not met within {}: {}",
                waiting.written(),
                humantime::format_duration(waiting.timeout),
                unmet.join(", ")
            );
            if let Some(err) = failed_since {
                message += &format!(
                    " (the printed answer is the last one; the tries since failed: {err})"
                );
            }
            Err(Failure::new(EXIT_UNMET, message))
        }
        Waited::NoAnswer(err) => {
            let mut failure = Failure::from(err);
            failure.message = format!(
                "--wait-for {}: no answer within {}; the last try failed: {}",
                waiting.written(),
                humantime::format_duration(waiting.timeout),
                failure.message
            );
            Err(failure)
        }
        Waited::Failed(err) => Err(err.into()),
    }
}

/// A condition about self cannot hold when there is no self: say so now
/// rather than after the timeout.
fn refuse_conditions_on_nobody(waiting: &Waiting, choice: &SelfChoice) -> Result<(), Failure> {
    match waiting
        .conditions
        .iter()
        .find(|condition| condition.needs_self())
    {
        Some(condition) if matches!(choice, SelfChoice::Nobody) => Err(Failure::new(
            EXIT_USAGE,
            format!(
                "--wait-for {condition} needs a self: give --self INSTANCE_ID (or let IMDS say)"
            ),
        )),
        _ => Ok(()),
    }
}

/// The fleet and self, as read for one decision.
pub(super) type Read = (Arc<Inventory>, Option<String>);

/// Where each try reads the fleet, and who self is (asked once, then kept).
pub(super) struct Fleet {
    pub(super) source: Arc<dyn InventorySource>,
    pub(super) choice: SelfChoice,
    pub(super) own: tokio::sync::OnceCell<Option<String>>,
}

impl Fleet {
    /// Fetches the fleet, and self the first time it can be found.
    pub(super) async fn read(&self) -> Result<Read, ResolveError> {
        let finding = self
            .own
            .get_or_try_init(|| source::find_self(self.choice.clone()));
        let (own, fetched) = tokio::join!(finding, self.source.fetch());
        let own = own.map_err(|failure| SourceError::Unavailable(failure.message))?;
        Ok((Arc::new(fetched?), own.clone()))
    }
}

/// How a try's outcome bears on waiting: the source failing, or not
/// listing self yet (EC2's listing lags a fresh instance), may mend with
/// time; a bad input or a failing policy will not.
fn tried(outcome: Result<Membership, ResolveError>) -> Tried<ResolveError> {
    match outcome {
        Ok(membership) => Tried::Answer(membership),
        Err(error) => match &error {
            ResolveError::Source(SourceError::Throttled(_)) => Tried::Transient {
                error,
                throttled: true,
            },
            ResolveError::Source(SourceError::Unavailable(_))
            | ResolveError::SelfNotFound { .. } => Tried::Transient {
                error,
                throttled: false,
            },
            ResolveError::Source(SourceError::Input(_))
            | ResolveError::Policy(_)
            | ResolveError::Evaluation(_) => Tried::Final(error),
        },
    }
}

/// Prints the answer, or writes it to `output`; the answer and its text
/// are left to the process's end, as the fleet is.
fn answer(
    membership: Membership,
    format: &output::Renderer,
    output: Option<&Path>,
    leftovers: &mut Leftovers,
) -> Result<(), Failure> {
    let text = format.render(&membership).map_err(|err| match err {
        // The template's author can mend it; rollcall did not fail.
        RenderError::Template(err) => Failure::new(
            EXIT_USAGE,
            format!("the template failed on this answer: {err}"),
        ),
        RenderError::Json(err) => {
            Failure::new(EXIT_INTERNAL, format!("cannot render the answer: {err}"))
        }
    })?;
    let delivered = deliver(&text, output);
    leftovers.keep((membership, text));
    delivered
}

/// Everything loading the policy needs, checked before anything is
/// fetched: the settings read, the limits applied.
pub(super) struct PolicyLoad {
    plugin: PathBuf,
    settings: String,
    plugin_settings: PluginSettings,
    limits: PolicyLimits,
    cache: Option<CompiledCache>,
}

impl PolicyLoad {
    /// Reads the policy flags; a bad one is a usage error.
    pub(super) fn from_args(args: &PolicyArgs) -> Result<PolicyLoad, Failure> {
        let plugin_settings = PluginSettings::from_flag(&args.plugin_config)?;
        let settings = plugin_settings.load()?;
        let limits = args
            .limits
            .apply_to(PolicyLimits::default())
            .map_err(|err| Failure::new(EXIT_USAGE, err.of_flag()))?;
        Ok(PolicyLoad {
            plugin: args.plugin.clone(),
            settings,
            plugin_settings,
            limits,
            cache: args.cache.cache(),
        })
    }

    /// Compiles (or takes from the cache) and checks the policy, on a
    /// blocking thread; a rejection of TOML settings is said at the TOML
    /// file's line.
    pub(super) async fn run(self) -> Result<Arc<dyn Policy>, Failure> {
        let loaded = tokio::task::spawn_blocking(move || {
            engine()?
                .with_cache(self.cache)
                .load(&self.plugin, &self.settings, self.limits)
                .map_err(|err| Failure::from(err.explained_by(&self.plugin_settings)))
        })
        .await
        .map_err(|err| {
            Failure::new(
                EXIT_POLICY,
                format!("policy loading stopped unexpectedly: {err}"),
            )
        })??;
        Ok(Arc::new(loaded))
    }
}
