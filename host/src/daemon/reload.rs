//! A reload as one transaction: the whole candidate (settings, self, source,
//! policy, sinks) is built beside the running one and tried on a fleet, and
//! the daemon then swaps in all of it or keeps all of what it had. Nothing
//! here changes the running daemon. A new policy also passes the change
//! guard ([`super::guard`]) before it is ready: the guard in effect before
//! this reload, not the one the candidate's settings describe.

use super::baseline::LargestAnswer;
use super::decide::{KnownSelf, decide};
use super::guard::{Judged, Refusal, Verdict};
use crate::inventory::{ApiCalls, GraceSource, Inventory, InventorySource, SourceError};
use crate::membership::Membership;
use crate::policy::{Policy, PolicyEngine, PolicyError, read_plugin_file};
use crate::settings::{
    ChangeGuard, ChangeId, PolicyLimits, SelfChoice, SettingsError, WatchSettings,
};
use crate::sink::Sink;
use crate::snapshot::{Mode, Sharing, Tally};
use prometheus_client::metrics::counter::Counter;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where every source the daemon builds counts its API calls and snapshot
/// coordination, and its decisions the members they drop: the daemon's
/// metrics, one set across reloads.
#[derive(Debug, Clone, Default)]
pub struct Counting {
    pub snapshot: Tally,
    /// EC2 and Auto Scaling calls.
    pub api_calls: ApiCalls,
    /// Members dropped from a policy's answer (a name or address that
    /// cannot be used safely), in every answer the daemon decides.
    pub members_dropped: Counter,
}

/// Re-reads the settings (configuration file and flags) for a reload.
pub type SettingsLoader = Box<dyn Fn() -> Result<WatchSettings, SettingsError> + Send + Sync>;

/// Everything the daemon serves with. Built whole, swapped whole.
pub struct Active {
    pub settings: WatchSettings,
    /// The sinks the program supplied ([`super::Watch::sink`]) beside the
    /// settings; every candidate keeps them.
    pub extra_sinks: Vec<Arc<dyn Sink>>,
    pub source: Arc<dyn InventorySource>,
    pub policy: ActivePolicy,
    pub sinks: Arc<[Box<dyn Sink>]>,
    pub own: KnownSelf,
}

/// The policy in service, with what it was built from.
pub struct ActivePolicy {
    pub policy: Arc<dyn Policy>,
    pub sha256: String,
    /// Its settings, as the JSON document it was configured with.
    pub settings: String,
    pub limits: PolicyLimits,
}

/// Why a daemon could not start, or a candidate could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Config(#[from] SettingsError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
}

/// What a reload came to.
pub enum ReloadOutcome {
    /// The files say what is already running.
    Unchanged,
    /// The candidate works: swap it in, with its answer on a fleet if there
    /// was one to try it on.
    Ready {
        candidate: Box<Active>,
        trial: Option<Trial>,
    },
    /// Something failed; the running daemon is untouched.
    RolledBack(String),
    /// The candidate works, but the change guard refuses its policy; the
    /// running daemon is untouched, but for the guard: the candidate's
    /// `guard` settings judge the next reload.
    Refused {
        refusal: Refusal,
        guard: ChangeGuard,
    },
}

/// How the change guard judges a reload: the settings in effect (those of
/// the last reload that loaded, whatever came of it), and the largest
/// answer served lately.
#[derive(Clone, Copy)]
pub struct Judging<'a> {
    pub guard: &'a ChangeGuard,
    pub largest: &'a LargestAnswer,
}

/// What the daemon serves now: its answer, and the fleet it decided.
#[derive(Clone, Copy)]
pub struct Serving<'a> {
    pub fleet: &'a Arc<Inventory>,
    pub answer: &'a Membership,
}

/// A candidate's answer, and the fleet it decided.
pub struct Trial {
    pub membership: Box<Membership>,
    pub inventory: Arc<Inventory>,
    /// Whether the fleet was fetched for the trial (the source changed), or
    /// is the one the daemon already had.
    pub fetched: Option<Duration>,
    pub evaluation: Duration,
}

impl Active {
    /// The daemon's first configuration, built like any candidate.
    pub async fn build(
        settings: WatchSettings,
        extra_sinks: Vec<Arc<dyn Sink>>,
        engine: &PolicyEngine,
        counting: &Counting,
    ) -> Result<Active, BuildError> {
        // The sinks first: a bad template is found before any fetch.
        let sinks = build_sinks(&settings, &extra_sinks)?;
        let files = PolicyFiles::read(&settings).await?;
        let policy = build_policy(engine, &settings, files).await?;
        let source = open_source(&settings, counting).await?;
        Ok(Active {
            sinks,
            own: known_self(&settings.own),
            settings,
            extra_sinks,
            source,
            policy,
        })
    }
}

