//! The fleet in columns: one text holding every string, and per field one
//! column of indices into it, the layout `wit/policy.wit`'s `fleet` record
//! carries. Readers append into it as they parse ([`FleetBuilder`]), so the
//! bytes of a listing become columns without an allocation per instance,
//! and a question to a policy is a copy of a few contiguous buffers.
//!
//! String 0 is the empty string, which stands for "not reported" in the
//! optional columns. Each distinct security group (id, name, owner) is
//! listed once and referred to by index. [`Fleet::instances`] turns the
//! columns into [`Instance`]s for the parts of the host that still read
//! those.

use super::{Instance, LeaveReason, Leaving, Lifecycle, LifecycleState, SecurityGroup, Tag};
use foldhash::HashMap;

/// An optional text field of an instance, one column each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    PrivateIpv4,
    PublicIpv4,
    PrivateDnsName,
    PublicDnsName,
    AvailabilityZone,
    Region,
    VpcId,
    SubnetId,
    InstanceType,
    ImageId,
    LaunchTime,
    Account,
    LifecycleGroup,
    LeavingDeadline,
}

impl Field {
    /// Every field, in column order.
    pub const ALL: [Field; 14] = [
        Field::PrivateIpv4,
        Field::PublicIpv4,
        Field::PrivateDnsName,
        Field::PublicDnsName,
        Field::AvailabilityZone,
        Field::Region,
        Field::VpcId,
        Field::SubnetId,
        Field::InstanceType,
        Field::ImageId,
        Field::LaunchTime,
        Field::Account,
        Field::LifecycleGroup,
        Field::LeavingDeadline,
    ];
}

/// A security group of the fleet's table, as indices into its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupRow {
    /// The group id.
    pub id: u32,
    /// The group name.
    pub name: u32,
    /// The owning account; string 0 when unknown.
    pub owner: u32,
}

/// A whole fleet in columns, in listing order. The empty fleet is
/// `Fleet::default()`: like every fleet, its text starts with string 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fleet {
    /// Every string, one after the other.
    pub(crate) text: String,
    /// Where each string ends in `text`; string `i` runs from `text_ends[i -
    /// 1]` (0 for string 0) to `text_ends[i]`. Starts with 0: string 0 is
    /// empty.
    pub(crate) text_ends: Vec<u32>,
    /// Every distinct security group once.
    pub(crate) groups: Vec<GroupRow>,
    /// Per instance: its id.
    pub(crate) ids: Vec<u32>,
    /// Per instance: its state's name.
    pub(crate) states: Vec<u32>,
    /// Per instance and [`Field`]: the field's string, 0 when not reported.
    pub(crate) fields: [Vec<u32>; Field::ALL.len()],
    /// Per instance: its Auto Scaling lifecycle state.
    pub(crate) lifecycle_states: Vec<LifecycleState>,
    /// Per instance: why it is leaving, if it is.
    pub(crate) leaving_reasons: Vec<Option<LeaveReason>>,
    /// Per instance: where its groups end in `instance_groups`.
    pub(crate) group_ends: Vec<u32>,
    /// Every instance's groups, as indices into `groups`.
    pub(crate) instance_groups: Vec<u32>,
    /// Per instance: where its tags end in `tag_keys` and `tag_values`.
    pub(crate) tag_ends: Vec<u32>,
    pub(crate) tag_keys: Vec<u32>,
    pub(crate) tag_values: Vec<u32>,
    /// Per instance: where its IPv6 addresses end in `ipv6_addresses`.
    pub(crate) ipv6_ends: Vec<u32>,
    pub(crate) ipv6_addresses: Vec<u32>,
}

impl Default for Fleet {
    fn default() -> Self {
        FleetBuilder::default().finish()
    }
}

impl Fleet {
    /// How many instances.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether it has no instance.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// String `index` of the text; empty for an index outside it.
    pub fn string(&self, index: u32) -> &str {
        let index = index as usize;
        let (Some(&end), start) = (
            self.text_ends.get(index),
            index
                .checked_sub(1)
                .and_then(|before| self.text_ends.get(before)),
        ) else {
            return "";
        };
        let start = start.copied().unwrap_or(0);
        self.text.get(start as usize..end as usize).unwrap_or("")
    }

