"""Building a :class:`Fleet` from plain records, as a policy's native tests
do: the same columns the host sends, made in the test."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

from .answer import Answer
from .fleet import LEAVE_REASONS, LIFECYCLE_STATES, STATES, Fleet

#: The optional text fields of a record, with the column each one fills.
TEXT_FIELDS = (
    ("private_ipv4", "private_ipv4s"),
    ("public_ipv4", "public_ipv4s"),
    ("private_dns_name", "private_dns_names"),
    ("public_dns_name", "public_dns_names"),
    ("availability_zone", "availability_zones"),
    ("region", "regions"),
    ("vpc_id", "vpc_ids"),
    ("subnet_id", "subnet_ids"),
    ("instance_type", "instance_types"),
    ("image_id", "image_ids"),
    ("launch_time", "launch_times"),
    ("account", "accounts"),
    ("lifecycle_group", "lifecycle_groups"),
    ("leaving_deadline", "leaving_deadlines"),
)


@dataclass
class InstanceRecord:
    """One instance, written out field by field; fill in what a test looks
    at."""

    id: str
    state: str = "running"
    private_ipv4: Optional[str] = None
    public_ipv4: Optional[str] = None
    private_dns_name: Optional[str] = None
    public_dns_name: Optional[str] = None
    ipv6_addresses: list[str] = field(default_factory=list)
    #: ``(id, name)`` or ``(id, name, owner)`` of each group; the owner is
    #: an account id, ``None`` (or left out) when unknown.
    security_groups: list[tuple] = field(default_factory=list)
    #: ``(key, value)`` of each tag.
    tags: list[tuple[str, str]] = field(default_factory=list)
    availability_zone: Optional[str] = None
    region: Optional[str] = None
    vpc_id: Optional[str] = None
    subnet_id: Optional[str] = None
    instance_type: Optional[str] = None
    image_id: Optional[str] = None
    launch_time: Optional[str] = None
    account: Optional[str] = None
    #: One of :data:`LIFECYCLE_STATES`.
    lifecycle: str = "not-in-group"
    lifecycle_group: Optional[str] = None
    #: Why it is leaving, one of :data:`LEAVE_REASONS`; ``None`` when it is not.
    leaving_reason: Optional[str] = None
    #: By when, if it is leaving and anyone said.
    leaving_deadline: Optional[str] = None


class Columns:
    """The interface's ``fleet`` record, built from records with every string
    interned and every group listed once."""

    def __init__(self, records: Sequence[InstanceRecord]):
        self.text = ""
        self.text_ends: list[int] = []
        self.security_groups: list = []
        self.ids: list[int] = []
        self.states: list[str] = []
        self.lifecycle_states: list[str] = []
        self.leaving_reasons: list[Optional[str]] = []
        for _, column in TEXT_FIELDS:
            setattr(self, column, [])
        self.group_ends: list[int] = []
        self.instance_groups: list[int] = []
        self.tag_ends: list[int] = []
        self.tag_keys: list[int] = []
        self.tag_values: list[int] = []
        self.ipv6_ends: list[int] = []
        self.ipv6_addresses: list[int] = []
        self._strings: dict[str, int] = {}
        self._groups: dict[tuple[int, int, int], int] = {}
        self._parts: list[str] = []
        self._length = 0
        self._intern("")
        for record in records:
            self._push(record)
        self.text = "".join(self._parts)

    def _intern(self, text: str) -> int:
        found = self._strings.get(text)
        if found is None:
            self._parts.append(text)
            self._length += len(text.encode())
            self.text_ends.append(self._length)
            found = self._strings[text] = len(self.text_ends) - 1
        return found

    def _push(self, record: InstanceRecord) -> None:
        if record.state not in STATES:
            raise ValueError(f"instance {record.id}: unknown state {record.state!r}")
        if record.lifecycle not in LIFECYCLE_STATES:
            raise ValueError(f"instance {record.id}: unknown lifecycle state {record.lifecycle!r}")
        if record.leaving_reason is not None and record.leaving_reason not in LEAVE_REASONS:
            raise ValueError(f"instance {record.id}: unknown leave reason {record.leaving_reason!r}")
        self.ids.append(self._intern(record.id))
        self.states.append(record.state)
        self.lifecycle_states.append(record.lifecycle)
        self.leaving_reasons.append(record.leaving_reason)
        for name, column in TEXT_FIELDS:
            value = getattr(record, name)
            getattr(self, column).append(0 if value is None else self._intern(value))
        for group_id, name, *owner in record.security_groups:
            if len(owner) > 1:
                raise ValueError(f"instance {record.id}: a group is (id, name) or (id, name, owner)")
            owner = owner[0] if owner else None
            key = (
                self._intern(group_id),
                self._intern(name),
                0 if owner is None else self._intern(owner),
            )
            group = self._groups.get(key)
            if group is None:
                group = self._groups[key] = len(self.security_groups)
                self.security_groups.append(_Group(*key))
            self.instance_groups.append(group)
        self.group_ends.append(len(self.instance_groups))
        for key, value in record.tags:
            self.tag_keys.append(self._intern(key))
            self.tag_values.append(self._intern(value))
        self.tag_ends.append(len(self.tag_keys))
        for address in record.ipv6_addresses:
            self.ipv6_addresses.append(self._intern(address))
        self.ipv6_ends.append(len(self.ipv6_addresses))


@dataclass(frozen=True)
class _Group:
    id: int
    name: int
    owner: int


def fleet_from_records(
    records: Sequence[InstanceRecord],
    self_id: Optional[str] = None,
    explain: Optional[str] = None,
) -> Fleet:
    """The fleet of these instances, seen from the one with id ``self_id``
    and explaining the one with id ``explain``; an id that names no instance
    is a ``ValueError``."""
    ids = [record.id for record in records]

    def index_of(id: Optional[str]) -> Optional[int]:
        if id is None:
            return None
        if id not in ids:
            raise ValueError(f"instance {id} is not in the fleet")
        return ids.index(id)

    return Fleet(Columns(records), index_of(self_id), index_of(explain))


def resolve_records(
    records: Sequence[InstanceRecord],
    decide: Callable[[Fleet, Answer], None],
    self_id: Optional[str] = None,
    explain: Optional[str] = None,
) -> dict:
    """What ``decide`` answers for a fleet of ``records``, read back in ids
    and names (:meth:`Answer.resolved`): what a policy's native tests
    compare."""
    fleet = fleet_from_records(records, self_id, explain)
    answer = Answer(fleet)
    decide(fleet, answer)
    return answer.resolved()
