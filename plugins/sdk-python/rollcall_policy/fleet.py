"""The fleet as a policy reads it: typed instances over the columns the host
sends (``wit/policy.wit``, record ``fleet``). Nothing is decoded up front: an
:class:`Instance` is an index, and each property reads its column."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain, compress, repeat
from operator import sub
from typing import Iterator, Optional

#: The EC2 state names, as the interface's ``instance-state`` enum has them.
STATES = (
    "pending",
    "running",
    "shutting-down",
    "terminated",
    "stopping",
    "stopped",
    "other",
)

#: The Auto Scaling lifecycle state names, as the interface's
#: ``lifecycle-state`` enum has them.
LIFECYCLE_STATES = (
    "not-in-group",
    "pending",
    "pending-wait",
    "in-service",
    "standby",
    "terminating",
    "terminating-wait",
    "detaching",
    "warmed",
    "other",
)

#: The lifecycle states in which Auto Scaling holds an instance out of
#: service: an instance in one of them does not serve.
UNSERVING_STATES = frozenset(
    ("pending-wait", "standby", "terminating", "terminating-wait", "detaching", "warmed")
)

#: The reasons an instance leaves, as the interface's ``leave-reason`` enum
#: has them.
LEAVE_REASONS = (
    "spot-interruption",
    "rebalance-recommendation",
    "scheduled-maintenance",
    "auto-scaling-termination",
    "announced",
    "other",
)

#: The per-instance columns besides ``ids``: each has one entry per instance.
PER_INSTANCE = (
    "states",
    "private_ipv4s",
    "public_ipv4s",
    "private_dns_names",
    "public_dns_names",
    "availability_zones",
    "regions",
    "vpc_ids",
    "subnet_ids",
    "instance_types",
    "image_ids",
    "launch_times",
    "accounts",
    "lifecycle_states",
    "lifecycle_groups",
    "leaving_reasons",
    "leaving_deadlines",
    "group_ends",
    "tag_ends",
    "ipv6_ends",
)


@dataclass(frozen=True)
class SecurityGroup:
    """A security group of the fleet."""

    #: Its index in :attr:`Fleet.security_groups`.
    index: int
    #: The group id, e.g. ``sg-0a1b2c3d``.
    id: str
    #: The group name, e.g. ``eg-monitor``.
    name: str
    #: The AWS account that owns the group, e.g. ``123456789012``, when the
    #: host knows it (it takes the instance's account, unless a recorded
    #: fleet names another); ``None`` otherwise. With several accounts in
    #: the fleet, it tells account A's ``eg-monitor`` from account B's.
    owner: Optional[str] = None


@dataclass(frozen=True)
class Leaving:
    """That an instance is going away (:attr:`Instance.leaving`)."""

    #: Why, one of :data:`LEAVE_REASONS`.
    reason: str
    #: When it will be gone, RFC 3339, if anyone said.
    deadline: Optional[str]


class Fleet:
    """The fleet of one evaluation, with self and the instance to explain.

    ``columns`` is the interface's ``fleet`` record (or anything with the same
    attributes, as :func:`rollcall_policy.records.fleet_from_records` makes);
    its ``states`` hold state names (see :data:`STATES`), its
    ``lifecycle_states`` lifecycle state names (:data:`LIFECYCLE_STATES`) and
    its ``leaving_reasons`` reason names (:data:`LEAVE_REASONS`) or ``None``."""

    __slots__ = (
        "_columns",
        "_text",
        "_bytes",
        "_groups",
        "_group_runs",
        "_tag_owners",
        "self_index",
        "explain_index",
    )

    def __init__(self, columns, self_instance: Optional[int], explain: Optional[int]):
        _check(columns)
        count = len(columns.ids)
        for what, index in (("self", self_instance), ("explained instance", explain)):
            if index is not None and not 0 <= index < count:
                raise ValueError(
                    f"the host named instance {index} as {what}, but the fleet has {count}"
                )
        self._columns = columns
        text = columns.text
        # `text-ends` count UTF-8 bytes: an ASCII text slices as it is, any
        # other is sliced as bytes and decoded.
        self._text = text if text.isascii() else None
        self._bytes = None if self._text is not None else text.encode()
        self._groups = None
        self._group_runs = None
        self._tag_owners = None
        self.self_index = self_instance
        self.explain_index = explain

    def __len__(self) -> int:
        return len(self._columns.ids)

    def __iter__(self) -> Iterator["Instance"]:
        return self.instances()

    def instances(self) -> Iterator["Instance"]:
        """Every instance, in the order the source reported them."""
        return (Instance(self, index) for index in range(len(self)))

    def instance(self, index: int) -> Optional["Instance"]:
        """The instance at ``index``, if there is one."""
        return Instance(self, index) if 0 <= index < len(self) else None

    def find(self, id: str) -> Optional["Instance"]:
        """The instance with this id, if there is one (a linear search)."""
        return next((instance for instance in self if instance.id == id), None)

    @property
    def self_instance(self) -> Optional["Instance"]:
        """The instance the host runs on, if it is part of the fleet."""
        return None if self.self_index is None else Instance(self, self.self_index)

    @property
    def explained(self) -> Optional["Instance"]:
        """The instance the operator asked ``rollcall explain`` about, if any."""
        return None if self.explain_index is None else Instance(self, self.explain_index)

    def candidate_indices(self) -> list[int]:
        """The indices of :meth:`candidates`, without an :class:`Instance`
        each: every ``running`` instance, and self whatever its state."""
        indices = list(compress(range(len(self)), map("running".__eq__, self._columns.states)))
        own = self.self_index
        if own is not None and self._columns.states[own] != "running":
            indices.append(own)
            indices.sort()
        return indices

    def candidates(self) -> Iterator["Instance"]:
        """The instances that may be members, in fleet order: every
        ``running`` one, and self whatever its state (at boot EC2 may still
        report it ``pending``)."""
        states = self._columns.states
        own = self.self_index
        return (
            Instance(self, index)
            for index in range(len(self))
            if states[index] == "running" or index == own
        )

    @property
    def security_groups(self) -> list[SecurityGroup]:
        """Every distinct security group of the fleet, each once. A group's
        ``index`` runs from 0 to the number of groups, so a policy can
        classify every group once, in a list, and look instances' groups up
        in it."""
        if self._groups is None:
            self._groups = [
                SecurityGroup(
                    index,
                    self.text(group.id),
                    self.text(group.name),
                    self.optional_text(group.owner),
                )
                for index, group in enumerate(self._columns.security_groups)
            ]
        return self._groups

    def security_group_runs(self) -> list[tuple[int, ...]]:
        """Each instance's security groups as a tuple of indices into
        :attr:`security_groups`, in EC2's order: entry ``i`` is instance
        ``i``'s :attr:`Instance.security_group_indices`. Made once, in bulk;
        instances in the same groups have equal tuples, so a policy can
        classify each combination of groups once."""
        if self._group_runs is None:
            columns = self._columns
            ends = columns.group_ends
            self._group_runs = list(
                map(tuple, map(columns.instance_groups.__getitem__, map(slice, _starts(ends), ends)))
            )
        return self._group_runs

    def tag_values(self, key: str) -> list[Optional[str]]:
        """The value of the tag ``key`` for every instance, ``None`` for an
        instance without it: entry ``i`` is instance ``i``'s
        :meth:`Instance.tag` ``(key)``, read in one pass over the tags that
        compares each distinct key's text once."""
        columns = self._columns
        keys = columns.tag_keys
        wanted = {at for at in set(keys) if self.text(at) == key}
        values: list[Optional[str]] = [None] * len(self)
        if not wanted:
            return values
        if self._tag_owners is None:
            ends = columns.tag_ends
            counts = map(sub, ends, _starts(ends))
            self._tag_owners = list(chain.from_iterable(map(repeat, range(len(self)), counts)))
        owners, tag_values, text = self._tag_owners, columns.tag_values, self.text
        # Backwards, so that an instance's first tag of that key wins, as
        # in `Instance.tag`.
        for at in reversed(list(compress(range(len(keys)), map(wanted.__contains__, keys)))):
            values[owners[at]] = text(tag_values[at])
        return values

    def text(self, index: int) -> str:
        """String ``index`` of the fleet's text."""
        ends = self._columns.text_ends
        start = ends[index - 1] if index else 0
        if self._text is not None:
            return self._text[start : ends[index]]
        return self._bytes[start : ends[index]].decode()

    def optional_text(self, index: int) -> Optional[str]:
        """String ``index``, ``None`` when it is the empty string 0."""
        return self.text(index) if index else None

    def texts(self, indices: list[int]) -> list[str]:
        """:meth:`text` of each index, in one pass made of C calls (no
        Python frame per string): for a column of :class:`text` such as
        ``fleet.columns.availability_zones``. The host need not store equal
        strings once, so a policy that groups instances by a field groups
        them by these strings, not by the indices."""
        columns = self._columns
        ends = columns.text_ends
        starts = [0]
        starts += ends
        slices = map(slice, map(starts.__getitem__, indices), map(ends.__getitem__, indices))
        if self._text is not None:
            return list(map(self._text.__getitem__, slices))
        return list(map(bytes.decode, map(self._bytes.__getitem__, slices)))

    def optional_texts(self, indices: list[int]) -> list[Optional[str]]:
        """:meth:`optional_text` of each index (``None`` for string 0), in
        one pass like :meth:`texts`."""
        return list(map({0: None}.get, indices, self.texts(indices)))

    def run(self, ends: list[int], index: int) -> range:
        """The run of a shared list that belongs to instance ``index``."""
        return range(ends[index - 1] if index else 0, ends[index])

    @property
    def columns(self):
        """The columns themselves, for a policy that reads them in bulk."""
        return self._columns


