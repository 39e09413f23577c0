//! Self's own word on its lifecycle, over the fleet's: what IMDS says (see
//! [`crate::self_lifecycle`]) and a leave announced on a stop, written on
//! self's instance before each decision and on self's entry and member in
//! every answer served. The policy, the document and `explain` see self
//! leaving at once, without waiting for a listing to show it.

use crate::changes::ChangeKind;
use crate::inventory::{Inventory, LeaveReason, Leaving, LifecycleState};
use crate::membership::Membership;
use crate::self_lifecycle::SelfLifecycle;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Default)]
pub struct OwnStatus {
    /// What IMDS says, kept current by [`crate::self_lifecycle::poll`];
    /// `None` when self does not come from IMDS.
    imds: Option<watch::Receiver<SelfLifecycle>>,
    /// How often the poll asks IMDS; `None` without IMDS.
    poll_every: Option<watch::Sender<Duration>>,
    /// A leave announced by the daemon itself (a stop with
    /// `leave_on_stop`).
    announced: Option<Leaving>,
    /// Whether `self_leaving` was told already.
    told: bool,
}

impl OwnStatus {
    /// Self's status as IMDS reports it through `imds`, asked every
    /// `poll_every` (which [`OwnStatus::set_poll_every`] changes).
    pub fn from_imds(
        imds: watch::Receiver<SelfLifecycle>,
        poll_every: watch::Sender<Duration>,
    ) -> OwnStatus {
        OwnStatus {
            imds: Some(imds),
            poll_every: Some(poll_every),
            ..OwnStatus::default()
        }
    }

    /// IMDS is asked every `every` from now on (a reload's new pace).
    pub fn set_poll_every(&self, every: Duration) {
        if let Some(poll_every) = &self.poll_every {
            poll_every.send_if_modified(|current| std::mem::replace(current, every) != every);
        }
    }

