//! Reading and writing what `aws ec2 describe-instances --output json` prints.
//!
//! Only the fields rollcall uses are modelled; unknown fields are ignored and
//! every field but `InstanceId` and `State.Name` may be missing. A file holds
//! either one such document or a JSON array of them (several pages).
//!
//! rollcall's recordings add what EC2's answer does not say: each
//! instance's `Region`, `Lifecycle` and `Leaving`, and the `OwnerId` of a
//! security group owned by another account than the reservation's.

use super::ids::{check_id_list, is_account_id};
use super::{Field, Fleet, FleetBuilder, Instance, LeaveReason, Lifecycle, LifecycleState};
use crate::located::ParseError;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

/// Parses one describe-instances document or an array of them into
/// instances, in document order; see [`read_describe_instances`].
pub fn parse_describe_instances(bytes: &[u8]) -> Result<Vec<Instance>, ParseError> {
    read_describe_instances(bytes).map(|fleet| fleet.instances())
}

/// Reads one describe-instances document or an array of them into a fleet
/// in columns, in document order, one reservation at a time: strings are
/// copied from the text into the fleet's, nothing is allocated per
/// instance. The ids must pass [`check_ids`](super::check_ids): an empty
/// id, one with whitespace or control characters, or one that appears
/// twice is an error.
pub fn read_describe_instances(bytes: &[u8]) -> Result<Fleet, ParseError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // One UTF-8 check of the whole text is cheaper than serde_json's check
    // of every string in it.
    let text = std::str::from_utf8(bytes).map_err(|err| not_utf8(bytes, &err))?;
    // JSON allows only ASCII whitespace before the document.
    let first = bytes.iter().find(|byte| !byte.is_ascii_whitespace());
    // About 700 bytes of JSON an instance in EC2's form.
    let mut builder = FleetBuilder::with_capacity(text.len() / 700);
    let mut deserializer = serde_json::Deserializer::from_str(text);
    match first {
        Some(b'[') => serde::Deserializer::deserialize_seq(
            &mut deserializer,
            Pages {
                builder: &mut builder,
            },
        )?,
        Some(b'{') => serde::Deserializer::deserialize_map(
            &mut deserializer,
            Pages {
                builder: &mut builder,
            },
        )?,
        Some(_) | None => {
            return Err(ParseError {
                position: None,
                message: "expected a describe-instances JSON document (an object with \
                          `Reservations`) or an array of them"
                    .to_owned(),
            });
        }
    }
    deserializer.end()?;
    let fleet = builder.finish();
    check_id_list(fleet.ids()).map_err(|problem| ParseError {
        position: None,
        message: problem.to_string(),
    })?;
    Ok(fleet)
}

/// The document's pages (an array of them, or one), each appended to the
/// fleet as it is read.
struct Pages<'b> {
    builder: &'b mut FleetBuilder,
}

impl<'de> Visitor<'de> for Pages<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a describe-instances document or an array of them")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut pages: A) -> Result<(), A::Error> {
        while pages
            .next_element_seed(Page {
                builder: &mut *self.builder,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, page: A) -> Result<(), A::Error> {
        Page {
            builder: self.builder,
        }
        .visit_map(page)
    }
}

/// One describe-instances document: its `Reservations`, the rest ignored.
struct Page<'b> {
    builder: &'b mut FleetBuilder,
}

impl<'de> DeserializeSeed<'de> for Page<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Page<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a describe-instances document")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut page: A) -> Result<(), A::Error> {
        let mut reservations = false;
        while let Some(key) = page.next_key::<Cow<'de, str>>()? {
            if key == "Reservations" {
                if reservations {
                    return Err(de::Error::duplicate_field("Reservations"));
                }
                reservations = true;
                page.next_value_seed(Reservations {
                    builder: &mut *self.builder,
                })?;
            } else {
                page.next_value::<IgnoredAny>()?;
            }
        }
        if !reservations {
            return Err(de::Error::missing_field("Reservations"));
        }
        Ok(())
    }
}

/// A page's reservations, each appended to the fleet once read.
struct Reservations<'b> {
    builder: &'b mut FleetBuilder,
}

