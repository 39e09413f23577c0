//! One queued event, read: the body of an SQS message holding one
//! EventBridge event about an instance ([`parse_event`]).
//!
//! The body is the event as EventBridge sends it to an SQS target without
//! an input transformer: the raw event document. An event wrapped in an SNS
//! notification, or reshaped by a transformer, is [`Unrecognised`], and so
//! is any event of a kind not in [`DETAIL_TYPES`]. Everything read is
//! checked: the instance id has EC2's shape, the time is RFC 3339 and
//! within EC2's lifetime, the body at most [`MAX_BODY_BYTES`]. A body that
//! is none of this is an error naming what was wrong, never a panic.

use crate::inventory::{is_account_id, is_instance_id, printable};
use serde::Deserialize;
use std::time::SystemTime;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::datetime;

/// The largest body read: SQS's own limit for a message when EventBridge
/// targets it, and EventBridge's for an event (256 KiB).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// `source` and `detail-type` of every event read, as the rule's event
/// pattern must name them.
pub const DETAIL_TYPES: [(&str, &str); 5] = [
    (EC2, STATE_CHANGE),
    (EC2, SPOT_INTERRUPTION),
    (EC2, REBALANCE),
    (AUTO_SCALING, LAUNCH_LIFECYCLE),
    (AUTO_SCALING, TERMINATE_LIFECYCLE),
];

const EC2: &str = "aws.ec2";
const AUTO_SCALING: &str = "aws.autoscaling";
const STATE_CHANGE: &str = "EC2 Instance State-change Notification";
const SPOT_INTERRUPTION: &str = "EC2 Spot Instance Interruption Warning";
const REBALANCE: &str = "EC2 Instance Rebalance Recommendation";
const LAUNCH_LIFECYCLE: &str = "EC2 Instance-launch Lifecycle Action";
const TERMINATE_LIFECYCLE: &str = "EC2 Instance-terminate Lifecycle Action";

/// The states EC2 names in a state-change notification.
const STATES: [&str; 6] = [
    "pending",
    "running",
    "stopping",
    "stopped",
    "shutting-down",
    "terminated",
];

/// What EC2 does to an interrupted spot instance.
const SPOT_ACTIONS: [&str; 3] = ["hibernate", "stop", "terminate"];

/// No event of EC2 is older than EC2 (its first day, 2006-08-25) or from
/// after this century; how near this node's clock it is, is the reader's
/// to judge.
const EARLIEST: OffsetDateTime = datetime!(2006-08-25 00:00 UTC);
const LATEST: OffsetDateTime = datetime!(2100-01-01 00:00 UTC);

/// An event about one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The instance, `i-...`.
    pub instance_id: String,
    /// The region the event comes from (the instance's).
    pub region: String,
    /// The account the instance is in.
    pub account: String,
    /// When it happened, as the event says.
    pub time: SystemTime,
    /// What happened.
    pub kind: EventKind,
}

/// What happened to the instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// Its state changed (`EC2 Instance State-change Notification`):
    /// `pending`, `running`, `stopping`, `stopped`, `shutting-down` or
    /// `terminated`.
    StateChange { state: String },
    /// EC2 will interrupt the spot instance in two minutes (`EC2 Spot
    /// Instance Interruption Warning`): `hibernate`, `stop` or `terminate`.
    SpotInterruption { action: String },
    /// The spot instance is at an elevated risk of interruption (`EC2
    /// Instance Rebalance Recommendation`).
    Rebalance,
    /// Auto Scaling holds the launching instance for a lifecycle hook
    /// (`EC2 Instance-launch Lifecycle Action`).
    LaunchLifecycle,
    /// Auto Scaling holds the terminating instance for a lifecycle hook
    /// (`EC2 Instance-terminate Lifecycle Action`).
    TerminateLifecycle,
}

