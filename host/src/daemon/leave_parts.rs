//! The leave's steps as the daemon does them: `on_leave` as an exec hook
//! (the exec sink's `ROLLCALL_*` environment, plus `ROLLCALL_LEAVE_REASON`
//! and `ROLLCALL_LEAVE_DEADLINE`), the leave marker written to the
//! snapshot's S3, and the lifecycle action through the Auto Scaling API.
//! [`prepare`] builds a [`Leave`] of what the settings name.

use super::leave::{Announcer, Leave, LeaveHook, LifecycleActions};
use crate::changes::ChangeEvent;
use crate::inventory::{ApiCalls, Ec2Source, Inventory, Leaving};
use crate::membership::Membership;
use crate::self_lifecycle::{GROUP_TAG, Imds, Metadata};
use crate::settings::{LifecycleSettings, SnapshotSettings, SourceSettings};
use crate::sink::{ExecSink, Publication, Sink};
use crate::snapshot::leaving::{Marker, marker_key};
use crate::snapshot::s3::{Deadlines, S3Store};
use crate::snapshot::store::{Condition, ObjectStore};
use std::sync::Arc;

/// The tag Auto Scaling puts on its instances, naming the group.
const GROUP_TAG_KEY: &str = "aws:autoscaling:groupName";

/// What a leave is prepared from, taken when it starts.
pub struct Context {
    pub lifecycle: LifecycleSettings,
    pub source: SourceSettings,
    /// The answer served as the leave starts, self leaving in it.
    pub membership: Arc<Membership>,
    /// The fleet it was decided on, to find self's Auto Scaling group.
    pub fleet: Option<Arc<Inventory>>,
    /// The `self_leaving` event, for the hook's `ROLLCALL_CHANGES`.
    pub event: Option<ChangeEvent>,
    /// Whether IMDS may be asked (for the group, when the fleet lacks it).
    pub imds: bool,
}

/// The leave the settings describe. AWS is reached with the EC2 source's
/// credentials, region and timeouts; when they cannot be had, the AWS
/// steps are left out, logged.
pub async fn prepare(context: Context) -> Leave {
    let lifecycle = &context.lifecycle;
    let own = context
        .membership
        .own
        .as_ref()
        .map(|own| own.instance_id.clone());
    let hook = lifecycle.on_leave.as_ref().map(|command| {
        Box::new(ExecHook {
            sink: ExecSink::new(command.argv().to_vec(), lifecycle.on_leave_timeout),
            membership: Arc::clone(&context.membership),
            event: context.event.clone(),
        }) as Box<dyn LeaveHook>
    });
    let mut leave = Leave {
        hook,
        hook_timeout: lifecycle.on_leave_timeout,
        actions: None,
        heartbeat_every: lifecycle.heartbeat_every,
        announcer: None,
    };
    let SourceSettings::Ec2 { ec2, snapshot } = &context.source else {
        if lifecycle.complete_lifecycle_hook.is_some() {
            tracing::warn!(
                "complete_lifecycle_hook needs the EC2 source; the lifecycle action is left to its timeout."
            );
        }
        return leave;
    };
    let Some(own) = own else {
        tracing::warn!("Self is not known: no leave marker, no lifecycle action.");
        return leave;
    };
    if snapshot.is_none() && lifecycle.complete_lifecycle_hook.is_none() {
        return leave;
    }
    let source = match Ec2Source::connect_counting(ec2.clone(), ApiCalls::default()).await {
        Ok(source) => source,
        Err(err) => {
            tracing::error!(error = %err, "Cannot reach AWS to announce the leave: no marker, no lifecycle action.");
            return leave;
        }
    };
    let config = source.sdk_config();
    let deadlines = Deadlines {
        connect: ec2.connect_timeout,
        first_byte: ec2.attempt_timeout,
        total: super::leave::CALL_LIMIT,
    };
    if let Some(snapshot) = snapshot {
        leave.announcer = Some(Box::new(MarkerWriter::new(
            config, snapshot, deadlines, &own,
        )));
    }
    if let Some(hook) = &lifecycle.complete_lifecycle_hook {
        match group(context.fleet.as_deref(), &own, context.imds).await {
            Some(group) => {
                leave.actions = Some(Box::new(AutoScalingAction::new(
                    config,
                    group,
                    hook.as_str().to_owned(),
                    own,
                )));
            }
            None => tracing::warn!(
                "Self's Auto Scaling group is unknown (no aws:autoscaling:groupName tag in the \
                 fleet or IMDS): the lifecycle action is left to its timeout."
            ),
        }
    }
    leave
}