    /// The id of instance `index`; empty for an index outside the fleet.
    pub fn id(&self, index: usize) -> &str {
        self.ids.get(index).map_or("", |&id| self.string(id))
    }

    /// Every instance id, in order.
    pub fn ids(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.ids.iter().map(|&id| self.string(id))
    }

    /// The state's name of instance `index`.
    pub fn state(&self, index: usize) -> &str {
        self.states
            .get(index)
            .map_or("", |&state| self.string(state))
    }

    /// Field `field` of instance `index`, `None` when not reported.
    pub fn field(&self, index: usize, field: Field) -> Option<&str> {
        let text = self.string(*self.fields[field as usize].get(index)?);
        (!text.is_empty()).then_some(text)
    }

    /// The Auto Scaling lifecycle state of instance `index`.
    pub fn lifecycle_state(&self, index: usize) -> LifecycleState {
        self.lifecycle_states
            .get(index)
            .copied()
            .unwrap_or_default()
    }

    /// Why instance `index` is leaving, if it is.
    pub fn leave_reason(&self, index: usize) -> Option<LeaveReason> {
        self.leaving_reasons.get(index).copied().flatten()
    }

    /// The run `[start, end)` of instance `index` in a column of runs.
    fn run(ends: &[u32], index: usize) -> std::ops::Range<usize> {
        let start = match index.checked_sub(1) {
            Some(before) => ends.get(before).copied().unwrap_or(0),
            None => 0,
        };
        let end = ends.get(index).copied().unwrap_or(start);
        start as usize..end.max(start) as usize
    }

    /// The security groups of instance `index`.
    pub fn groups(&self, index: usize) -> impl Iterator<Item = GroupRow> + '_ {
        let run = Self::run(&self.group_ends, index);
        self.instance_groups
            .get(run)
            .unwrap_or_default()
            .iter()
            .filter_map(|&group| self.groups.get(group as usize).copied())
    }

    /// The tags of instance `index`, as (key, value).
    pub fn tags(&self, index: usize) -> impl Iterator<Item = (&str, &str)> + '_ {
        let run = Self::run(&self.tag_ends, index);
        let keys = self.tag_keys.get(run.clone()).unwrap_or_default();
        let values = self.tag_values.get(run).unwrap_or_default();
        keys.iter()
            .zip(values)
            .map(|(&key, &value)| (self.string(key), self.string(value)))
    }

    /// The IPv6 addresses of instance `index`, primary interface first.
    pub fn ipv6_addresses(&self, index: usize) -> impl Iterator<Item = &str> + '_ {
        let run = Self::run(&self.ipv6_ends, index);
        self.ipv6_addresses
            .get(run)
            .unwrap_or_default()
            .iter()
            .map(|&address| self.string(address))
    }

    /// Instance `index` as the host's owned model.
    pub fn instance(&self, index: usize) -> Instance {
        let text = |field: Field| self.field(index, field).map(str::to_owned);
        Instance {
            id: self.id(index).to_owned(),
            state: self.state(index).to_owned(),
            private_ipv4: text(Field::PrivateIpv4),
            public_ipv4: text(Field::PublicIpv4),
            private_dns_name: text(Field::PrivateDnsName),
            public_dns_name: text(Field::PublicDnsName),
            ipv6_addresses: self.ipv6_addresses(index).map(str::to_owned).collect(),
            security_groups: self
                .groups(index)
                .map(|group| SecurityGroup {
                    id: self.string(group.id).to_owned(),
                    name: self.string(group.name).to_owned(),
                    owner: match self.string(group.owner) {
                        "" => None,
                        owner => Some(owner.to_owned()),
                    },
                })
                .collect(),
            tags: self
                .tags(index)
                .map(|(key, value)| Tag::new(key, value))
                .collect(),
            availability_zone: text(Field::AvailabilityZone),
            region: text(Field::Region),
            vpc_id: text(Field::VpcId),
            subnet_id: text(Field::SubnetId),
            instance_type: text(Field::InstanceType),
            image_id: text(Field::ImageId),
            launch_time: text(Field::LaunchTime),
            account: text(Field::Account),
            lifecycle: Lifecycle {
                state: self.lifecycle_state(index),
                group: text(Field::LifecycleGroup),
            },
            leaving: self.leave_reason(index).map(|reason| Leaving {
                reason,
                deadline: text(Field::LeavingDeadline),
            }),
        }
    }

    /// Every instance as the host's owned model, in order.
    pub fn instances(&self) -> Vec<Instance> {
        (0..self.len()).map(|index| self.instance(index)).collect()
    }

    /// The fleet of `instances`, in their order.
    pub fn from_instances(instances: &[Instance]) -> Result<Fleet, FleetTooLarge> {
        let mut builder = FleetBuilder::with_capacity(instances.len());
        for instance in instances {
            builder.push_instance(instance)?;
        }
        Ok(builder.finish())
    }

    /// The bytes its buffers take, about: for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        let u32s = self.text_ends.len()
            + self.ids.len()
            + self.states.len()
            + self.fields.iter().map(Vec::len).sum::<usize>()
            + self.group_ends.len()
            + self.instance_groups.len()
            + self.tag_ends.len()
            + self.tag_keys.len()
            + self.tag_values.len()
            + self.ipv6_ends.len()
            + self.ipv6_addresses.len()
            + self.groups.len() * 3;
        self.text.len() + 4 * u32s + 2 * self.len()
    }
}