/// Why a body is not an event rollcall reads. Values are shown escaped and
/// cut short, whatever the body held.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unrecognised {
    #[error("the body is {size} bytes, more than the {MAX_BODY_BYTES} an event may be")]
    TooLarge { size: usize },
    #[error("the body is not an EventBridge event: {reason}")]
    NotAnEvent { reason: String },
    #[error(
        "the body is an SNS notification, not an EventBridge event: send the rule's events \
         to the queue directly, without SNS or an input transformer"
    )]
    SnsEnvelope,
    #[error("the event has no {field}")]
    Missing { field: &'static str },
    #[error("the event is a {detail_type:?} from {sender:?}, not one rollcall reads")]
    OtherEvent { sender: String, detail_type: String },
    #[error("{field} {value:?} is not {expected}")]
    Invalid {
        field: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// The event document: the envelope's fields rollcall reads, every other
/// field ignored.
#[derive(Deserialize)]
struct Document {
    #[serde(rename = "detail-type")]
    detail_type: Option<String>,
    source: Option<String>,
    account: Option<String>,
    region: Option<String>,
    time: Option<String>,
    detail: Option<Detail>,
    /// SNS's `"Type": "Notification"`, to say so.
    #[serde(rename = "Type")]
    sns_type: Option<serde::de::IgnoredAny>,
}

/// The detail fields of the events read.
#[derive(Deserialize)]
struct Detail {
    #[serde(rename = "instance-id")]
    instance_id: Option<String>,
    state: Option<String>,
    #[serde(rename = "instance-action")]
    instance_action: Option<String>,
    #[serde(rename = "EC2InstanceId")]
    ec2_instance_id: Option<String>,
}

/// Reads the event in an SQS message body.
pub fn parse_event(body: &[u8]) -> Result<Event, Unrecognised> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Unrecognised::TooLarge { size: body.len() });
    }
    let document: Document =
        serde_json::from_slice(body).map_err(|err| Unrecognised::NotAnEvent {
            reason: printable(&err.to_string(), 200),
        })?;
    if document.detail_type.is_none() && document.sns_type.is_some() {
        return Err(Unrecognised::SnsEnvelope);
    }
    let detail_type = required("detail-type", document.detail_type)?;
    let source = required("source", document.source)?;
    let expected_source = DETAIL_TYPES
        .iter()
        .find(|(_, known)| *known == detail_type)
        .map(|(source, _)| *source);
    if expected_source != Some(source.as_str()) {
        return Err(Unrecognised::OtherEvent {
            sender: printable(&source, 64),
            detail_type: printable(&detail_type, 100),
        });
    }
    let detail = document
        .detail
        .ok_or(Unrecognised::Missing { field: "detail" })?;
    let (id_field, instance_id, kind) = match detail_type.as_str() {
        STATE_CHANGE => {
            let state = required("detail.state", detail.state)?;
            let state = one_of("detail.state", state, &STATES, "an instance state")?;
            (
                "detail.instance-id",
                detail.instance_id,
                EventKind::StateChange { state },
            )
        }
        SPOT_INTERRUPTION => {
            let action = required("detail.instance-action", detail.instance_action)?;
            let action = one_of(
                "detail.instance-action",
                action,
                &SPOT_ACTIONS,
                "hibernate, stop or terminate",
            )?;
            (
                "detail.instance-id",
                detail.instance_id,
                EventKind::SpotInterruption { action },
            )
        }
        REBALANCE => (
            "detail.instance-id",
            detail.instance_id,
            EventKind::Rebalance,
        ),
        LAUNCH_LIFECYCLE => (
            "detail.EC2InstanceId",
            detail.ec2_instance_id,
            EventKind::LaunchLifecycle,
        ),
        _ => (
            "detail.EC2InstanceId",
            detail.ec2_instance_id,
            EventKind::TerminateLifecycle,
        ),
    };
    let instance_id = required(id_field, instance_id)?;
    if !is_instance_id(&instance_id) {
        return Err(invalid(
            id_field,
            &instance_id,
            "an instance id (i- and 8 or 17 lowercase hex digits)",
        ));
    }
    let region = required("region", document.region)?;
    if !is_region(&region) {
        return Err(invalid("region", &region, "a region name"));
    }
    let account = required("account", document.account)?;
    if !is_account_id(&account) {
        return Err(invalid("account", &account, "an account id (12 digits)"));
    }
    let time = required("time", document.time)?;
    let time = event_time(&time)?;
    Ok(Event {
        instance_id,
        region,
        account,
        time,
        kind,
    })
}