impl<'de> DeserializeSeed<'de> for Reservations<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Reservations<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a list of reservations")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut reservations: A) -> Result<(), A::Error> {
        while let Some(reservation) = reservations.next_element::<Reservation<'de>>()? {
            append(reservation, self.builder).map_err(de::Error::custom)?;
        }
        Ok(())
    }
}

/// Where the text stops being UTF-8, as a line and column.
fn not_utf8(bytes: &[u8], err: &std::str::Utf8Error) -> ParseError {
    let valid = &bytes[..err.valid_up_to()];
    let line = 1 + valid.iter().filter(|&&byte| byte == b'\n').count();
    let line_start = valid
        .iter()
        .rposition(|&byte| byte == b'\n')
        .map_or(0, |newline| newline + 1);
    // The column counts characters, as serde_json's positions do.
    let column = 1 + String::from_utf8_lossy(&valid[line_start..])
        .chars()
        .count();
    ParseError {
        position: Some((line, column)),
        message: "invalid UTF-8".to_owned(),
    }
}

/// A whole page, as written.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct WrittenPage<'a> {
    reservations: Vec<Reservation<'a>>,
}

/// Text read from the document: borrowed from it unless it holds escapes.
type Text<'a> = Cow<'a, str>;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Reservation<'a> {
    /// The account that owns the reservation's instances.
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    owner_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    instances: Vec<RawInstance<'a>>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawInstance<'a> {
    #[serde(borrow)]
    instance_id: Text<'a>,
    #[serde(borrow)]
    state: RawState<'a>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    private_ip_address: Option<Text<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    public_ip_address: Option<Text<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    private_dns_name: Option<Text<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    public_dns_name: Option<Text<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    ipv6_address: Option<Text<'a>>,
    #[serde(borrow, default)]
    network_interfaces: Vec<RawNetworkInterface<'a>>,
    #[serde(borrow, default)]
    security_groups: Vec<RawGroup<'a>>,
    #[serde(borrow, default)]
    tags: Vec<RawTag<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    placement: Option<RawPlacement<'a>>,
    /// Not part of EC2's answer: rollcall's own recordings add it so that a
    /// fleet merged from several regions keeps each instance's region.
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    region: Option<Text<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    vpc_id: Option<Text<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    subnet_id: Option<Text<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    instance_type: Option<Text<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    image_id: Option<Text<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    launch_time: Option<Text<'a>>,
    /// Not part of EC2's answer: rollcall adds what Auto Scaling said.
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    lifecycle: Option<RawLifecycle<'a>>,
    /// Not part of EC2's answer: rollcall adds whether the instance is
    /// going away.
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    leaving: Option<RawLeaving<'a>>,
}

/// `"Lifecycle": {"State": "in-service", "AutoScalingGroupName": "web"}`.
/// The state is rollcall's name for it or Auto Scaling's (`InService`);
/// a name neither knows reads as `other`, so a newer writer's state never
/// makes a file unreadable.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawLifecycle<'a> {
    #[serde(borrow)]
    state: Text<'a>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    auto_scaling_group_name: Option<Text<'a>>,
}

/// `"Leaving": {"Reason": "spot-interruption", "Deadline": "2026-..."}`;
/// an unknown reason reads as `other`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawLeaving<'a> {
    #[serde(borrow)]
    reason: Text<'a>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    deadline: Option<Text<'a>>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawState<'a> {
    #[serde(borrow)]
    name: Text<'a>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawNetworkInterface<'a> {
    #[serde(borrow, default)]
    ipv6_addresses: Vec<RawIpv6<'a>>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawIpv6<'a> {
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    ipv6_address: Option<Text<'a>>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawGroup<'a> {
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    group_name: Option<Text<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    group_id: Option<Text<'a>>,
    /// Not part of EC2's answer (the AWS CLI prints no owner for an
    /// instance's groups): the account that owns the group, which rollcall
    /// writes only when it is not the reservation's. Missing: the
    /// reservation's `OwnerId`; empty: nobody knows.
    #[serde(
        borrow,
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "group_owner"
    )]
    owner_id: Option<Text<'a>>,
}