/// Writes a security group's key in the builder's table, `id \0 name \0
/// owner`, into `key`.
fn group_key(key: &mut String, [id, name, owner]: [&str; 3]) {
    key.clear();
    key.push_str(id);
    key.push('\0');
    key.push_str(name);
    key.push('\0');
    key.push_str(owner);
}

/// A fleet whose text passed 4 GiB, which 32-bit offsets cannot hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the fleet's text is over 4 GiB")]
pub struct FleetTooLarge;

/// A fleet under construction: a reader starts an instance with
/// [`begin`](FleetBuilder::begin), sets what it reads, and the instance is
/// complete when the next begins or the fleet is [`finish`](FleetBuilder::finish)ed.
#[derive(Debug)]
pub struct FleetBuilder {
    fleet: Fleet,
    /// Security groups by `id \0 name \0 owner`, to their row.
    group_rows: HashMap<Box<str>, u32>,
    /// The key of the group being looked up.
    scratch: String,
    /// Whether an instance is open (its run ends not yet written).
    open: bool,
}

impl Default for FleetBuilder {
    /// An empty builder; its text starts with string 0, the empty string,
    /// as every fleet's does.
    fn default() -> Self {
        FleetBuilder::with_capacity(0)
    }
}

impl FleetBuilder {
    /// A builder with room for about `instances` instances.
    pub fn with_capacity(instances: usize) -> FleetBuilder {
        let column = || Vec::with_capacity(instances);
        let mut text_ends = Vec::with_capacity(instances * 12 + 1);
        text_ends.push(0);
        FleetBuilder {
            fleet: Fleet {
                text: String::with_capacity(instances * 200),
                text_ends,
                groups: Vec::new(),
                ids: column(),
                states: column(),
                fields: std::array::from_fn(|_| column()),
                lifecycle_states: Vec::with_capacity(instances),
                leaving_reasons: Vec::with_capacity(instances),
                group_ends: column(),
                instance_groups: Vec::with_capacity(instances * 4),
                tag_ends: column(),
                tag_keys: Vec::with_capacity(instances * 4),
                tag_values: Vec::with_capacity(instances * 4),
                ipv6_ends: column(),
                ipv6_addresses: Vec::new(),
            },
            group_rows: HashMap::default(),
            scratch: String::new(),
            open: false,
        }
    }

    /// How many instances begun so far.
    pub fn len(&self) -> usize {
        self.fleet.ids.len()
    }

    /// Whether no instance was begun.
    pub fn is_empty(&self) -> bool {
        self.fleet.ids.is_empty()
    }

    /// Appends a string; the empty string is string 0 and takes no room.
    fn string(&mut self, text: &str) -> Result<u32, FleetTooLarge> {
        if text.is_empty() {
            return Ok(0);
        }
        let fleet = &mut self.fleet;
        fleet.text.push_str(text);
        let end = u32::try_from(fleet.text.len()).map_err(|_| FleetTooLarge)?;
        fleet.text_ends.push(end);
        Ok(fleet.text_ends.len() as u32 - 1)
    }

