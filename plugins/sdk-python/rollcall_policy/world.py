"""Exporting a policy class as the component's ``rollcall:policy`` world,
the Python counterpart of the Rust SDK's ``export_policy!``. The generated
bindings (``wit_world``, made by componentize-py at build time) are imported
only here, and only when present, so that the rest of the SDK runs in plain
CPython for native tests. They are imported when this module is, because
componentize-py snapshots the modules imported while the component is
built: the plugin has no file system to import from later."""

from __future__ import annotations

import sys
import traceback

try:
    from componentize_py_types import Err
    from wit_world.imports import host, types
except ImportError:  # plain CPython: native tests
    host = types = Err = None

from .address import AddressKind
from .answer import Answer
from .fleet import Fleet
from .settings import PolicyError, read_settings


def log(level: str, message: str) -> None:
    """Writes one line to the host's log (``trace``, ``debug``, ``info``,
    ``warn`` or ``error``); outside a component, to stderr."""
    if host is None:
        print(f"{level}: {message}", file=sys.stderr)
        return
    host.log(types.LogLevel[level.upper()], message)


def export_policy(policy_class, name: str | None = None):
    """The ``WitWorld`` class componentize-py exports for ``policy_class``
    (write ``WitWorld = export_policy(MyPolicy)`` in the app module).
    ``policy_class.configure(settings: dict)`` makes the policy, and its
    ``decide(fleet, answer)`` fills the answer; a :class:`PolicyError` (or
    ``ValueError``) is an error for the operator."""
    policy_name = name or policy_class.__name__

    class WitWorld:
        policy = None

        def configure(self, config: str) -> None:
            settings = _guard(policy_name, "configure", lambda: read_settings(policy_name, config))
            WitWorld.policy = _guard(
                policy_name, "configure", lambda: policy_class.configure(settings)
            )

        def decide(self, question):
            if WitWorld.policy is None:
                _fail("decide was called before configure")
            columns = question.fleet
            # The enums' members to their names, in C (`map`), not in a
            # Python loop: three columns of one entry per instance.
            states, lifecycle_states, reasons = _names()
            columns.states = list(map(states.__getitem__, columns.states))
            columns.lifecycle_states = list(
                map(lifecycle_states.__getitem__, columns.lifecycle_states)
            )
            columns.leaving_reasons = list(map(reasons.__getitem__, columns.leaving_reasons))
            fleet = _guard(
                policy_name,
                "decide",
                lambda: Fleet(columns, question.self_instance, question.explain),
            )
            answer = Answer(fleet)
            _guard(policy_name, "decide", lambda: WitWorld.policy.decide(fleet, answer))
            log(
                "debug",
                f"{answer.member_count} members of {len(fleet)} instances, "
                f"self registers with {len(answer.targets)}",
            )
            return _decision(answer)

    return WitWorld


def _lift_enums_by_lookup(*enums) -> None:
    """Makes the binding's lifting of these enums a dictionary lookup.

    componentize-py lifts each entry of an enum column by calling the enum
    class with the discriminant (``InstanceState(1)``), which runs
    ``EnumType.__call__`` and ``Enum.__new__`` in Python: two frames per
    instance and column, the largest part of lifting the fleet. Giving
    each class a metaclass whose ``__call__`` is its
    ``_value2member_map_.__getitem__`` (a C function) returns the very same
    members without a Python frame; everything else about the classes
    (iteration, ``InstanceState.RUNNING``, ``isinstance``) is unchanged."""
    for enum in enums:
        lookup = enum._value2member_map_.__getitem__
        fast = type(f"{enum.__name__}ByLookup", (type(enum),), {"__call__": lookup})
        enum.__class__ = fast


if types is not None:
    _lift_enums_by_lookup(types.InstanceState, types.LifecycleState, types.LeaveReason)

_NAMES = None


def _names() -> tuple[dict, dict, dict]:
    """The interface's names of the instance states, lifecycle states and
    leave reasons, by the generated enums' members."""
    global _NAMES
    if _NAMES is None:

        def names(enum) -> dict:
            return {member: member.name.lower().replace("_", "-") for member in enum}

        _NAMES = (
            names(types.InstanceState),
            names(types.LifecycleState),
            {None: None, **names(types.LeaveReason)},
        )
    return _NAMES


def _guard(policy: str, call: str, run):
    """Runs ``run``, turning an exception into the interface's error."""
    try:
        return run()
    except (PolicyError, ValueError) as err:
        _fail(str(err))
    # BaseException: SystemExit, KeyboardInterrupt and the like are a
    # policy's bug too, named like any other (uncaught, they trap the
    # component with an unnamed error).
    except BaseException as err:  # noqa: BLE001: a policy's bug, reported whole
        log("error", f"{policy}: {call} raised:\n{traceback.format_exc()}")
        said = f": {err}" if str(err) else ""
        _fail(f"{policy} raised {type(err).__name__} in {call}{said}")


def _fail(message: str):
    if Err is None:
        raise PolicyError(message)
    raise Err(message)


_OWN_KINDS = {
    "private-ip": "PRIVATE_IPV4",
    "public-ip": "PUBLIC_IPV4",
    "private-dns": "PRIVATE_DNS_NAME",
    "public-dns": "PUBLIC_DNS_NAME",
    "ipv6": "IPV6",
}


def _decision(answer: Answer):
    """The answer as it crosses back to the host, built from the answer's
    columns: what many members share (their address kind, their clusters,
    their labels) is made once and shared, so that the objects made per
    member are the member records alone."""
    addresses = _addresses(answer._member_addresses)
    clusters = _shared_lists(answer._member_clusters, list)
    label = types.Label
    labels = _shared_lists(
        answer._member_labels, lambda pairs: [label(name, value) for name, value in pairs]
    )
    topics = {"decision": types.NoteTopic.DECISION, "target": types.NoteTopic.TARGET}
    return types.Decision(
        roles=answer.roles,
        clusters=answer.clusters,
        label_names=answer.label_names,
        label_values=answer.label_values,
        members=list(
            map(
                types.Member,
                answer._member_instances,
                answer._member_roles,
                clusters,
                addresses,
                answer._member_ports,
                labels,
            )
        ),
        register_with=answer.targets,
        notes=[types.Note(note.instance, topics[note.topic], note.text) for note in answer.notes],
    )


_OWN = None


def _addresses(addresses: list) -> list:
    """Each member's address as the interface's ``address``: one object per
    address kind, shared by every member of that kind; one per address
    given as text."""
    global _OWN
    if _OWN is None:
        _OWN = {None: None}
        for kind in AddressKind:
            _OWN[kind] = types.Address_Own(types.AddressKind[_OWN_KINDS[kind.value]])
    try:
        return list(map(_OWN.__getitem__, addresses))
    except KeyError:  # a text address
        return [
            types.Address_Other(address) if isinstance(address, str) else _OWN[address]
            for address in addresses
        ]


def _shared_lists(column: list, make) -> list:
    """``make(entry)`` for each entry of ``column`` (tuples), made once per
    distinct entry and shared: the host reads the lists, nothing changes
    them."""
    made = {entry: make(entry) for entry in set(column)}
    return list(map(made.__getitem__, column))
