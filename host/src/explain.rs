//! Why a policy decided what it did about one instance (`rollcall explain`,
//! and `GET /v1/explain/{instance_id}` of `watch`): the instance's role,
//! clusters, address and labels, whether self registers with it, and the policy's
//! reasons in its own words; for self, why each candidate target was taken
//! or left out.

use crate::inventory::{Inventory, MemberStatus};
use crate::membership::rfc3339;
use crate::output::endpoint;
use crate::policy::{self, Decision, Member, NoteTopic, Policy, PolicyIdentity};
use crate::resolve::{ResolveError, self_in_fleet};
use crate::terminal_text::one_line;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

/// What `explain` says about one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The instance explained.
    pub instance_id: String,
    /// Its EC2 state.
    pub state: String,
    /// What the fleet says of it beside its state: account, Auto Scaling
    /// lifecycle, leaving.
    pub status: MemberStatus,
    /// What the policy made of it; `None` when it is no member.
    pub member: Option<Member>,
    /// The instance rollcall runs on, if any.
    #[serde(rename = "self")]
    pub own: Option<String>,
    /// Whether self registers with this instance; `None` when there is no
    /// self or this is self.
    pub self_registers_with_it: Option<bool>,
    /// Why rollcall dropped the member the policy made of this instance
    /// (a name or address that cannot be used safely), if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped: Option<String>,
    /// The policy's reasons about this instance, in its words (empty when
    /// the policy gives none).
    pub reasons: Vec<String>,
    /// When this is self: each candidate registration target, taken or
    /// not, with the policy's reason.
    pub targets: Vec<TargetReason>,
    /// The plugin that decided.
    pub policy: PolicyIdentity,
    /// The fleet it decided on: where from, how many instances, when.
    pub inventory: FleetSummary,
}

/// One candidate registration target of self.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetReason {
    /// The candidate.
    pub instance_id: String,
    /// Whether self registers with it.
    pub taken: bool,
    /// The policy's reason, if it gave one.
    pub reason: Option<String>,
}

/// The fleet an explanation was made on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FleetSummary {
    /// A path or an endpoint.
    pub source: String,
    /// Instances in the fleet.
    pub instances: usize,
    /// RFC 3339.
    pub fetched_at: String,
}

/// Why `explain` gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// The instance to explain is not in the fleet.
    #[error(
        "instance {instance_id} is not in the inventory ({instances} instances from {source_name})"
    )]
    InstanceNotFound {
        /// The id asked about.
        instance_id: String,
        /// How many instances the fleet has.
        instances: usize,
        /// Where the fleet came from.
        source_name: String,
    },
    /// Self is unknown, or the policy failed.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
}

/// Decides `inventory` with `policy`, seen from `self_id`, asking the policy
/// to explain `instance_id`. The answer is validated as `resolve`'s is; the
/// policy runs on a blocking thread.
pub async fn explain(
    inventory: Arc<Inventory>,
    policy: Arc<dyn Policy>,
    self_id: Option<String>,
    instance_id: String,
) -> Result<Explanation, ExplainError> {
    self_in_fleet(&inventory, self_id.as_deref())?;
    if !inventory.contains(&instance_id) {
        return Err(ExplainError::InstanceNotFound {
            instance_id,
            instances: inventory.instances.len(),
            source_name: inventory.source.clone(),
        });
    }
    tokio::task::spawn_blocking(move || {
        let decision = policy::explained(
            &*policy,
            &inventory.instances,
            self_id.as_deref(),
            Some(&instance_id),
        )
        .map_err(ResolveError::from)?;
        Ok(Explanation::new(
            decision,
            &inventory,
            self_id,
            instance_id,
            policy.identity(),
        ))
    })
    .await
    .map_err(|err| ResolveError::Evaluation(err.to_string()))?
}