/// Builds the candidate the files describe now and tries it: on the fleet
/// fetched from its source if that changed, else on the fleet the daemon
/// serves (if any). A new policy's answer is then judged by the change
/// guard against the answer of the policy in service on the same fleet and
/// the largest answer served lately.
pub async fn prepare(
    current: &Active,
    loader: &SettingsLoader,
    engine: &PolicyEngine,
    counting: &Counting,
    serving: Option<Serving<'_>>,
    judging: Judging<'_>,
) -> ReloadOutcome {
    match try_prepare(current, loader, engine, counting, serving, judging).await {
        Ok(outcome) => outcome,
        Err(error) => ReloadOutcome::RolledBack(error),
    }
}

async fn try_prepare(
    current: &Active,
    loader: &SettingsLoader,
    engine: &PolicyEngine,
    counting: &Counting,
    serving: Option<Serving<'_>>,
    judging: Judging<'_>,
) -> Result<ReloadOutcome, String> {
    let settings = loader().map_err(|err| err.to_string())?;
    let files = PolicyFiles::read(&settings)
        .await
        .map_err(|err| err.to_string())?;
    let policy_changed = settings.plugin != current.settings.plugin
        || files.sha256 != current.policy.sha256
        || files.settings != current.policy.settings
        || settings.limits != current.policy.limits;
    if !policy_changed && settings == current.settings {
        return Ok(ReloadOutcome::Unchanged);
    }
    // Only what the policy decides with is guarded: its bytes and settings.
    let guarded = (files.sha256 != current.policy.sha256
        || files.settings != current.policy.settings)
        .then(|| ChangeId::of(&files.sha256, &files.settings));

    let policy = if policy_changed {
        build_policy(engine, &settings, files)
            .await
            .map_err(|err| match err {
                BuildError::Policy(err) => err.explained_by(&settings.plugin_settings).to_string(),
                other => other.to_string(),
            })?
    } else {
        files.into_active(Arc::clone(&current.policy.policy), settings.limits)
    };
    let source_changed = source_changed(&settings, &current.settings);
    let source = if source_changed {
        open_source(&settings, counting)
            .await
            .map_err(|err| err.to_string())?
    } else {
        Arc::clone(&current.source)
    };
    let own = if settings.own == current.settings.own {
        current.own.clone()
    } else {
        known_self(&settings.own)
    };
    let mut candidate = Active {
        sinks: if settings.sinks == current.settings.sinks {
            Arc::clone(&current.sinks)
        } else {
            build_sinks(&settings, &current.extra_sinks).map_err(|err| err.to_string())?
        },
        settings,
        extra_sinks: current.extra_sinks.clone(),
        source,
        policy,
        own,
    };

    let fleet = if source_changed {
        let started = Instant::now();
        let fetched = candidate
            .source
            .fetch()
            .await
            .map_err(|err| format!("the new source fails: {err}"))?;
        Some((Arc::new(fetched), Some(started.elapsed())))
    } else {
        serving.map(|serving| (Arc::clone(serving.fleet), None))
    };
    let trial = match fleet {
        Some((inventory, fetched)) => {
            let (membership, evaluation) = decide(
                &candidate.policy.policy,
                &inventory,
                &mut candidate.own,
                &counting.members_dropped,
            )
            .await
            .map_err(|err| format!("the new configuration fails on the fleet: {err}"))?;
            Some(Trial {
                membership: Box::new(membership),
                inventory,
                fetched,
                evaluation,
            })
        }
        None => None,
    };
    if let (Some(change), Some(trial)) = (guarded, &trial)
        && let Some(refusal) = guard(current, &candidate, trial, serving, judging, change).await
    {
        return Ok(ReloadOutcome::Refused {
            refusal,
            guard: candidate.settings.guard,
        });
    }
    Ok(ReloadOutcome::Ready {
        candidate: Box::new(candidate),
        trial,
    })
}

/// The change guard's refusal of `candidate`'s new policy (`change`), if it
/// refuses: its `trial` against the answer of the policy in service on the
/// same fleet (the answer served, if the trial kept the fleet) and the
/// largest answer served lately, by the guard in effect.
async fn guard(
    current: &Active,
    candidate: &Active,
    trial: &Trial,
    serving: Option<Serving<'_>>,
    judging: Judging<'_>,
    change: ChangeId,
) -> Option<Refusal> {
    let decided_now;
    let answer = match (trial.fetched, serving) {
        (None, Some(serving)) => serving.answer,
        _ => {
            decided_now = answer_now(current, candidate, &trial.inventory).await?;
            &decided_now
        }
    };
    let configured = candidate.settings.config_path.is_some();
    let guard = judging.guard;
    let largest =
        judging
            .largest
            .within(&trial.inventory, tokio::time::Instant::now(), guard.window);
    let judged = Judged {
        current: answer,
        largest: largest.as_ref(),
    };
    match guard.judge(change, judged, &trial.membership, configured) {
        Verdict::Pass => None,
        Verdict::Accepted(refusal) => {
            tracing::info!(change = %refusal.change, summary = %refusal.summary, "The change guard lets this change through: policy.accept_change names it.");
            None
        }
        Verdict::Refused(refusal) => Some(refusal),
    }
}

