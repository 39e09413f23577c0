//! One decision on a fetched fleet as the daemon makes it: self (asking IMDS
//! once, if self comes from there), then the policy, validated.

use crate::identity::instance_id_from_imds;
use crate::inventory::Inventory;
use crate::membership::Membership;
use crate::policy::Policy;
use crate::resolve::resolve;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Self as far as it is known: `Some(Some(id))`, `Some(None)` (no self), or
/// `None` while IMDS has not said which instance this is.
pub type KnownSelf = Option<Option<String>>;

/// The membership `policy` decides for `inventory`, and how long the policy
/// took. Asks IMDS for self if `own` is not known yet, and keeps the answer
/// in `own`.
pub async fn decide(
    policy: &Arc<dyn Policy>,
    inventory: &Arc<Inventory>,
    own: &mut KnownSelf,
) -> Result<(Membership, Duration), String> {
    let own = match own {
        Some(known) => known.clone(),
        None => {
            let id = instance_id_from_imds().await?;
            tracing::info!(instance = %id, "Self from IMDS.");
            *own = Some(Some(id.clone()));
            Some(id)
        }
    };
    let started = Instant::now();
    let membership = resolve(Arc::clone(inventory), Arc::clone(policy), own)
        .await
        .map_err(|err| err.to_string())?;
    Ok((membership, started.elapsed()))
}
