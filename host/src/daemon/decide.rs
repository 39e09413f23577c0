//! One decision on a fetched fleet as the daemon makes it: self (asking IMDS
//! once, if self comes from there), then the policy, validated.

use crate::identity::instance_id_from_imds;
use crate::inventory::Inventory;
use crate::membership::Membership;
use crate::policy::Policy;
use crate::resolve::resolve_counting_dropped;
use prometheus_client::metrics::counter::Counter;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Self as far as it is known: `Some(Some(id))`, `Some(None)` (no self), or
/// `None` while IMDS has not said which instance this is.
pub type KnownSelf = Option<Option<String>>;

/// The membership `policy` decides for `inventory`, and how long the policy
/// took. Asks IMDS for self if `own` is not known yet, and keeps the answer
/// in `own`. Counts the members dropped from the policy's answer (see
/// `policy::validate`) into `dropped`.
pub async fn decide(
    policy: &Arc<dyn Policy>,
    inventory: &Arc<Inventory>,
    own: &mut KnownSelf,
    dropped: &Counter,
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
    let (membership, members_dropped) =
        resolve_counting_dropped(Arc::clone(inventory), Arc::clone(policy), own)
            .await
            .map_err(|err| err.to_string())?;
    dropped.inc_by(members_dropped as u64);
    Ok((membership, started.elapsed()))
}
