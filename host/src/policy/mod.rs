//! Policies: what decides roles, clusters and registration targets.
//!
//! [`Policy`] is the runtime-independent interface the rest of rollcall
//! uses; [`WasmPolicy`] runs a WebAssembly component (see `wit/`). Whatever a
//! policy returns goes through [`evaluate`], which validates it against the
//! inventory before anyone sees it.

mod answer;
mod cache;
mod check;
mod clocks;
mod columns;
mod limits;
mod linked;
mod sandbox;
mod validate;
mod wasm;
mod world;

pub use cache::CompiledCache;
pub use check::PluginReport;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub use columns::{question, state as interface_state};
pub(crate) use wasm::read_plugin_file;
pub use wasm::{PolicyEngine, WasmPolicy, sha256_hex};
#[cfg(test)]
pub(crate) use world::INTERFACE;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub use world::types::InstanceState as InterfaceState;

use crate::inventory::{Fleet, FleetTooLarge, Instance, Instances, MemberStatus};
use crate::settings::PluginSettings;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::path::PathBuf;

/// A member's labels: name to value, sorted by name.
pub type Labels = std::collections::BTreeMap<String, String>;

/// One member of the fleet, as decided by a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The instance id.
    pub instance_id: String,
    /// Its role, e.g. `monitor`.
    pub role: String,
    /// Its clusters, if the policy uses clusters.
    pub clusters: Vec<String>,
    /// Where to reach it, if it has an address of the kind the policy chose.
    pub address: Option<String>,
    /// The port to use, when the policy gives one.
    pub port: Option<u16>,
    /// The policy's labels for the member (team, zone, instance type...),
    /// sorted by name; what consumers' formats carry beside the address.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    /// What the fleet says about the member beside the decision (its
    /// account, lifecycle, leaving); filled in by the membership document,
    /// never by a policy.
    #[serde(flatten)]
    pub status: MemberStatus,
}

/// What a policy decided for one inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Every member, sorted by instance id.
    pub members: Vec<Member>,
    /// Instance ids self registers with.
    pub register_with: Vec<String>,
    /// The policy's reasons, when it was asked to explain an instance.
    pub notes: Vec<Note>,
}

/// One of a policy's reasons, in its own words (`rollcall explain`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// The instance it is about.
    pub instance_id: String,
    /// What about it.
    pub topic: NoteTopic,
    /// The reason.
    pub text: String,
}

/// What a [`Note`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoteTopic {
    /// The instance's own decision: role, clusters, address.
    Decision,
    /// The instance as self's registration target.
    Target,
    /// Why the host dropped the member from the answer (not the policy's
    /// words: see `validate`).
    Dropped,
}

/// Which policy decided: shown in every output so an answer can be traced to
/// the exact plugin build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyIdentity {
    /// The plugin file.
    pub path: PathBuf,
    /// Hex SHA-256 of the plugin file.
    pub sha256: String,
}

impl PolicyIdentity {
    /// The short name logs use: the file name without extension.
    pub fn name(&self) -> String {
        self.path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.path.display().to_string())
    }
}

/// Why a policy gave no answer. Callers branch on the kind: an unreadable
/// file or rejected settings are the operator's to fix; the rest are the
/// plugin's fault.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The plugin file could not be read.
    #[error("cannot read policy {path}: {source}")]
    Unreadable {
        /// The plugin file.
        path: PathBuf,
        /// What reading it said.
        source: std::io::Error,
    },
    /// The file is not a policy component this host can run.
    #[error("cannot load policy {path}: {reason}")]
    Load {
        /// The plugin file.
        path: PathBuf,
        /// Why not.
        reason: String,
    },
    /// The policy refused its settings.
    #[error("policy {name} rejected its settings: {message}")]
    Rejected {
        /// The policy's name (its file name).
        name: String,
        /// What it said.
        message: String,
    },
    /// The plugin trapped (a panic, an out-of-bounds access).
    #[error("policy {name} trapped: {reason}")]
    Trapped {
        /// The policy's name.
        name: String,
        /// The trap.
        reason: String,
    },
    /// The plugin ran past [`PolicyLimits::time`].
    #[error("policy {name} exceeded its time limit ({limit_ms} ms)")]
    TimeLimit {
        /// The policy's name.
        name: String,
        /// The limit it ran past.
        limit_ms: u128,
    },
    /// The plugin grew its memory past the limit.
    #[error("policy {name} exceeded its memory limit ({limit_mib} MiB)")]
    MemoryLimit {
        /// The policy's name.
        name: String,
        /// The limit it grew past.
        limit_mib: usize,
    },
    /// The policy returned an error.
    #[error("policy {name} failed: {message}")]
    Failed {
        /// The policy's name.
        name: String,
        /// What it said.
        message: String,
    },
    /// The policy's answer broke the host's rules (an unknown instance, a
    /// target without an address...).
    #[error("policy {name} gave an invalid answer: {}", problems.join("; "))]
    InvalidAnswer {
        /// The policy's name.
        name: String,
        /// Each problem, the first ten.
        problems: Vec<String>,
    },
}