/// A group's `OwnerId`: an account id (12 digits), or empty for an owner
/// nobody knows. Anything else is refused where it stands in the file: a
/// mistyped account would silently make the group no one's.
fn group_owner<'de, D>(deserializer: D) -> Result<Option<Text<'de>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let owner = Text::deserialize(deserializer)?;
    if owner.is_empty() || is_account_id(&owner) {
        Ok(Some(owner))
    } else {
        Err(de::Error::custom(format_args!(
            "a security group's OwnerId {owner:?} is not an AWS account id (12 digits)"
        )))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawTag<'a> {
    #[serde(borrow)]
    key: Text<'a>,
    #[serde(borrow, default)]
    value: Text<'a>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawPlacement<'a> {
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    availability_zone: Option<Text<'a>>,
}

/// Appends a reservation's instances to the fleet: each instance's account
/// is the reservation's owner, and so is each group's whose file names no
/// other owner.
fn append(
    reservation: Reservation<'_>,
    builder: &mut FleetBuilder,
) -> Result<(), super::FleetTooLarge> {
    let account = reservation.owner_id.as_deref().unwrap_or_default();
    for raw in reservation.instances {
        builder.begin(&raw.instance_id, &raw.state.name)?;
        for (field, value) in [
            (Field::PrivateIpv4, &raw.private_ip_address),
            (Field::PublicIpv4, &raw.public_ip_address),
            (Field::PrivateDnsName, &raw.private_dns_name),
            (Field::PublicDnsName, &raw.public_dns_name),
            (Field::Region, &raw.region),
            (Field::VpcId, &raw.vpc_id),
            (Field::SubnetId, &raw.subnet_id),
            (Field::InstanceType, &raw.instance_type),
            (Field::ImageId, &raw.image_id),
            (Field::LaunchTime, &raw.launch_time),
        ] {
            builder.set(field, value.as_deref().unwrap_or_default())?;
        }
        if let Some(zone) = raw
            .placement
            .as_ref()
            .and_then(|p| p.availability_zone.as_deref())
        {
            builder.set(Field::AvailabilityZone, zone)?;
        }
        builder.set(Field::Account, account)?;
        builder.ipv6(raw.ipv6_address.as_deref().unwrap_or_default())?;
        for interface in &raw.network_interfaces {
            for address in &interface.ipv6_addresses {
                builder.ipv6(address.ipv6_address.as_deref().unwrap_or_default())?;
            }
        }
        for group in &raw.security_groups {
            let owner = match &group.owner_id {
                None => account,
                Some(named) => named,
            };
            builder.group(
                group.group_id.as_deref().unwrap_or_default(),
                group.group_name.as_deref().unwrap_or_default(),
                owner,
            )?;
        }
        for tag in &raw.tags {
            builder.tag(&tag.key, &tag.value)?;
        }
        if let Some(lifecycle) = &raw.lifecycle {
            builder.set_lifecycle_state(
                LifecycleState::from_name(&lifecycle.state)
                    .unwrap_or_else(|| LifecycleState::from_auto_scaling(&lifecycle.state)),
            );
            builder.set(
                Field::LifecycleGroup,
                lifecycle
                    .auto_scaling_group_name
                    .as_deref()
                    .unwrap_or_default(),
            )?;
        }
        if let Some(leaving) = &raw.leaving {
            builder
                .set_leaving(LeaveReason::from_name(&leaving.reason).unwrap_or(LeaveReason::Other));
            builder.set(
                Field::LeavingDeadline,
                leaving.deadline.as_deref().unwrap_or_default(),
            )?;
        }
    }
    Ok(())
}

/// The instances as one describe-instances document (a reservation per run
/// of instances of one account), which [`parse_describe_instances`] reads
/// back unchanged. Each instance carries a `Region` field, rollcall's own
/// addition, and a group owned by another account than its instance's an
/// `OwnerId` (`""` when unknown): a single-account fleet is written as
/// before groups had owners.
pub fn write_describe_instances(instances: &[Instance]) -> serde_json::Result<String> {
    // One reservation per run of instances of one account, in order.
    let reservations = instances
        .chunk_by(|a, b| a.account == b.account)
        .map(|run| Reservation {
            owner_id: run[0].account.as_deref().map(Cow::Borrowed),
            instances: run.iter().map(RawInstance::from).collect(),
        })
        .collect();
    serde_json::to_string_pretty(&WrittenPage { reservations })
}

impl<'a> From<&'a Instance> for RawInstance<'a> {
    /// The instance as its reservation (owned by `instance.account`) lists
    /// it.
    fn from(instance: &'a Instance) -> Self {
        RawInstance {
            instance_id: Cow::Borrowed(&instance.id),
            state: RawState {
                name: Cow::Borrowed(&instance.state),
            },
            private_ip_address: borrowed(&instance.private_ipv4),
            public_ip_address: borrowed(&instance.public_ipv4),
            private_dns_name: borrowed(&instance.private_dns_name),
            public_dns_name: borrowed(&instance.public_dns_name),
            ipv6_address: None,
            network_interfaces: vec![RawNetworkInterface {
                ipv6_addresses: instance
                    .ipv6_addresses
                    .iter()
                    .map(|address| RawIpv6 {
                        ipv6_address: Some(Cow::Borrowed(address)),
                    })
                    .collect(),
            }],
            security_groups: instance
                .security_groups
                .iter()
                .map(|group| RawGroup {
                    group_name: Some(Cow::Borrowed(&group.name)),
                    group_id: Some(Cow::Borrowed(&group.id)),
                    owner_id: (group.owner != instance.account)
                        .then(|| Cow::Borrowed(group.owner.as_deref().unwrap_or_default())),
                })
                .collect(),
            tags: instance
                .tags
                .iter()
                .map(|tag| RawTag {
                    key: Cow::Borrowed(&tag.key),
                    value: Cow::Borrowed(&tag.value),
                })
                .collect(),
            placement: Some(RawPlacement {
                availability_zone: borrowed(&instance.availability_zone),
            }),
            region: borrowed(&instance.region),
            vpc_id: borrowed(&instance.vpc_id),
            subnet_id: borrowed(&instance.subnet_id),
            instance_type: borrowed(&instance.instance_type),
            image_id: borrowed(&instance.image_id),
            launch_time: borrowed(&instance.launch_time),
            lifecycle: (instance.lifecycle != Lifecycle::default()).then(|| RawLifecycle {
                state: Cow::Borrowed(instance.lifecycle.state.name()),
                auto_scaling_group_name: borrowed(&instance.lifecycle.group),
            }),
            leaving: instance.leaving.as_ref().map(|leaving| RawLeaving {
                reason: Cow::Borrowed(leaving.reason.name()),
                deadline: borrowed(&leaving.deadline),
            }),
        }
    }
}

