"""The rollcall policy SDK for Python: the ``rollcall:policy@0.3.0`` world
behind a typed view of the fleet, an answer builder, and the few rules
policies share. The same shape as the Rust SDK (``plugins/policy-sdk``).

A policy is a class with ``configure`` and ``decide``, exported in the module
componentize-py builds::

    from rollcall_policy import AddressKind, export_policy

    class EveryoneAnAgent:
        @classmethod
        def configure(cls, settings: dict) -> "EveryoneAnAgent":
            return cls()

        def decide(self, fleet, answer) -> None:
            agent = answer.role("agent")
            for instance in fleet.candidates():
                answer.note(instance, "every candidate is an agent")
                answer.add_member(instance, agent,
                                  address=AddressKind.PRIVATE_IP.of(instance))

    WitWorld = export_policy(EveryoneAnAgent)

An :class:`Instance` reads its fleet's columns through properties (``id``,
``state``, ``private_ipv4``, ``tags``, ``availability_zone``,
``launch_time``, ...). 0.3.0 added the fleet as it lives: ``account``,
``lifecycle`` (one of :data:`LIFECYCLE_STATES`), ``lifecycle_group``,
``leaving`` (a :class:`Leaving` with ``reason``, one of
:data:`LEAVE_REASONS`, and ``deadline``, or ``None``), and ``serves``: false
when the instance is leaving or Auto Scaling holds it out of service
(pending-wait, standby, terminating, terminating-wait, detaching, warmed),
with ``unserving_reason`` saying why for a note.

Layout: ``fleet`` reads the fleet's columns as typed instances, ``records``
builds a fleet from plain records for native tests, ``answer`` builds the
decision and the notes ``rollcall explain`` shows (``quote`` quotes values in
them as JSON, as every SDK does), ``address`` picks the address peers use,
``settings`` reads a policy's settings, ``world`` runs a policy for the host."""

from .address import AddressKind
from .answer import Answer, Member, Note, quote, share_a_cluster, shared_clusters
from .fleet import (
    LEAVE_REASONS,
    LIFECYCLE_STATES,
    STATES,
    Fleet,
    Instance,
    Leaving,
    SecurityGroup,
)
from .records import InstanceRecord, fleet_from_records, resolve_records
from .settings import PolicyError, read_settings
from .world import export_policy, log

__all__ = [
    "LEAVE_REASONS",
    "LIFECYCLE_STATES",
    "STATES",
    "AddressKind",
    "Answer",
    "Fleet",
    "Instance",
    "InstanceRecord",
    "Leaving",
    "Member",
    "Note",
    "PolicyError",
    "SecurityGroup",
    "export_policy",
    "fleet_from_records",
    "log",
    "quote",
    "read_settings",
    "resolve_records",
    "share_a_cluster",
    "shared_clusters",
]
