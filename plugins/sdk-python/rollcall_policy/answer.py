"""Building a policy's answer: members, self's registration targets and, when
the operator asks ``rollcall explain``, the reasons."""

from __future__ import annotations

import json
from collections import namedtuple
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Optional, Union

from .address import AddressKind
from .fleet import Fleet, Instance

#: A member's address: one of the instance's own (an :class:`AddressKind`,
#: read by the host) or any other address as text, e.g. a name from a tag.
Address = Union[AddressKind, str]

#: A member's labels: name to value (a team from a tag, the zone...). The
#: host's rules for them are ``wit/policy.wit``'s ``label``: a name is 1 to
#: 64 bytes of ASCII letters, digits and ``_``, not starting with a digit or
#: ``__``; a value at most 1,024 bytes of printable text; at most 16 labels.
Labels = Union[Mapping[str, str], Iterable[tuple[str, str]]]

#: A note's text, or a function that makes it (called only when the note is
#: kept, so that reasons cost nothing in ordinary evaluations).
Text = Union[str, Callable[[], str]]


#: One label of a member, interned: a name id and a value id (see
#: :meth:`Answer.label`). Equal to the plain ``(name id, value id)`` pair.
Label = namedtuple("Label", ("name", "value"))


@dataclass
class Member:
    """One member of the fleet, as :attr:`Answer.members` reads it back."""

    #: The member's index in the fleet (:attr:`Instance.index`).
    instance: int
    #: A role id from :meth:`Answer.role`.
    role: int
    #: Cluster ids from :meth:`Answer.cluster`, each at most once.
    clusters: list[int] = field(default_factory=list)
    #: ``None`` when the instance has no address of the kind the policy chose.
    address: Optional[Address] = None
    port: Optional[int] = None
    #: ``(name id, value id)`` pairs, interned by :meth:`Answer.add_member`.
    labels: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Note:
    """One reason, about the instance at ``instance``."""

    instance: int
    #: ``decision`` (its role, clusters, address) or ``target`` (as self's
    #: registration target).
    topic: str
    text: str


class _Names:
    """Names used by members, each once, in the order first asked for."""

    __slots__ = ("names", "index")

    def __init__(self):
        self.names: list[str] = []
        self.index: dict[str, int] = {}

    def intern(self, name: str) -> int:
        found = self.index.get(name)
        if found is None:
            found = self.index[name] = len(self.names)
            self.names.append(name)
        return found


def _index(instance: Union[Instance, int]) -> int:
    return instance if isinstance(instance, int) else instance.index