    /// Closes the open instance's runs.
    fn close(&mut self) {
        if std::mem::take(&mut self.open) {
            let fleet = &mut self.fleet;
            fleet.group_ends.push(fleet.instance_groups.len() as u32);
            fleet.tag_ends.push(fleet.tag_keys.len() as u32);
            fleet.ipv6_ends.push(fleet.ipv6_addresses.len() as u32);
        }
    }

    /// Starts the next instance, with id `id` and state `state`; every other
    /// field unreported until set.
    pub fn begin(&mut self, id: &str, state: &str) -> Result<(), FleetTooLarge> {
        self.close();
        let id = self.string(id)?;
        let state = self.string(state)?;
        let fleet = &mut self.fleet;
        fleet.ids.push(id);
        fleet.states.push(state);
        for column in &mut fleet.fields {
            column.push(0);
        }
        fleet.lifecycle_states.push(LifecycleState::NotInGroup);
        fleet.leaving_reasons.push(None);
        self.open = true;
        Ok(())
    }

    /// Sets a field of the open instance; an empty text leaves it unreported.
    pub fn set(&mut self, field: Field, text: &str) -> Result<(), FleetTooLarge> {
        let string = self.string(text)?;
        if let Some(slot) = self.fleet.fields[field as usize].last_mut() {
            *slot = string;
        }
        Ok(())
    }

    /// Sets `field` of every instance from `first` on (a reservation's
    /// owner, read after its instances).
    pub fn set_from(
        &mut self,
        first: usize,
        field: Field,
        text: &str,
    ) -> Result<(), FleetTooLarge> {
        let string = self.string(text)?;
        for slot in self.fleet.fields[field as usize].iter_mut().skip(first) {
            *slot = string;
        }
        Ok(())
    }

    /// The open instance's Auto Scaling lifecycle state.
    pub fn set_lifecycle_state(&mut self, state: LifecycleState) {
        if let Some(slot) = self.fleet.lifecycle_states.last_mut() {
            *slot = state;
        }
    }

    /// Why the open instance is leaving (its deadline is
    /// [`Field::LeavingDeadline`]).
    pub fn set_leaving(&mut self, reason: LeaveReason) {
        if let Some(slot) = self.fleet.leaving_reasons.last_mut() {
            *slot = Some(reason);
        }
    }

    /// Adds a security group to the open instance; `owner` empty when
    /// unknown.
    pub fn group(&mut self, id: &str, name: &str, owner: &str) -> Result<(), FleetTooLarge> {
        group_key(&mut self.scratch, [id, name, owner]);
        let row = match self.group_rows.get(self.scratch.as_str()) {
            Some(&row) => row,
            None => {
                let group = GroupRow {
                    id: self.string(id)?,
                    name: self.string(name)?,
                    owner: self.string(owner)?,
                };
                let row = self.fleet.groups.len() as u32;
                self.fleet.groups.push(group);
                self.group_rows.insert(self.scratch.as_str().into(), row);
                row
            }
        };
        self.fleet.instance_groups.push(row);
        Ok(())
    }

    /// Adds a tag to the open instance.
    pub fn tag(&mut self, key: &str, value: &str) -> Result<(), FleetTooLarge> {
        let key = self.string(key)?;
        let value = self.string(value)?;
        self.fleet.tag_keys.push(key);
        self.fleet.tag_values.push(value);
        Ok(())
    }

    /// Adds an IPv6 address to the open instance, unless empty or already
    /// there.
    pub fn ipv6(&mut self, address: &str) -> Result<(), FleetTooLarge> {
        if address.is_empty() {
            return Ok(());
        }
        let fleet = &self.fleet;
        let start = fleet.ipv6_ends.last().copied().unwrap_or(0) as usize;
        let seen = fleet
            .ipv6_addresses
            .get(start..)
            .unwrap_or_default()
            .iter()
            .any(|&known| fleet.string(known) == address);
        if !seen {
            let address = self.string(address)?;
            self.fleet.ipv6_addresses.push(address);
        }
        Ok(())
    }