impl PolicyError {
    /// A rejection of `settings` with its place in them
    /// [explained](PluginSettings::explain); other errors as they are.
    pub fn explained_by(self, settings: &PluginSettings) -> PolicyError {
        match self {
            PolicyError::Rejected { name, message } => PolicyError::Rejected {
                message: settings.explain(&message),
                name,
            },
            other => other,
        }
    }
}

/// A policy, whatever runs it. `decide` blocks (it runs plugin code): call it
/// from a blocking context, not from an async task.
pub trait Policy: Send + Sync {
    /// Which plugin this is, for every answer.
    fn identity(&self) -> &PolicyIdentity;

    /// Decides for the fleet, seen from `self_id` (which, when given, names
    /// one of its instances), with the policy's reasons about `explain` when
    /// given. The answer is not validated yet: [`crate::resolve`] validates
    /// it.
    fn decide(
        &self,
        fleet: &Fleet,
        self_id: Option<&str>,
        explain: Option<&str>,
    ) -> Result<Decision, PolicyError>;
}

/// Runs the policy and validates its answer: members and targets sorted by
/// instance id, every id known, every target a reachable member.
pub fn evaluate(
    policy: &dyn Policy,
    instances: &(impl AsFleet + ?Sized),
    self_id: Option<&str>,
) -> Result<Decision, PolicyError> {
    explained(policy, instances, self_id, None)
}

/// [`evaluate`], with the policy's reasons about the instance `explain`.
pub fn explained(
    policy: &dyn Policy,
    instances: &(impl AsFleet + ?Sized),
    self_id: Option<&str>,
    explain: Option<&str>,
) -> Result<Decision, PolicyError> {
    let fleet = instances.as_fleet().map_err(|err| PolicyError::Failed {
        name: policy.identity().name(),
        message: err.to_string(),
    })?;
    let decision = policy.decide(&fleet, self_id, explain)?;
    let decision = validate::validated(decision, &fleet, self_id).map_err(|problems| {
        PolicyError::InvalidAnswer {
            name: policy.identity().name(),
            problems,
        }
    })?;
    warn_of_dropped(policy.identity(), &decision);
    Ok(decision)
}

/// A fleet a policy can be asked about: the columns as they are, or
/// instances put into columns for the question.
pub trait AsFleet {
    /// The fleet in columns.
    fn as_fleet(&self) -> Result<Cow<'_, Fleet>, FleetTooLarge>;
}

impl AsFleet for Fleet {
    fn as_fleet(&self) -> Result<Cow<'_, Fleet>, FleetTooLarge> {
        Ok(Cow::Borrowed(self))
    }
}

impl AsFleet for Instances {
    /// The columns the inventory holds, or makes once and keeps.
    fn as_fleet(&self) -> Result<Cow<'_, Fleet>, FleetTooLarge> {
        self.fleet().map(Cow::Borrowed)
    }
}

impl AsFleet for [Instance] {
    fn as_fleet(&self) -> Result<Cow<'_, Fleet>, FleetTooLarge> {
        Fleet::from_instances(self).map(Cow::Owned)
    }
}

impl AsFleet for Vec<Instance> {
    fn as_fleet(&self) -> Result<Cow<'_, Fleet>, FleetTooLarge> {
        self.as_slice().as_fleet()
    }
}

/// Logs the members the host dropped from `decision`, if any (the first
/// few, and how many more).
fn warn_of_dropped(policy: &PolicyIdentity, decision: &Decision) {
    let mut dropped = validate::Problems::default();
    for note in decision.dropped() {
        dropped.push(format!("{}: {}", note.instance_id, note.text));
    }
    if dropped.is_empty() {
        return;
    }
    tracing::warn!(
        policy = %policy.name(),
        count = decision.dropped().count(),
        members = %dropped.into_list().join("; "),
        "Members dropped from the answer: the policy gave them a name or address that cannot be used safely; the rest of the answer stands."
    );
}

impl Decision {
    /// The host's notes on the members it dropped from the policy's answer.
    pub fn dropped(&self) -> impl Iterator<Item = &Note> {
        self.notes
            .iter()
            .filter(|note| note.topic == NoteTopic::Dropped)
    }
}