impl Explanation {
    /// The explanation of `instance_id` in a validated decision.
    fn new(
        decision: Decision,
        inventory: &Inventory,
        own: Option<String>,
        instance_id: String,
        policy: &PolicyIdentity,
    ) -> Self {
        let Decision {
            members,
            register_with,
            notes,
        } = decision;
        let explained = inventory
            .instances
            .iter()
            .find(|instance| instance.id == instance_id);
        let state = explained
            .map(|instance| instance.state.clone())
            .unwrap_or_default();
        let mut status = explained.map(MemberStatus::of).unwrap_or_default();
        status.unconfirmed = inventory.unconfirmed.contains(&instance_id);
        let is_self = own.as_deref() == Some(instance_id.as_str());
        let self_registers_with_it =
            (own.is_some() && !is_self).then(|| register_with.binary_search(&instance_id).is_ok());
        let (drops, notes): (Vec<_>, Vec<_>) = notes
            .into_iter()
            .partition(|note| note.topic == NoteTopic::Dropped);
        let drops: HashMap<&str, &str> = drops
            .iter()
            .map(|drop| (drop.instance_id.as_str(), drop.text.as_str()))
            .collect();
        let dropped_why = |id: &str| {
            drops
                .get(id)
                .map(|why| format!("rollcall dropped it: {why}"))
        };
        let dropped = dropped_why(&instance_id);
        let mut reasons = Vec::new();
        let mut targets: Vec<TargetReason> = Vec::new();
        for note in notes {
            match note.topic {
                NoteTopic::Decision if note.instance_id == instance_id => reasons.push(note.text),
                NoteTopic::Target if is_self => targets.push(TargetReason {
                    taken: register_with.binary_search(&note.instance_id).is_ok(),
                    reason: Some(match dropped_why(&note.instance_id) {
                        Some(why) => format!("{} (but {why})", note.text),
                        None => note.text,
                    }),
                    instance_id: note.instance_id,
                }),
                _ => {}
            }
        }
        if is_self {
            for target in &register_with {
                if !targets.iter().any(|known| &known.instance_id == target) {
                    targets.push(TargetReason {
                        instance_id: target.clone(),
                        taken: true,
                        reason: None,
                    });
                }
            }
        }
        let member = members
            .binary_search_by(|member| member.instance_id.cmp(&instance_id))
            .ok()
            .map(|at| members[at].clone());
        Explanation {
            instance_id,
            state,
            status,
            member,
            own,
            self_registers_with_it,
            dropped,
            reasons,
            targets,
            policy: policy.clone(),
            inventory: FleetSummary {
                source: inventory.source.clone(),
                instances: inventory.instances.len(),
                fetched_at: rfc3339(inventory.fetched_at),
            },
        }
    }