class Answer:
    """A policy's answer under construction: ``decide`` fills it.

    The members are kept in columns (one list per field, entry ``k`` of
    each describing the ``k``-th member added), not as one object each: the
    answer crosses to the host from them, and :attr:`members` builds
    :class:`Member` objects only for a policy that reads them back."""

    def __init__(self, fleet: Fleet):
        self.fleet = fleet
        self._roles = _Names()
        self._clusters = _Names()
        self._label_names = _Names()
        self._label_values = _Names()
        self._labels: dict[tuple[str, str], Label] = {}
        # Tuples of labels already checked, by id.
        self._label_tuples: dict[int, tuple] = {}
        # The members, in columns.
        self._member_instances: list[int] = []
        self._member_roles: list[int] = []
        self._member_clusters: list[tuple[int, ...]] = []
        self._member_addresses: list[Optional[Address]] = []
        self._member_ports: list[Optional[int]] = []
        self._member_labels: list[tuple[Label, ...]] = []
        #: Self's registration targets so far, as instance indices.
        self.targets: list[int] = []
        #: The notes kept so far.
        self.notes: list[Note] = []
        self._self = fleet.self_index
        self._explain = fleet.explain_index

    def role(self, name: str) -> int:
        """The role called ``name`` (added the first time it is asked for)."""
        if not name:
            raise ValueError("a role name must not be empty")
        return self._roles.intern(name)

    def cluster(self, name: str) -> int:
        """The cluster called ``name`` (added the first time it is asked
        for)."""
        return self._clusters.intern(name)

    def label(self, name: str, value: str) -> Label:
        """The label ``name`` = ``value``, its name and value interned (each
        crosses to the host once however many members carry it). A policy
        that gives many members the same labels makes each :class:`Label`
        once and passes them to :meth:`add_member`."""
        key = (name, value)
        found = self._labels.get(key)
        if found is None:
            found = self._labels[key] = Label(
                self._label_names.intern(name), self._label_values.intern(value)
            )
        return found

    def role_name(self, role: int) -> str:
        return self._roles.names[role]

    def cluster_name(self, cluster: int) -> str:
        return self._clusters.names[cluster]

    def cluster_names(self, clusters: Iterable[int]) -> str:
        """Cluster names joined with ``, ``, or ``none``: for reasons."""
        names = [self.cluster_name(cluster) for cluster in clusters]
        return ", ".join(names) if names else "none"

    def sort_clusters(self, clusters: Iterable[int]) -> list[int]:
        """The clusters sorted by name, without repeats."""
        return sorted(set(clusters), key=self.cluster_name)

    def add_member(
        self,
        instance: Union[Instance, int],
        role: int,
        clusters: Iterable[int] = (),
        address: Optional[Address] = None,
        port: Optional[int] = None,
        labels: Optional[Labels] = None,
    ) -> None:
        """Adds a member; each instance at most once. ``labels`` maps label
        names to values (a dict, or ``(name, value)`` pairs, each name
        once), or holds :class:`Label` s from :meth:`label`; names and
        values cross to the host once however many members carry them.
        Members that share their clusters or labels may share one tuple of
        them: nothing is copied per member then."""
        if not labels:
            labels = ()
        elif self._label_tuples.get(id(labels)) is not labels:
            items = (
                labels.items()
                if type(labels) is dict or isinstance(labels, Mapping)
                else labels
            )
            given = labels
            labels = tuple(item if type(item) is Label else self.label(*item) for item in items)
            if type(given) is tuple and given == labels:
                # A tuple of labels is taken as it is, and, given again
                # (members sharing labels), without a look; kept here, so
                # that its id stays its own.
                labels = self._label_tuples[id(given)] = given
        self._member_instances.append(instance if type(instance) is int else _index(instance))
        self._member_roles.append(role)
        self._member_clusters.append(tuple(clusters))
        self._member_addresses.append(address)
        self._member_ports.append(port)
        self._member_labels.append(labels)

    @property
    def members(self) -> list[Member]:
        """The members added so far, in the order they were added (made
        anew on each read: changing them changes nothing)."""
        return [
            Member(instance, role, list(clusters), address, port, list(labels))
            for instance, role, clusters, address, port, labels in zip(
                self._member_instances,
                self._member_roles,
                self._member_clusters,
                self._member_addresses,
                self._member_ports,
                self._member_labels,
            )
        ]

    @property
    def member_count(self) -> int:
        """The number of members added so far (without building them)."""
        return len(self._member_instances)

    def register_with(self, target: Union[Instance, int]) -> None:
        """Makes ``target`` one of self's registration targets: it must be a
        member with an address, and not self."""
        self.targets.append(_index(target))

    def explains(self, instance: Union[Instance, int]) -> bool:
        """Whether the operator asked to explain ``instance``: only then do
        :meth:`note`'s notes about it count."""
        return self._explain is not None and self._explain == _index(instance)

    @property
    def explains_targets(self) -> bool:
        """Whether the operator asked to explain self: only then do
        :meth:`note_target`'s notes count."""
        return self._explain is not None and self._explain == self._self

    def note(self, instance: Union[Instance, int], text: Text) -> None:
        """A reason for what was decided about ``instance`` (its role or lack
        of one, its clusters, its address), kept when the operator asked to
        explain it."""
        if self.explains(instance):
            self.notes.append(Note(_index(instance), "decision", _text(text)))

    def note_target(self, candidate: Union[Instance, int], text: Text) -> None:
        """Why ``candidate`` was taken as self's registration target or left
        out, kept when the operator asked to explain self."""
        if self.explains_targets:
            self.notes.append(Note(_index(candidate), "target", _text(text)))

    def resolved(self) -> dict:
        """The answer with every index turned back into ids and names, as the
        host will read it: what native tests compare. ``members`` holds
        ``{id, role, clusters, address, port, labels}`` (``labels`` a dict of
        name to value), ``register_with`` ids,
        ``notes`` ``(id, topic, text)``."""
        fleet = self.fleet

        def id_of(index: int) -> str:
            instance = fleet.instance(index)
            return instance.id if instance is not None else f"#{index}"

        def address_of(member: Member) -> Optional[str]:
            if isinstance(member.address, AddressKind):
                return member.address.read(fleet.instance(member.instance))
            return member.address

        return {
            "members": [
                {
                    "id": id_of(member.instance),
                    "role": self.role_name(member.role),
                    "clusters": [self.cluster_name(cluster) for cluster in member.clusters],
                    "address": address_of(member),
                    "port": member.port,
                    "labels": {
                        self.label_names[name]: self.label_values[value]
                        for name, value in member.labels
                    },
                }
                for member in self.members
            ],
            "register_with": [id_of(index) for index in self.targets],
            "notes": [(id_of(note.instance), note.topic, note.text) for note in self.notes],
        }

    @property
    def roles(self) -> list[str]:
        """Every role name, by id."""
        return self._roles.names

    @property
    def clusters(self) -> list[str]:
        """Every cluster name, by id."""
        return self._clusters.names

    @property
    def label_names(self) -> list[str]:
        """Every label name, by id."""
        return self._label_names.names

    @property
    def label_values(self) -> list[str]:
        """Every label value, by id."""
        return self._label_values.names


def _text(text: Text) -> str:
    return text() if callable(text) else text


def quote(text: str) -> str:
    """``text`` quoted as a JSON string (``"green"``, ``"a \\"b\\""``): how a
    reason quotes a value (a tag's, a setting's), the same in every SDK so
    that a policy's reasons read the same in Rust, Python and JavaScript."""
    return json.dumps(text, ensure_ascii=False)


def share_a_cluster(ours: Iterable[int], theirs: Iterable[int]) -> bool:
    """Whether two members' clusters have one in common; two empty lists
    count as sharing (instances without any cluster form one group), an
    empty and a non-empty one do not."""
    ours, theirs = list(ours), list(theirs)
    if not ours and not theirs:
        return True
    return any(cluster in theirs for cluster in ours)


def shared_clusters(ours: Iterable[int], theirs: Iterable[int]) -> list[int]:
    """The clusters two members share, in ``ours``' order."""
    theirs = list(theirs)
    return [cluster for cluster in ours if cluster in theirs]
