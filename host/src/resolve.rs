//! One resolution: run the policy on a fetched fleet, validate the answer,
//! and build the membership document.

use crate::inventory::{Inventory, SourceError};
use crate::membership::Membership;
use crate::policy::{self, Policy, PolicyError};
use std::sync::Arc;

/// Why a resolution gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    /// The source failed.
    Source(#[from] SourceError),
    #[error(
        "self instance {self_id} is not in the inventory ({instances} instances from {source_name})"
    )]
    /// Self is not in the fleet.
    SelfNotFound {
        /// The id given for self.
        self_id: String,
        /// How many instances the fleet has.
        instances: usize,
        /// Where the fleet came from.
        source_name: String,
    },
    #[error(transparent)]
    /// The policy failed, or its answer was invalid.
    Policy(#[from] PolicyError),
    #[error("policy evaluation stopped unexpectedly: {0}")]
    /// The evaluation's thread ended without an answer (it panicked).
    Evaluation(String),
}

/// Decides the fetched fleet with `policy`, seen from `self_id`. Nothing the
/// policy returns is used before it is validated. The policy runs on a
/// blocking thread.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let fleet = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/seed-fleet.json");
/// # let plugin = std::path::Path::new(kit::plugins::ELASTIC_GRID);
/// use rollcall::{FileSource, InventorySource, PolicyEngine, ResolveError};
/// use std::sync::Arc;
///
/// let policy: Arc<dyn rollcall::Policy> =
///     Arc::new(PolicyEngine::new()?.load(&plugin, "{}", Default::default())?);
/// let fleet = Arc::new(FileSource::new(fleet).fetch().await?);
///
/// let agent = rollcall::resolve(Arc::clone(&fleet), Arc::clone(&policy), Some("i-df71a7b6".into())).await?;
/// assert_eq!(agent.own.and_then(|own| own.role).as_deref(), Some("agent"));
/// let outsider = rollcall::resolve(Arc::clone(&fleet), Arc::clone(&policy), None).await?;
/// assert!(outsider.register_with.is_empty());
/// let unknown = rollcall::resolve(fleet, policy, Some("i-nowhere".into())).await;
/// assert!(matches!(unknown, Err(ResolveError::SelfNotFound { .. })));
/// # Ok(())
/// # }
/// ```
pub async fn resolve(
    inventory: Arc<Inventory>,
    policy: Arc<dyn Policy>,
    self_id: Option<String>,
) -> Result<Membership, ResolveError> {
    Ok(resolve_counting_dropped(inventory, policy, self_id)
        .await?
        .0)
}

/// [`resolve`], and how many members were dropped from the policy's answer
/// because it gave them a name or address that cannot be used safely.
pub(crate) async fn resolve_counting_dropped(
    inventory: Arc<Inventory>,
    policy: Arc<dyn Policy>,
    self_id: Option<String>,
) -> Result<(Membership, usize), ResolveError> {
    self_in_fleet(&inventory, self_id.as_deref())?;
    // Plugin code blocks: run it off the async workers.
    tokio::task::spawn_blocking(move || {
        let decision = policy::evaluate(&*policy, &inventory.instances, self_id.as_deref())?;
        let dropped = decision.dropped().count();
        let membership =
            Membership::new(decision, &inventory, self_id.as_deref(), policy.identity());
        Ok((membership, dropped))
    })
    .await
    .map_err(|err| ResolveError::Evaluation(err.to_string()))?
}

/// Checks that self, when given, is an instance of the fleet.
pub fn self_in_fleet(inventory: &Inventory, self_id: Option<&str>) -> Result<(), ResolveError> {
    match self_id {
        Some(id) if !inventory.contains(id) => Err(ResolveError::SelfNotFound {
            self_id: id.to_owned(),
            instances: inventory.instances.len(),
            source_name: inventory.source.clone(),
        }),
        _ => Ok(()),
    }
}