def _starts(ends: list[int]) -> list[int]:
    """Where each run of a shared list starts, given where each ends."""
    starts = [0]
    starts += ends[:-1]
    return starts


def _optional_text(column: str, doc: str) -> property:
    def read(self: "Instance") -> Optional[str]:
        fleet = self.fleet
        return fleet.optional_text(getattr(fleet.columns, column)[self.index])

    return property(read, doc=doc)


class Instance:
    """One instance of a :class:`Fleet`: cheap to make, read through its
    properties. Two are equal when they are the same instance of the same
    fleet."""

    __slots__ = ("fleet", "index")

    def __init__(self, fleet: Fleet, index: int):
        self.fleet = fleet
        #: The instance's index in the fleet: how the decision refers to it.
        self.index = index

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, Instance) and self.index == other.index and self.fleet is other.fleet
        )

    def __hash__(self) -> int:
        return hash((id(self.fleet), self.index))

    def __repr__(self) -> str:
        return f"Instance({self.index}, {self.id!r})"

    @property
    def id(self) -> str:
        """The instance id, e.g. ``i-2271a74b``."""
        return self.fleet.text(self.fleet.columns.ids[self.index])

    @property
    def state(self) -> str:
        """The EC2 state, one of :data:`STATES` (``other`` for a state the
        interface does not name)."""
        return self.fleet.columns.states[self.index]

    @property
    def state_name(self) -> str:
        """The state for reasons, e.g. ``stopped``."""
        state = self.state
        return "in a state this interface does not name" if state == "other" else state

    @property
    def is_running(self) -> bool:
        """Whether EC2 reports the instance ``running``."""
        return self.fleet.columns.states[self.index] == "running"

    @property
    def is_self(self) -> bool:
        """Whether this is the instance the host runs on."""
        return self.fleet.self_index == self.index

    private_ipv4 = _optional_text("private_ipv4s", "The primary private IPv4 address.")
    public_ipv4 = _optional_text("public_ipv4s", "The public IPv4 address, if any.")
    private_dns_name = _optional_text("private_dns_names", "The private DNS name.")
    public_dns_name = _optional_text("public_dns_names", "The public DNS name, if any.")
    availability_zone = _optional_text("availability_zones", "The availability zone.")
    region = _optional_text("regions", "The region it was fetched from.")
    vpc_id = _optional_text("vpc_ids", "The VPC id.")
    subnet_id = _optional_text("subnet_ids", "The subnet id.")
    instance_type = _optional_text("instance_types", "The instance type, e.g. m5.large.")
    image_id = _optional_text("image_ids", "The AMI it was launched from.")
    launch_time = _optional_text("launch_times", "The launch time, RFC 3339.")
    account = _optional_text("accounts", "The AWS account that owns it, if known.")
    lifecycle_group = _optional_text("lifecycle_groups", "Its Auto Scaling group, if any.")

    @property
    def lifecycle(self) -> str:
        """The Auto Scaling lifecycle state, one of :data:`LIFECYCLE_STATES`
        (``not-in-group`` for an instance in no group)."""
        return self.fleet.columns.lifecycle_states[self.index]

    @property
    def leaving(self) -> Optional[Leaving]:
        """Whether, why and by when the instance is going away; ``None``
        when it is not."""
        columns = self.fleet.columns
        reason = columns.leaving_reasons[self.index]
        if reason is None:
            return None
        return Leaving(reason, self.fleet.optional_text(columns.leaving_deadlines[self.index]))

    @property
    def serves(self) -> bool:
        """Whether the instance is meant to serve: it is not leaving, and
        Auto Scaling does not hold it out of service (pending-wait, standby,
        terminating, terminating-wait, detaching, warmed). A policy keeps an
        unserving member's role but registers no one with it."""
        columns = self.fleet.columns
        return (
            columns.leaving_reasons[self.index] is None
            and columns.lifecycle_states[self.index] not in UNSERVING_STATES
        )

    @property
    def unserving_reason(self) -> Optional[str]:
        """Why the instance does not serve, for a note: ``leaving
        (spot-interruption by 2026-12-07T10:00:00Z)``, ``in Auto Scaling
        standby``; ``None`` when it serves."""
        leaving = self.leaving
        if leaving is not None:
            by = f" by {leaving.deadline}" if leaving.deadline is not None else ""
            return f"leaving ({leaving.reason}{by})"
        state = self.lifecycle
        return f"in Auto Scaling {state}" if state in UNSERVING_STATES else None

    @property
    def ipv6_addresses(self) -> list[str]:
        """Every IPv6 address of every network interface, in EC2's order."""
        fleet, columns = self.fleet, self.fleet.columns
        addresses = columns.ipv6_addresses
        return [fleet.text(addresses[at]) for at in fleet.run(columns.ipv6_ends, self.index)]

    @property
    def security_group_indices(self) -> list[int]:
        """The indices of the security groups (see
        :attr:`Fleet.security_groups`), in EC2's order: the cheapest way to
        test membership against a table."""
        columns = self.fleet.columns
        run = self.fleet.run(columns.group_ends, self.index)
        return columns.instance_groups[run.start : run.stop]

    @property
    def security_groups(self) -> list[SecurityGroup]:
        """The security groups, in EC2's order."""
        groups = self.fleet.security_groups
        return [groups[group] for group in self.security_group_indices]

    @property
    def tags(self) -> dict[str, str]:
        """The tags, key to value, in EC2's order."""
        fleet, columns = self.fleet, self.fleet.columns
        keys, values = columns.tag_keys, columns.tag_values
        return {
            fleet.text(keys[at]): fleet.text(values[at])
            for at in fleet.run(columns.tag_ends, self.index)
        }

    def tag(self, key: str) -> Optional[str]:
        """The value of the tag with this key (EC2 keys are unique per
        instance and case-sensitive)."""
        fleet, columns = self.fleet, self.fleet.columns
        keys = columns.tag_keys
        for at in fleet.run(columns.tag_ends, self.index):
            if fleet.text(keys[at]) == key:
                return fleet.text(columns.tag_values[at])
        return None


def _check(columns) -> None:
    """Checks that the columns describe one fleet: every per-instance column
    as long as ``ids``, and the text starting with the empty string. A
    reference out of its table (which the host never sends) raises when
    read."""
    count = len(columns.ids)
    if not columns.text_ends or columns.text_ends[0] != 0:
        raise ValueError("the fleet's text does not start with the empty string")
    for name in PER_INSTANCE:
        length = len(getattr(columns, name))
        if length != count:
            wit_name = name.replace("_", "-")
            raise ValueError(f"the fleet's {wit_name} has {length} entries for {count} instances")
    if len(columns.tag_keys) != len(columns.tag_values):
        raise ValueError("the fleet's tag keys and values differ in number")