/// An optional field of the model, borrowed for writing.
fn borrowed(text: &Option<String>) -> Option<Cow<'_, str>> {
    text.as_deref().map(Cow::Borrowed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{Leaving, SecurityGroup, Tag};
    use std::path::Path;

    const PAGE: &str = r#"{
      "Reservations": [
        {"ReservationId": "r-1", "OwnerId": "123456789012",
         "Instances": [{
            "InstanceId": "i-2271a74b",
            "State": {"Code": 16, "Name": "running"},
            "PrivateIpAddress": "10.251.199.99",
            "PublicDnsName": "",
            "Ipv6Address": "2600:1f18::1",
            "NetworkInterfaces": [{"Ipv6Addresses": [{"Ipv6Address": "2600:1f18::1"},
                                                      {"Ipv6Address": "2600:1f18::2"}]}],
            "SecurityGroups": [{"GroupName": "eg-monitor", "GroupId": "sg-1"}],
            "Tags": [{"Key": "Name", "Value": "monitor-1"}],
            "Placement": {"AvailabilityZone": "us-east-1a", "Tenancy": "default"},
            "LaunchTime": "2026-11-26T17:13:50+00:00",
            "SomethingNew": {"nested": [1, 2, 3]}
         }]}
      ]
    }"#;

    #[test]
    fn reads_the_fields_policies_use_and_ignores_the_rest() {
        let instances = parse_describe_instances(PAGE.as_bytes()).unwrap();
        let instance = &instances[0];
        assert_eq!(instance.id, "i-2271a74b");
        assert_eq!(instance.state, "running");
        assert_eq!(instance.private_ipv4.as_deref(), Some("10.251.199.99"));
        assert_eq!(instance.public_dns_name, None, "empty string means absent");
        assert_eq!(instance.ipv6_addresses, ["2600:1f18::1", "2600:1f18::2"]);
        assert_eq!(
            instance.security_groups,
            [SecurityGroup {
                id: "sg-1".into(),
                name: "eg-monitor".into(),
                owner: Some("123456789012".into()),
            }],
            "a group is its reservation's owner's unless the file says otherwise"
        );
        assert_eq!(instance.tags, [Tag::new("Name", "monitor-1")]);
        assert_eq!(instance.availability_zone.as_deref(), Some("us-east-1a"));
        assert_eq!(instance.region, None);
        assert_eq!(instance.account.as_deref(), Some("123456789012"));
        assert_eq!(instance.lifecycle, Lifecycle::default());
        assert_eq!(instance.leaving, None);
    }

    #[test]
    fn lifecycle_names_of_either_kind_and_unknown_ones_read() {
        let page = PAGE.replace(
            "\"LaunchTime\"",
            r#""Lifecycle": {"State": "Terminating:Wait", "AutoScalingGroupName": "web"},
               "Leaving": {"Reason": "meteor-strike", "Deadline": "2026-12-07T10:00:00Z"},
               "LaunchTime""#,
        );
        let instance = &parse_describe_instances(page.as_bytes()).unwrap()[0];
        assert_eq!(
            instance.lifecycle,
            Lifecycle::in_group("web", LifecycleState::TerminatingWait)
        );
        let leaving = instance.leaving.as_ref().unwrap();
        assert_eq!(leaving.reason, LeaveReason::Other);
        assert_eq!(leaving.deadline.as_deref(), Some("2026-12-07T10:00:00Z"));
    }

    #[test]
    fn a_written_fleet_reads_back_unchanged() {
        let mut instances = parse_describe_instances(PAGE.as_bytes()).unwrap();
        instances[0].region = Some("us-east-1".into());
        let mut bare = instances[0].clone();
        bare.id = "i-bare".into();
        bare.ipv6_addresses.clear();
        bare.security_groups.clear();
        bare.tags.clear();
        bare.availability_zone = None;
        instances.push(bare);
        let mut going = instances[0].clone();
        going.id = "i-going".into();
        going.account = Some("210987654321".into());
        going.lifecycle = Lifecycle::in_group("web", LifecycleState::TerminatingWait);
        going.leaving = Some(Leaving::new(
            LeaveReason::SpotInterruption,
            Some("2026-12-07T10:00:00Z".into()),
        ));
        instances.push(going);
        let written = write_describe_instances(&instances).unwrap();
        assert_eq!(
            parse_describe_instances(written.as_bytes()).unwrap(),
            instances
        );
    }

    /// PAGE's instance in a group of another account, one whose owner
    /// nobody knows, and its own.
    fn with_shared_groups() -> Vec<Instance> {
        let mut instances = parse_describe_instances(PAGE.as_bytes()).unwrap();
        let groups = &mut instances[0].security_groups;
        groups.push(SecurityGroup {
            id: "sg-2".into(),
            name: "eg-monitor".into(),
            owner: Some("210987654321".into()),
        });
        groups.push(SecurityGroup {
            id: "sg-3".into(),
            name: "cluster-blue".into(),
            owner: None,
        });
        let mut ownerless = instances[0].clone();
        ownerless.id = "i-ownerless".into();
        ownerless.account = None;
        instances.push(ownerless);
        instances
    }

    #[test]
    fn a_group_of_another_account_reads_back_from_a_recording() {
        let instances = with_shared_groups();
        let written = write_describe_instances(&instances).unwrap();
        assert_eq!(
            parse_describe_instances(written.as_bytes()).unwrap(),
            instances
        );
        // Two reservations, and the groups whose owner is not their
        // reservation's: sg-2 and sg-3 of the first, sg-1 and sg-2 of the
        // ownerless instance's.
        let owners: Vec<&str> = written
            .lines()
            .filter_map(|line| line.trim().strip_prefix("\"OwnerId\": "))
            .collect();
        assert_eq!(
            owners,
            [
                "\"123456789012\",",
                "\"210987654321\"",
                "\"\"",
                "\"123456789012\"",
                "\"210987654321\"",
            ]
        );
    }

    #[test]
    fn a_single_account_fleet_is_written_without_group_owners() {
        let instances = parse_describe_instances(PAGE.as_bytes()).unwrap();
        let written = write_describe_instances(&instances).unwrap();
        assert_eq!(written.matches("OwnerId").count(), 1, "{written}");
    }

    #[test]
    fn an_empty_group_owner_is_an_unknown_one() {
        let page = PAGE.replace(
            r#""GroupId": "sg-1""#,
            r#""GroupId": "sg-1", "OwnerId": """#,
        );
        let instance = &parse_describe_instances(page.as_bytes()).unwrap()[0];
        assert_eq!(instance.security_groups[0].owner, None);
        assert_eq!(instance.account.as_deref(), Some("123456789012"));
    }

    #[test]
    fn a_group_owner_that_is_no_account_id_is_refused_where_it_stands() {
        // As the file has it, and as the message shows it (escaped).
        for (bad, shown) in [
            ("12345", "\"12345\""),
            ("1234567890123", "\"1234567890123\""),
            ("12345678901x", "\"12345678901x\""),
            ("\\u001b[2J", "\"\\u{1b}[2J\""),
        ] {
            let page = PAGE.replace(
                r#""GroupId": "sg-1""#,
                &format!(r#""GroupId": "sg-1", "OwnerId": "{bad}""#),
            );
            let err = parse_describe_instances(page.as_bytes()).unwrap_err();
            assert_eq!(
                err.message,
                format!("a security group's OwnerId {shown} is not an AWS account id (12 digits)")
            );
            assert_eq!(err.position.map(|(line, _)| line), Some(12), "{bad}: {err}");
        }
    }

    #[test]
    fn an_array_of_pages_is_one_fleet() {
        let two = format!("[{PAGE}, {}]", PAGE.replace("i-2271a74b", "i-other"));
        let instances = parse_describe_instances(two.as_bytes()).unwrap();
        assert_eq!(instances.len(), 2);
        assert_eq!(instances[1].id, "i-other");
    }

    #[test]
    fn a_duplicate_instance_is_an_error() {
        let err = parse_describe_instances(format!("[{PAGE}, {PAGE}]").as_bytes()).unwrap_err();
        assert_eq!(
            err.message,
            "instance \"i-2271a74b\" appears more than once"
        );
    }

    #[test]
    fn an_unusable_instance_id_is_an_error() {
        let bad = PAGE.replace("i-2271a74b", "i-2271a74b\\u001b[2J");
        let err = parse_describe_instances(bad.as_bytes()).unwrap_err();
        assert_eq!(
            err.message,
            "instance id \"i-2271a74b\\u{1b}[2J\" contains a control character"
        );
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let err = parse_describe_instances(b"{\n  \"Reservations\": [\n    {,\n").unwrap_err();
        assert_eq!(err.position, Some((3, 6)));
        assert_eq!(
            err.located_in(Path::new("fleet.json")),
            "fleet.json:3:6: key must be a string"
        );
    }

    #[test]
    fn invalid_utf8_is_located() {
        let mut text = b"{\n  \"Reservations\": [\n    {\"Instances\": [\"caf".to_vec();
        text.extend_from_slice(b"\xC3\xA9 \xFF\"]}]}");
        let err = parse_describe_instances(&text).unwrap_err();
        assert_eq!(err.message, "invalid UTF-8");
        // Line 3 is `    {"Instances": ["café ` then the bad byte: the
        // 26th character, with `é` counted once.
        assert_eq!(err.position, Some((3, 26)));
    }

    #[test]
    fn a_missing_required_field_is_named() {
        let err = parse_describe_instances(
            br#"{"Reservations": [{"Instances": [{"State": {"Name": "running"}}]}]}"#,
        )
        .unwrap_err();
        assert!(err.message.contains("missing field `InstanceId`"), "{err}");
        assert!(err.position.is_some());
    }

    #[test]
    fn something_else_entirely_is_refused() {
        assert!(parse_describe_instances(b"").is_err());
        assert!(parse_describe_instances(b"hello").is_err());
        let err = parse_describe_instances(br#"{"Instances": []}"#).unwrap_err();
        assert!(
            err.message.contains("missing field `Reservations`"),
            "{err}"
        );
    }
}