    /// The explanation for people, ending in a newline.
    pub fn text(&self) -> String {
        let mut text = format!("{} ({}): ", self.instance_id, self.state);
        match &self.member {
            None => text.push_str("no member"),
            Some(member) => {
                text.push_str(&member.role);
                if !member.clusters.is_empty() {
                    let _ = write!(text, ", clusters {}", member.clusters.join(", "));
                }
                match &member.address {
                    Some(address) => {
                        let _ = write!(text, ", at {}", endpoint(address, member.port));
                    }
                    None => text.push_str(", no address"),
                }
            }
        }
        text.push('\n');
        if let Some(member) = self
            .member
            .as_ref()
            .filter(|member| !member.labels.is_empty())
        {
            let labels: Vec<String> = member
                .labels
                .iter()
                .map(|(name, value)| format!("{name}={value:?}"))
                .collect();
            let _ = writeln!(text, "labels: {}", labels.join(", "));
        }
        if let Some(group) = &self.status.auto_scaling_group {
            let _ = writeln!(
                text,
                "auto scaling: {} in group {}",
                self.status.lifecycle,
                one_line(group)
            );
        }
        if let Some(leaving) = &self.status.leaving {
            let _ = match &leaving.deadline {
                Some(deadline) => writeln!(
                    text,
                    "leaving: {} by {}",
                    one_line(&leaving.reason),
                    one_line(deadline)
                ),
                None => writeln!(text, "leaving: {}", one_line(&leaving.reason)),
            };
        }
        if self.status.unconfirmed {
            text.push_str("unconfirmed: missing from the latest listing, kept for its grace\n");
        }
        if let Some(dropped) = &self.dropped {
            let _ = writeln!(text, "{dropped}");
        }
        match (&self.own, self.self_registers_with_it) {
            (Some(own), Some(taken)) => {
                let _ = writeln!(
                    text,
                    "self ({own}) registers with it: {}",
                    if taken { "yes" } else { "no" }
                );
            }
            (Some(_), None) => text.push_str("this is self\n"),
            (None, _) => text.push_str("no self: nobody registers with anyone\n"),
        }
        let _ = writeln!(text, "why, says policy {}:", self.policy.name());
        if self.reasons.is_empty() {
            text.push_str("  (the policy gave no reasons)\n");
        }
        for reason in &self.reasons {
            let _ = writeln!(text, "  {}", one_line(reason));
        }
        if self.own.is_some() && self.self_registers_with_it.is_none() {
            text.push_str("self's registration targets:\n");
            if self.targets.is_empty() {
                text.push_str("  (none, and the policy named no candidate)\n");
            }
            for target in &self.targets {
                let _ = writeln!(
                    text,
                    "  {} {}  {}",
                    if target.taken { "+" } else { "-" },
                    target.instance_id,
                    target
                        .reason
                        .as_deref()
                        .map_or("(no reason given)".into(), one_line)
                );
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Instance;
    use crate::policy::Note;
    use std::path::PathBuf;

    fn member(id: &str, role: &str) -> Member {
        Member {
            instance_id: id.to_owned(),
            role: role.to_owned(),
            clusters: vec!["blue".to_owned()],
            address: Some(format!("10.0.0.{}", &id[2..])),
            port: Some(7070),
            labels: Default::default(),
            status: Default::default(),
        }
    }

    fn note(id: &str, topic: NoteTopic, text: &str) -> Note {
        Note {
            instance_id: id.to_owned(),
            topic,
            text: text.to_owned(),
        }
    }

    fn inventory() -> Inventory {
        Inventory {
            instances: ["i-1", "i-2", "i-3"].map(Instance::running).to_vec().into(),
            source: "fleet.json".to_owned(),
            fetched_at: std::time::UNIX_EPOCH,
            snapshot: None,
            unconfirmed: Vec::new(),
            stale_parts: Vec::new(),
        }
    }

    fn decision() -> Decision {
        Decision {
            members: vec![member("i-1", "agent"), member("i-2", "monitor")],
            register_with: vec!["i-2".to_owned()],
            notes: vec![
                note("i-1", NoteTopic::Decision, "role agent: in group workers"),
                note("i-2", NoteTopic::Target, "a target: a monitor"),
                note("i-3", NoteTopic::Target, "not a target: not a member"),
            ],
        }
    }

    fn identity() -> PolicyIdentity {
        PolicyIdentity {
            path: PathBuf::from("/plugins/grid.wasm"),
            sha256: "00".repeat(32),
        }
    }

    #[test]
    fn self_is_explained_with_every_candidate_target() {
        let explanation = Explanation::new(
            decision(),
            &inventory(),
            Some("i-1".to_owned()),
            "i-1".to_owned(),
            &identity(),
        );
        assert_eq!(explanation.self_registers_with_it, None);
        assert_eq!(explanation.reasons, ["role agent: in group workers"]);
        assert_eq!(
            explanation.text(),
            "i-1 (running): agent, clusters blue, at 10.0.0.1:7070\n\
             this is self\n\
             why, says policy grid:\n  role agent: in group workers\n\
             self's registration targets:\n\
             \x20 + i-2  a target: a monitor\n\
             \x20 - i-3  not a target: not a member\n"
        );
    }

    #[test]
    fn another_instance_says_whether_self_registers_with_it() {
        let explanation = Explanation::new(
            decision(),
            &inventory(),
            Some("i-1".to_owned()),
            "i-2".to_owned(),
            &identity(),
        );
        assert_eq!(explanation.self_registers_with_it, Some(true));
        assert!(explanation.targets.is_empty(), "targets are self's only");
        assert_eq!(
            explanation.text(),
            "i-2 (running): monitor, clusters blue, at 10.0.0.2:7070\n\
             self (i-1) registers with it: yes\n\
             why, says policy grid:\n  (the policy gave no reasons)\n"
        );
    }

    #[test]
    fn a_members_labels_are_shown_sorted_and_quoted() {
        let mut labelled = decision();
        labelled.members[1].labels = [
            ("zone", "us-east-1a"),
            ("team", "a b, c=\"d\""),
            ("empty", ""),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
        let explanation = Explanation::new(
            labelled,
            &inventory(),
            Some("i-1".to_owned()),
            "i-2".to_owned(),
            &identity(),
        );
        assert_eq!(
            explanation.text(),
            "i-2 (running): monitor, clusters blue, at 10.0.0.2:7070\n\
             labels: empty=\"\", team=\"a b, c=\\\"d\\\"\", zone=\"us-east-1a\"\n\
             self (i-1) registers with it: yes\n\
             why, says policy grid:\n  (the policy gave no reasons)\n"
        );
        let json = serde_json::to_value(&explanation).unwrap();
        assert_eq!(json["member"]["labels"]["zone"], "us-east-1a");
        let unlabelled = serde_json::to_value(Explanation::new(
            decision(),
            &inventory(),
            Some("i-1".to_owned()),
            "i-2".to_owned(),
            &identity(),
        ))
        .unwrap();
        assert_eq!(unlabelled["member"].get("labels"), None, "none: no key");
    }

    #[test]
    fn a_policy_without_notes_still_shows_the_decision() {
        let mut silent = decision();
        silent.notes.clear();
        let explanation = Explanation::new(
            silent,
            &inventory(),
            Some("i-1".to_owned()),
            "i-1".to_owned(),
            &identity(),
        );
        assert_eq!(
            explanation.targets,
            [TargetReason {
                instance_id: "i-2".to_owned(),
                taken: true,
                reason: None
            }]
        );
        let json = serde_json::to_value(&explanation).unwrap();
        assert_eq!(json["member"]["role"], "agent");
        assert_eq!(json["self"], "i-1");
        assert_eq!(json["targets"][0]["reason"], serde_json::Value::Null);
    }

    #[test]
    fn an_instance_on_its_way_out_says_so() {
        use crate::inventory::{LeaveReason, Leaving, Lifecycle, LifecycleState};
        let mut fleet = inventory();
        let monitor = &mut fleet.instances[1];
        monitor.lifecycle = Lifecycle::in_group("monitors", LifecycleState::TerminatingWait);
        monitor.leaving = Some(Leaving::new(
            LeaveReason::AutoScalingTermination,
            Some("2026-12-07T10:00:00Z".to_owned()),
        ));
        fleet.unconfirmed = vec!["i-2".to_owned()];
        let explanation = Explanation::new(
            decision(),
            &fleet,
            Some("i-1".to_owned()),
            "i-2".to_owned(),
            &identity(),
        );
        assert_eq!(
            explanation.text(),
            "i-2 (running): monitor, clusters blue, at 10.0.0.2:7070\n\
             auto scaling: terminating-wait in group monitors\n\
             leaving: auto-scaling-termination by 2026-12-07T10:00:00Z\n\
             unconfirmed: missing from the latest listing, kept for its grace\n\
             self (i-1) registers with it: yes\n\
             why, says policy grid:\n  (the policy gave no reasons)\n"
        );
        let json = serde_json::to_value(&explanation).unwrap();
        assert_eq!(json["status"]["lifecycle"], "terminating-wait");
    }

    #[test]
    fn a_non_member_without_self_is_said_plainly() {
        let explanation = Explanation::new(
            decision(),
            &inventory(),
            None,
            "i-3".to_owned(),
            &identity(),
        );
        assert_eq!(
            explanation.text(),
            "i-3 (running): no member\n\
             no self: nobody registers with anyone\n\
             why, says policy grid:\n  (the policy gave no reasons)\n"
        );
    }
}