    /// Appends an instance of the host's owned model.
    pub fn push_instance(&mut self, instance: &Instance) -> Result<(), FleetTooLarge> {
        self.begin(&instance.id, &instance.state)?;
        for (field, text) in [
            (Field::PrivateIpv4, &instance.private_ipv4),
            (Field::PublicIpv4, &instance.public_ipv4),
            (Field::PrivateDnsName, &instance.private_dns_name),
            (Field::PublicDnsName, &instance.public_dns_name),
            (Field::AvailabilityZone, &instance.availability_zone),
            (Field::Region, &instance.region),
            (Field::VpcId, &instance.vpc_id),
            (Field::SubnetId, &instance.subnet_id),
            (Field::InstanceType, &instance.instance_type),
            (Field::ImageId, &instance.image_id),
            (Field::LaunchTime, &instance.launch_time),
            (Field::Account, &instance.account),
            (Field::LifecycleGroup, &instance.lifecycle.group),
        ] {
            if let Some(text) = text {
                self.set(field, text)?;
            }
        }
        self.set_lifecycle_state(instance.lifecycle.state);
        if let Some(leaving) = &instance.leaving {
            self.set_leaving(leaving.reason);
            if let Some(deadline) = &leaving.deadline {
                self.set(Field::LeavingDeadline, deadline)?;
            }
        }
        for group in &instance.security_groups {
            self.group(&group.id, &group.name, group.owner.as_deref().unwrap_or(""))?;
        }
        for tag in &instance.tags {
            self.tag(&tag.key, &tag.value)?;
        }
        // Pushed as they are: the model's list is already each address once.
        for address in &instance.ipv6_addresses {
            let address = self.string(address)?;
            self.fleet.ipv6_addresses.push(address);
        }
        Ok(())
    }

    /// Appends every instance of `other`, in order: its strings and
    /// columns copied in bulk, its groups merged into this fleet's table.
    pub fn append(&mut self, other: &Fleet) -> Result<(), FleetTooLarge> {
        self.close();
        let fleet = &mut self.fleet;
        if fleet.text_ends.is_empty() {
            fleet.text_ends.push(0);
        }
        // String `i > 0` of `other` becomes string `i + shift` here.
        let shift = fleet.text_ends.len() as u32 - 1;
        let base = u32::try_from(fleet.text.len()).map_err(|_| FleetTooLarge)?;
        let room = u32::MAX - base;
        if u32::try_from(other.text.len()).map_err(|_| FleetTooLarge)? > room {
            return Err(FleetTooLarge);
        }
        fleet.text.push_str(&other.text);
        let ends = other.text_ends.get(1..).unwrap_or_default();
        fleet.text_ends.extend(ends.iter().map(|&end| end + base));
        let string = |index: u32| if index == 0 { 0 } else { index + shift };
        let mut rows = Vec::with_capacity(other.groups.len());
        for group in &other.groups {
            group_key(
                &mut self.scratch,
                [group.id, group.name, group.owner].map(|part| other.string(part)),
            );
            let row = match self.group_rows.get(self.scratch.as_str()) {
                Some(&row) => row,
                None => {
                    let row = self.fleet.groups.len() as u32;
                    self.fleet.groups.push(GroupRow {
                        id: string(group.id),
                        name: string(group.name),
                        owner: string(group.owner),
                    });
                    self.group_rows.insert(self.scratch.as_str().into(), row);
                    row
                }
            };
            rows.push(row);
        }
        let fleet = &mut self.fleet;
        fleet.ids.extend(other.ids.iter().map(|&id| string(id)));
        fleet
            .states
            .extend(other.states.iter().map(|&state| string(state)));
        for (column, others) in fleet.fields.iter_mut().zip(&other.fields) {
            column.extend(others.iter().map(|&index| string(index)));
        }
        fleet
            .lifecycle_states
            .extend_from_slice(&other.lifecycle_states);
        fleet
            .leaving_reasons
            .extend_from_slice(&other.leaving_reasons);
        let runs = |ends: &mut Vec<u32>, items: usize, others: &[u32]| {
            let items = items as u32;
            ends.extend(others.iter().map(|&end| end + items));
        };
        runs(
            &mut fleet.group_ends,
            fleet.instance_groups.len(),
            &other.group_ends,
        );
        fleet.instance_groups.extend(
            other
                .instance_groups
                .iter()
                .map(|&group| rows.get(group as usize).copied().unwrap_or(0)),
        );
        runs(&mut fleet.tag_ends, fleet.tag_keys.len(), &other.tag_ends);
        fleet
            .tag_keys
            .extend(other.tag_keys.iter().map(|&key| string(key)));
        fleet
            .tag_values
            .extend(other.tag_values.iter().map(|&value| string(value)));
        runs(
            &mut fleet.ipv6_ends,
            fleet.ipv6_addresses.len(),
            &other.ipv6_ends,
        );
        fleet
            .ipv6_addresses
            .extend(other.ipv6_addresses.iter().map(|&address| string(address)));
        Ok(())
    }