/// The answer the policy in service gives on `fleet` (a fleet the daemon
/// has not decided yet), seen from the self it serves. `None`, logged, when
/// it fails there: the guard then has nothing to compare with.
async fn answer_now(
    current: &Active,
    candidate: &Active,
    fleet: &Arc<Inventory>,
) -> Option<Membership> {
    let mut own = match candidate.settings.own == current.settings.own {
        true => candidate.own.clone(),
        false => current.own.clone(),
    };
    // Only compared with, never served: its drops are not counted.
    match decide(&current.policy.policy, fleet, &mut own, &Counter::default()).await {
        Ok((answer, _)) => Some(answer),
        Err(error) => {
            tracing::warn!(%error, "The running policy fails on the new fleet; the change guard has no answer to compare with and lets the new policy through.");
            None
        }
    }
}

/// The policy's files as they are now: the plugin, read into memory (a
/// watched file is never mapped), its hash, and its settings.
struct PolicyFiles {
    bytes: Vec<u8>,
    sha256: String,
    settings: String,
}

impl PolicyFiles {
    async fn read(settings: &WatchSettings) -> Result<PolicyFiles, BuildError> {
        let plugin = settings.plugin.clone();
        let bytes = tokio::task::spawn_blocking(move || read_plugin_file(&plugin))
            .await
            .map_err(|err| PolicyError::Unreadable {
                path: settings.plugin.clone(),
                source: std::io::Error::other(format!("the read stopped unexpectedly: {err}")),
            })??;
        Ok(PolicyFiles {
            sha256: crate::policy::sha256_hex(&bytes),
            settings: settings.plugin_settings.load()?,
            bytes,
        })
    }

    /// The files as the active policy's record, for an unchanged `policy`.
    fn into_active(self, policy: Arc<dyn Policy>, limits: PolicyLimits) -> ActivePolicy {
        ActivePolicy {
            policy,
            sha256: self.sha256,
            settings: self.settings,
            limits,
        }
    }
}

/// Compiles and checks the policy off the async workers.
async fn build_policy(
    engine: &PolicyEngine,
    settings: &WatchSettings,
    files: PolicyFiles,
) -> Result<ActivePolicy, BuildError> {
    let engine = engine.clone();
    let path = settings.plugin.clone();
    let limits = settings.limits;
    let PolicyFiles {
        bytes,
        sha256,
        settings: json,
    } = files;
    let settings_json = json.clone();
    let policy = tokio::task::spawn_blocking(move || {
        engine.load_bytes(&path, &bytes, &settings_json, limits)
    })
    .await
    .map_err(|err| BuildError::Engine(format!("policy loading stopped unexpectedly: {err}")))??;
    Ok(ActivePolicy {
        policy: Arc::new(policy),
        sha256,
        settings: json,
        limits,
    })
}

/// The source `settings` name. A shared snapshot also depends on the
/// refresh interval, its jitter and self; `counting` keeps the daemon's
/// metrics across sources.
async fn open_source(
    settings: &WatchSettings,
    counting: &Counting,
) -> Result<Arc<dyn InventorySource>, SourceError> {
    let sharing = Sharing {
        mode: Mode::Daemon,
        refresh: settings.refresh.every,
        jitter: settings.refresh.jitter,
        own: settings.own.clone(),
        tally: counting.snapshot.clone(),
        calls: counting.api_calls.clone(),
        events: settings.events.clone(),
    };
    let source = settings.source.open(sharing).await?;
    Ok(Arc::new(GraceSource::new(source, settings.absent_grace)))
}

/// Whether a candidate needs a source of its own.
fn source_changed(settings: &WatchSettings, current: &WatchSettings) -> bool {
    settings.source != current.source
        || settings.absent_grace != current.absent_grace
        || settings.source.is_shared()
            && (settings.events != current.events
                || settings.refresh.every != current.refresh.every
                || settings.refresh.jitter != current.refresh.jitter
                || settings.own != current.own)
}

/// The sinks `settings` name, then the program's own; or why one of them
/// cannot be built (a template that fails its checks).
fn build_sinks(
    settings: &WatchSettings,
    extra: &[Arc<dyn Sink>],
) -> Result<Arc<[Box<dyn Sink>]>, SettingsError> {
    let extra = extra
        .iter()
        .map(|sink| Ok(Box::new(Arc::clone(sink)) as Box<dyn Sink>));
    settings
        .sinks
        .iter()
        .map(crate::sink::build)
        .chain(extra)
        .collect()
}

/// Self when it needs no question to IMDS.
fn known_self(choice: &SelfChoice) -> KnownSelf {
    match choice {
        SelfChoice::Given(id) => Some(Some(id.clone())),
        SelfChoice::Nobody => Some(None),
        SelfChoice::FromImds => None,
    }
}