    /// Resolves when IMDS's word on self changes; never without IMDS.
    /// Cancel-safe.
    pub async fn changed(&mut self) {
        match &mut self.imds {
            Some(imds) => {
                if imds.changed().await.is_err() {
                    // The poll ended: nothing more will change.
                    self.imds = None;
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending().await,
        }
    }

    /// Self's lifecycle state, as IMDS names it.
    fn state(&self) -> Option<LifecycleState> {
        self.imds.as_ref().and_then(|imds| imds.borrow().state)
    }

    /// Why and by when self is going, if it is: IMDS's word when it makes
    /// the leave certain, else the announced leave, else IMDS's word.
    pub fn leaving(&self) -> Option<Leaving> {
        let seen = self.imds.as_ref().map(|imds| imds.borrow().clone());
        match seen {
            Some(seen) if seen.departs() => seen.leaving,
            seen => self
                .announced
                .clone()
                .or_else(|| seen.and_then(|seen| seen.leaving)),
        }
    }

    /// Whether self's leave is certain, so the graceful leave begins.
    pub fn departs(&self) -> bool {
        self.announced.is_some()
            || self
                .imds
                .as_ref()
                .is_some_and(|imds| imds.borrow().departs())
    }

    /// Self announces its own leave (it is being stopped).
    pub fn announce(&mut self) {
        if self.announced.is_none() {
            self.announced = Some(Leaving::new(LeaveReason::Announced, None));
        }
    }

    /// `inventory` with self's instance (`own`) carrying self's word; the
    /// same fleet when there is nothing to say.
    pub fn overlay_fleet(&self, inventory: Arc<Inventory>, own: Option<&str>) -> Arc<Inventory> {
        let (state, leaving) = (self.state(), self.leaving());
        let Some(own) = own else {
            return inventory;
        };
        if state.is_none() && leaving.is_none() {
            return inventory;
        }
        let Some(index) = inventory
            .instances
            .iter()
            .position(|instance| instance.id == own)
        else {
            return inventory;
        };
        let mut overlaid = (*inventory).clone();
        let instance = &mut overlaid.instances[index];
        if let Some(state) = state {
            instance.lifecycle.state = state;
        }
        if leaving.is_some() {
            instance.leaving = leaving;
        }
        Arc::new(overlaid)
    }

    /// Writes self's word on `membership`; the first time self is seen
    /// leaving in an answer, the `self_leaving` change to tell with it.
    pub fn overlay_answer(
        &mut self,
        membership: &mut Membership,
    ) -> Option<(ChangeKind, Vec<String>)> {
        let leaving = self.leaving();
        membership.overlay_self(self.state(), leaving.as_ref());
        let own = membership.own.as_ref()?;
        if self.told || own.leaving.is_none() {
            return None;
        }
        self.told = true;
        Some((ChangeKind::SelfLeaving, vec![own.instance_id.clone()]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Instance;
    use crate::membership::sample;

    fn with_self(membership: &mut Membership, id: &str) {
        membership.own = Some(crate::membership::SelfEntry {
            instance_id: id.to_owned(),
            role: Some("agent".to_owned()),
            clusters: Vec::new(),
            leaving: None,
        });
    }

    #[test]
    fn self_leaving_is_told_once_and_shown_in_every_answer() {
        let (imds, reader) = watch::channel(SelfLifecycle::default());
        let mut own = OwnStatus::from_imds(reader, watch::channel(Duration::from_secs(5)).0);
        let mut answer = sample(&[("i-a", "agent"), ("i-b", "agent")], &[]);
        with_self(&mut answer, "i-a");
        assert_eq!(own.overlay_answer(&mut answer.clone()), None);

        imds.send_replace(SelfLifecycle {
            state: Some(LifecycleState::Terminating),
            leaving: Some(Leaving::new(LeaveReason::AutoScalingTermination, None)),
        });
        let mut first = answer.clone();
        assert_eq!(
            own.overlay_answer(&mut first),
            Some((ChangeKind::SelfLeaving, vec!["i-a".to_owned()]))
        );
        let entry = first.own.as_ref().unwrap().leaving.as_ref().unwrap();
        assert_eq!(entry.reason, "auto-scaling-termination");
        assert_eq!(
            first.members[0].status.lifecycle,
            LifecycleState::Terminating
        );
        assert_eq!(first.members[0].status.leaving.as_ref(), Some(entry));
        assert_eq!(first.members[1].status.leaving, None);

        let mut second = answer.clone();
        assert_eq!(own.overlay_answer(&mut second), None, "told once");
        assert_eq!(second, first, "shown again");
    }

    #[test]
    fn a_stop_announces_the_leave_unless_imds_gave_a_surer_reason() {
        let (imds, reader) = watch::channel(SelfLifecycle::default());
        let mut own = OwnStatus::from_imds(reader, watch::channel(Duration::from_secs(5)).0);
        imds.send_replace(SelfLifecycle {
            state: None,
            leaving: Some(Leaving::new(LeaveReason::RebalanceRecommendation, None)),
        });
        assert!(!own.departs());
        own.announce();
        assert!(own.departs());
        assert_eq!(own.leaving().unwrap().reason, LeaveReason::Announced);
        imds.send_replace(SelfLifecycle {
            state: None,
            leaving: Some(Leaving::new(LeaveReason::SpotInterruption, None)),
        });
        assert_eq!(own.leaving().unwrap().reason, LeaveReason::SpotInterruption);
    }

    #[test]
    fn the_policy_sees_self_leaving_in_the_fleet() {
        let mut own = OwnStatus::default();
        let fleet = Arc::new(Inventory {
            instances: vec![Instance::running("i-a"), Instance::running("i-b")].into(),
            source: "test".to_owned(),
            fetched_at: std::time::SystemTime::UNIX_EPOCH,
            snapshot: None,
            unconfirmed: Vec::new(),
            stale_parts: Vec::new(),
        });
        let same = own.overlay_fleet(Arc::clone(&fleet), Some("i-a"));
        assert!(Arc::ptr_eq(&same, &fleet), "nothing to say, nothing copied");
        own.announce();
        let overlaid = own.overlay_fleet(Arc::clone(&fleet), Some("i-a"));
        assert_eq!(
            overlaid.instances[0].leaving,
            Some(Leaving::new(LeaveReason::Announced, None))
        );
        assert_eq!(overlaid.instances[1].leaving, None);
        assert!(Arc::ptr_eq(
            &own.overlay_fleet(Arc::clone(&fleet), None),
            &fleet
        ));
    }
}