    /// The finished fleet.
    pub fn finish(mut self) -> Fleet {
        self.close();
        self.fleet
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::every_field as full;

    #[test]
    fn every_field_of_every_instance_comes_back_as_it_went_in() {
        let states = ["running", "stopped", "pending", "a-state-of-its-own"];
        let instances: Vec<Instance> = (0..24)
            .map(|n| full(n, states[n as usize % states.len()]))
            .chain([Instance::running("i-bare")])
            .collect();
        let fleet = Fleet::from_instances(&instances).unwrap();
        assert_eq!(fleet.len(), instances.len());
        assert_eq!(fleet.instances(), instances);
    }

    #[test]
    fn each_distinct_group_is_listed_once() {
        let instances: Vec<Instance> = (0..10).map(|n| full(n, "running")).collect();
        let fleet = Fleet::from_instances(&instances).unwrap();
        // The shared group, and each instance's own.
        assert_eq!(fleet.groups.len(), 1 + 10);
        assert_eq!(fleet.instance_groups.len(), 20);
    }

    #[test]
    fn a_repeated_ipv6_address_is_kept_once() {
        let mut builder = FleetBuilder::default();
        builder.begin("i-1", "running").unwrap();
        for address in ["2600::1", "", "2600::2", "2600::1"] {
            builder.ipv6(address).unwrap();
        }
        builder.begin("i-2", "running").unwrap();
        builder.ipv6("2600::1").unwrap();
        let fleet = builder.finish();
        assert_eq!(fleet.instance(0).ipv6_addresses, ["2600::1", "2600::2"]);
        assert_eq!(fleet.instance(1).ipv6_addresses, ["2600::1"]);
    }

    #[test]
    fn fleets_appended_read_as_one_with_each_group_once() {
        let instances: Vec<Instance> = (0..9).map(|n| full(n, "running")).collect();
        let whole = Fleet::from_instances(&instances).unwrap();
        let mut builder = FleetBuilder::with_capacity(0);
        for part in instances.chunks(4) {
            builder
                .append(&Fleet::from_instances(part).unwrap())
                .unwrap();
        }
        builder.append(&Fleet::default()).unwrap();
        let appended = builder.finish();
        assert_eq!(appended.instances(), instances);
        assert_eq!(appended.groups.len(), whole.groups.len());
    }

    #[test]
    fn a_field_never_set_reads_as_not_reported_from_any_builder() {
        for mut builder in [FleetBuilder::default(), FleetBuilder::with_capacity(8)] {
            builder.begin("i-1", "running").unwrap();
            builder.set(Field::Region, "us-east-1").unwrap();
            let fleet = builder.finish();
            assert_eq!(fleet.id(0), "i-1");
            assert_eq!(fleet.field(0, Field::Region), Some("us-east-1"));
            assert_eq!(fleet.field(0, Field::PrivateIpv4), None);
            assert_eq!(fleet.instance(0).account, None);
        }
    }

    #[test]
    fn indices_outside_the_fleet_read_as_nothing() {
        let fleet = Fleet::from_instances(&[full(1, "running")]).unwrap();
        assert_eq!(fleet.id(1), "");
        assert_eq!(fleet.string(u32::MAX), "");
        assert_eq!(fleet.field(7, Field::Region), None);
        assert_eq!(fleet.groups(3).count(), 0);
        assert_eq!(fleet.tags(3).count(), 0);
    }
}