fn required(field: &'static str, value: Option<String>) -> Result<String, Unrecognised> {
    value.ok_or(Unrecognised::Missing { field })
}

fn invalid(field: &'static str, value: &str, expected: &'static str) -> Unrecognised {
    Unrecognised::Invalid {
        field,
        value: printable(value, 64),
        expected,
    }
}

/// `value` if it is one of `known`.
fn one_of(
    field: &'static str,
    value: String,
    known: &[&str],
    expected: &'static str,
) -> Result<String, Unrecognised> {
    if known.contains(&value.as_str()) {
        Ok(value)
    } else {
        Err(invalid(field, &value, expected))
    }
}

/// Whether `text` has the shape of a region's name: `us-east-1`,
/// `us-gov-west-1`, `cn-north-1`.
fn is_region(text: &str) -> bool {
    (4..=32).contains(&text.len())
        && text.starts_with(|c: char| c.is_ascii_lowercase())
        && text.ends_with(|c: char| c.is_ascii_digit())
        && text
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
}

/// The event's RFC 3339 `time`, if it falls within EC2's lifetime.
fn event_time(text: &str) -> Result<SystemTime, Unrecognised> {
    let at = OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|_| invalid("time", text, "an RFC 3339 time, e.g. 2026-12-07T13:00:00Z"))?;
    if !(EARLIEST..LATEST).contains(&at) {
        return Err(invalid(
            "time",
            text,
            "a time between 2006-08-25 (EC2's first day) and 2100",
        ));
    }
    Ok(SystemTime::from(at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::time::Duration;

    /// 2026-12-07T13:00:00Z.
    fn thirteen_hundred() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_648_400)
    }

    fn event(source: &str, detail_type: &str, detail: Value) -> Value {
        json!({
            "version": "0",
            "id": "7bf73129-1428-4cd3-a780-95db273d1602",
            "detail-type": detail_type,
            "source": source,
            "account": "123456789012",
            "time": "2026-12-07T13:00:00Z",
            "region": "us-east-1",
            "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-1234567890abcdef0"],
            "detail": detail,
        })
    }

    fn state_change() -> Value {
        event(
            EC2,
            STATE_CHANGE,
            json!({"instance-id": "i-1234567890abcdef0", "state": "running"}),
        )
    }

    fn parse(value: &Value) -> Result<Event, Unrecognised> {
        parse_event(value.to_string().as_bytes())
    }

    #[test]
    fn the_five_documented_events_are_read() {
        let lifecycle = |transition: &str| {
            json!({
                "LifecycleActionToken": "87654321-4321-4321-4321-210987654321",
                "AutoScalingGroupName": "my-asg",
                "LifecycleHookName": "my-lifecycle-hook",
                "EC2InstanceId": "i-1234567890abcdef0",
                "LifecycleTransition": transition,
                "NotificationMetadata": "additional-info",
                "Origin": "EC2",
                "Destination": "AutoScalingGroup",
            })
        };
        let cases = [
            (
                state_change(),
                EventKind::StateChange {
                    state: "running".into(),
                },
            ),
            (
                event(
                    EC2,
                    SPOT_INTERRUPTION,
                    json!({"instance-id": "i-1234567890abcdef0", "instance-action": "terminate"}),
                ),
                EventKind::SpotInterruption {
                    action: "terminate".into(),
                },
            ),
            (
                event(
                    EC2,
                    REBALANCE,
                    json!({"instance-id": "i-1234567890abcdef0"}),
                ),
                EventKind::Rebalance,
            ),
            (
                event(
                    AUTO_SCALING,
                    LAUNCH_LIFECYCLE,
                    lifecycle("autoscaling:EC2_INSTANCE_LAUNCHING"),
                ),
                EventKind::LaunchLifecycle,
            ),
            (
                event(
                    AUTO_SCALING,
                    TERMINATE_LIFECYCLE,
                    lifecycle("autoscaling:EC2_INSTANCE_TERMINATING"),
                ),
                EventKind::TerminateLifecycle,
            ),
        ];
        for (body, kind) in cases {
            assert_eq!(
                parse(&body),
                Ok(Event {
                    instance_id: "i-1234567890abcdef0".into(),
                    region: "us-east-1".into(),
                    account: "123456789012".into(),
                    time: thirteen_hundred(),
                    kind,
                }),
                "{body}"
            );
        }
    }

    #[test]
    fn a_time_with_an_offset_or_a_fraction_is_the_same_instant() {
        let mut body = state_change();
        body["time"] = json!("2026-12-07T14:00:00+01:00");
        assert_eq!(parse(&body).unwrap().time, thirteen_hundred());
        body["time"] = json!("2026-12-07T13:00:00.250Z");
        assert_eq!(
            parse(&body).unwrap().time,
            thirteen_hundred() + Duration::from_millis(250)
        );
        let mut old = state_change();
        old["detail"]["instance-id"] = json!("i-abcd1111");
        assert_eq!(parse(&old).unwrap().instance_id, "i-abcd1111");
    }

    #[test]
    fn every_missing_field_is_named() {
        for (path, field) in [
            (&["detail-type"][..], "detail-type"),
            (&["source"], "source"),
            (&["account"], "account"),
            (&["region"], "region"),
            (&["time"], "time"),
            (&["detail"], "detail"),
            (&["detail", "instance-id"], "detail.instance-id"),
            (&["detail", "state"], "detail.state"),
        ] {
            let mut body = state_change();
            let (last, parents) = path.split_last().unwrap();
            let mut at = &mut body;
            for parent in parents {
                at = &mut at[*parent];
            }
            at.as_object_mut().unwrap().remove(*last);
            assert_eq!(
                parse(&body),
                Err(Unrecognised::Missing { field }),
                "{path:?}"
            );
        }
        let spot = event(EC2, SPOT_INTERRUPTION, json!({"instance-id": "i-abcd1111"}));
        assert_eq!(
            parse(&spot),
            Err(Unrecognised::Missing {
                field: "detail.instance-action"
            })
        );
        let launch = event(
            AUTO_SCALING,
            LAUNCH_LIFECYCLE,
            json!({"instance-id": "i-abcd1111"}),
        );
        assert_eq!(
            parse(&launch),
            Err(Unrecognised::Missing {
                field: "detail.EC2InstanceId"
            })
        );
        let mut null = state_change();
        null["region"] = Value::Null;
        assert_eq!(parse(&null), Err(Unrecognised::Missing { field: "region" }));
    }

    #[test]
    fn bad_values_are_named_with_what_was_expected() {
        let cases: [(&[&str], Value, &str); 12] = [
            (
                &["detail", "instance-id"],
                json!("i-0m00000000000spot"),
                "detail.instance-id \"i-0m00000000000spot\" is not an instance id",
            ),
            (
                &["detail", "instance-id"],
                json!("i-1234567890ABCDEF0"),
                "is not an instance id",
            ),
            (
                &["detail", "instance-id"],
                json!(""),
                "is not an instance id",
            ),
            (
                &["detail", "state"],
                json!("exploded"),
                "detail.state \"exploded\" is not an instance state",
            ),
            (
                &["account"],
                json!("12345"),
                "account \"12345\" is not an account id",
            ),
            (
                &["region"],
                json!("US-EAST-1"),
                "region \"US-EAST-1\" is not a region name",
            ),
            (
                &["region"],
                json!("us-east-1\u{1b}[31m"),
                "region \"us-east-1?[31m\" is not a region name",
            ),
            (
                &["time"],
                json!("yesterday"),
                "time \"yesterday\" is not an RFC 3339 time",
            ),
            (
                &["time"],
                json!("2026-12-07 13:00:00"),
                "is not an RFC 3339 time",
            ),
            (
                &["time"],
                json!("1970-01-01T00:00:00Z"),
                "is not a time between 2006-08-25",
            ),
            (
                &["time"],
                json!("9999-12-31T23:59:59Z"),
                "is not a time between 2006-08-25",
            ),
            (
                &["time"],
                json!(1796648400),
                "the body is not an EventBridge event: invalid type: integer",
            ),
        ];
        for (path, value, says) in cases {
            let mut body = state_change();
            let (last, parents) = path.split_last().unwrap();
            let mut at = &mut body;
            for parent in parents {
                at = &mut at[*parent];
            }
            at[*last] = value;
            let err = parse(&body).unwrap_err().to_string();
            assert!(err.contains(says), "{path:?}: {err}");
        }
        let spot = event(
            EC2,
            SPOT_INTERRUPTION,
            json!({"instance-id": "i-abcd1111", "instance-action": "explode"}),
        );
        assert_eq!(
            parse(&spot).unwrap_err().to_string(),
            "detail.instance-action \"explode\" is not hibernate, stop or terminate"
        );
    }

    #[test]
    fn other_events_and_other_sources_are_not_read() {
        let other = event(EC2, "EC2 AMI State Change", json!({}));
        assert_eq!(
            parse(&other).unwrap_err().to_string(),
            "the event is a \"EC2 AMI State Change\" from \"aws.ec2\", not one rollcall reads"
        );
        // A detail type rollcall reads, from a source that does not send it.
        let forged = event(
            "my.app",
            STATE_CHANGE,
            json!({"instance-id": "i-abcd1111", "state": "running"}),
        );
        assert!(matches!(
            parse(&forged),
            Err(Unrecognised::OtherEvent { .. })
        ));
        let swapped = event(
            AUTO_SCALING,
            STATE_CHANGE,
            json!({"instance-id": "i-abcd1111", "state": "running"}),
        );
        assert!(matches!(
            parse(&swapped),
            Err(Unrecognised::OtherEvent { .. })
        ));
    }

    #[test]
    fn an_sns_envelope_is_named_as_one() {
        let envelope = json!({
            "Type": "Notification",
            "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:fleet",
            "Message": state_change().to_string(),
        });
        assert_eq!(parse(&envelope), Err(Unrecognised::SnsEnvelope));
    }

    #[test]
    fn bodies_that_are_not_events_are_errors() {
        for body in [
            &b""[..],
            b"null",
            b"[]",
            b"\"text\"",
            b"{",
            b"\xff\xfe",
            b"{\"detail-type\": 5}",
            b"{\"detail\": []}",
        ] {
            assert!(parse_event(body).is_err(), "{body:?}");
        }
        // Deeper than serde_json's recursion limit: an error, no overflow.
        let deep = format!(
            "{{\"detail\":{}{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(matches!(
            parse_event(deep.as_bytes()),
            Err(Unrecognised::NotAnEvent { .. })
        ));
    }

    #[test]
    fn a_body_over_the_limit_is_refused_unread_and_one_at_it_is_read() {
        let mut body = state_change();
        body["padding"] = json!("");
        let bare = body.to_string().len();
        body["padding"] = json!("x".repeat(MAX_BODY_BYTES - bare));
        let text = body.to_string();
        assert_eq!(text.len(), MAX_BODY_BYTES);
        assert!(parse_event(text.as_bytes()).is_ok());
        body["padding"] = json!("x".repeat(MAX_BODY_BYTES - bare + 1));
        assert_eq!(
            parse(&body),
            Err(Unrecognised::TooLarge {
                size: MAX_BODY_BYTES + 1
            })
        );
        // Refused by its size alone, whatever it holds.
        assert_eq!(
            parse_event(&vec![b'{'; MAX_BODY_BYTES + 1]),
            Err(Unrecognised::TooLarge {
                size: MAX_BODY_BYTES + 1
            })
        );
    }

    #[test]
    fn mangled_events_are_errors_or_events_never_panics() {
        let original = state_change().to_string().into_bytes();
        let mut rng = fastrand::Rng::with_seed(0x25);
        let (mut read, mut refused) = (0, 0);
        for _ in 0..5_000 {
            let mut body = original.clone();
            for _ in 0..rng.usize(1..=4) {
                let at = rng.usize(..body.len());
                match rng.u8(..3) {
                    0 => body[at] = rng.u8(..),
                    1 => {
                        body.remove(at);
                    }
                    _ => body.insert(at, b"\"{}[]:,\\0-"[rng.usize(..10)]),
                }
            }
            match parse_event(&body) {
                Ok(event) => {
                    assert!(is_instance_id(&event.instance_id));
                    read += 1;
                }
                Err(_) => refused += 1,
            }
        }
        assert!(read > 0 && refused > 0, "{read} read, {refused} refused");
    }
}
