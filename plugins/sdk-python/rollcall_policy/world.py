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
            states, lifecycle_states, reasons = _names()
            columns.states = [states[state] for state in columns.states]
            columns.lifecycle_states = [
                lifecycle_states[state] for state in columns.lifecycle_states
            ]
            columns.leaving_reasons = [
                None if reason is None else reasons[reason] for reason in columns.leaving_reasons
            ]
            fleet = _guard(
                policy_name,
                "decide",
                lambda: Fleet(columns, question.self_instance, question.explain),
            )
            answer = Answer(fleet)
            _guard(policy_name, "decide", lambda: WitWorld.policy.decide(fleet, answer))
            log(
                "debug",
                f"{len(answer.members)} members of {len(fleet)} instances, "
                f"self registers with {len(answer.targets)}",
            )
            return _decision(answer)

    return WitWorld


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
            names(types.LeaveReason),
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
    """The answer as it crosses back to the host."""

    def address(value):
        if value is None:
            return None
        if isinstance(value, str):
            return types.Address_Other(value)
        return types.Address_Own(types.AddressKind[_OWN_KINDS[value.value]])

    topics = {"decision": types.NoteTopic.DECISION, "target": types.NoteTopic.TARGET}
    label = types.Label
    return types.Decision(
        roles=answer.roles,
        clusters=answer.clusters,
        label_names=answer.label_names,
        label_values=answer.label_values,
        members=[
            types.Member(
                member.instance,
                member.role,
                member.clusters,
                address(member.address),
                member.port,
                [label(name, value) for name, value in member.labels],
            )
            for member in answer.members
        ],
        register_with=answer.targets,
        notes=[types.Note(note.instance, topics[note.topic], note.text) for note in answer.notes],
    )