/// Self's Auto Scaling group: the fleet's word, else IMDS's instance tags.
async fn group(fleet: Option<&Inventory>, own: &str, imds: bool) -> Option<String> {
    let instance =
        fleet.and_then(|fleet| fleet.instances.iter().find(|instance| instance.id == own));
    let listed = instance.and_then(|instance| {
        instance.lifecycle.group.clone().or_else(|| {
            instance
                .tags
                .iter()
                .find(|tag| tag.key == GROUP_TAG_KEY)
                .map(|tag| tag.value.clone())
        })
    });
    if listed.is_some() || !imds {
        return listed;
    }
    match Imds::new().read(GROUP_TAG).await {
        Ok(group) => group
            .map(|group| group.trim().to_owned())
            .filter(|group| !group.is_empty()),
        Err(error) => {
            tracing::debug!(%error, "IMDS did not name self's Auto Scaling group.");
            None
        }
    }
}

/// `on_leave`, run like an exec sink on the answer served.
struct ExecHook {
    sink: ExecSink,
    membership: Arc<Membership>,
    event: Option<ChangeEvent>,
}

#[async_trait::async_trait]
impl LeaveHook for ExecHook {
    async fn run(&self, leaving: &Leaving) -> Result<(), String> {
        let sink = self.sink.clone().with_environment(vec![
            (
                "ROLLCALL_LEAVE_REASON".to_owned(),
                leaving.reason.name().to_owned(),
            ),
            (
                "ROLLCALL_LEAVE_DEADLINE".to_owned(),
                leaving.deadline.clone().unwrap_or_default(),
            ),
        ]);
        tracing::info!(hook = %sink.describe(), reason = %leaving.reason, "Running on_leave.");
        let changes: Vec<ChangeEvent> = self.event.iter().cloned().collect();
        sink.publish(&Publication {
            membership: &self.membership,
            changes: &changes,
        })
        .await
    }
}

/// The leave marker, `PREFIX/leaving/<id>`, beside the snapshot.
struct MarkerWriter {
    store: Arc<S3Store>,
    key: String,
    own: String,
}

impl MarkerWriter {
    fn new(
        config: &aws_config::SdkConfig,
        snapshot: &SnapshotSettings,
        deadlines: Deadlines,
        own: &str,
    ) -> MarkerWriter {
        MarkerWriter {
            store: S3Store::new(
                config,
                &snapshot.location.bucket,
                snapshot.endpoint_url.as_deref(),
                deadlines,
            ),
            key: marker_key(&snapshot.location.prefix, own),
            own: own.to_owned(),
        }
    }
}

#[async_trait::async_trait]
impl Announcer for MarkerWriter {
    async fn announce(&self, leaving: &Leaving) -> Result<(), String> {
        let body = Marker::new(&self.own, leaving).encode();
        self.store
            .put(&self.key, body, Condition::Always)
            .await
            .map(drop)
            .map_err(|err| format!("{}/{}: {err}", self.store.describe(), self.key))
    }
}

/// Self's lifecycle action on its Auto Scaling group's hook.
struct AutoScalingAction {
    client: aws_sdk_autoscaling::Client,
    group: String,
    hook: String,
    own: String,
}

impl AutoScalingAction {
    fn new(config: &aws_config::SdkConfig, group: String, hook: String, own: String) -> Self {
        AutoScalingAction {
            client: aws_sdk_autoscaling::Client::new(config),
            group,
            hook,
            own,
        }
    }
}

#[async_trait::async_trait]
impl LifecycleActions for AutoScalingAction {
    async fn heartbeat(&self) -> Result<(), String> {
        self.client
            .record_lifecycle_action_heartbeat()
            .auto_scaling_group_name(&self.group)
            .lifecycle_hook_name(&self.hook)
            .instance_id(&self.own)
            .send()
            .await
            .map(drop)
            .map_err(|err| {
                format!(
                    "RecordLifecycleActionHeartbeat on {}/{}: {}",
                    self.group,
                    self.hook,
                    crate::report::error_chain(&err)
                )
            })
    }

    async fn complete(&self) -> Result<(), String> {
        self.client
            .complete_lifecycle_action()
            .auto_scaling_group_name(&self.group)
            .lifecycle_hook_name(&self.hook)
            .instance_id(&self.own)
            .lifecycle_action_result("CONTINUE")
            .send()
            .await
            .map(drop)
            .map_err(|err| {
                format!(
                    "CompleteLifecycleAction on {}/{}: {}",
                    self.group,
                    self.hook,
                    crate::report::error_chain(&err)
                )
            })
    }
}
