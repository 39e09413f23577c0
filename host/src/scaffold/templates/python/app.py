"""{{name}}: a rollcall policy. Each running instance (and self, whatever its
state) whose security group is named in the ``roles`` setting gets that
role; self registers with every other ``monitor`` that has an address and
serves (is not leaving, nor held out of service by Auto Scaling)."""

from rollcall_policy import AddressKind, PolicyError, export_policy

DEFAULT_ROLES = {"eg-monitor": "monitor", "eg-cybernode": "agent"}


class RolesByGroup:
    def __init__(self, roles: dict):
        self.roles = roles

    @classmethod
    def configure(cls, settings: dict) -> "RolesByGroup":
        unknown = set(settings) - {"roles"}
        if unknown:
            raise PolicyError(f"invalid {{name}} settings: unknown field `{sorted(unknown)[0]}`")
        roles = settings.get("roles", DEFAULT_ROLES)
        if not isinstance(roles, dict) or not all(isinstance(v, str) for v in roles.values()):
            raise PolicyError("invalid {{name}} settings: `roles` maps group names to role names")
        return cls(roles)

    def decide(self, fleet, answer) -> None:
        for instance in fleet.candidates():
            group = next((g.name for g in instance.security_groups if g.name in self.roles), None)
            if group is None:
                answer.note(instance, "no role: none of its groups is in `roles`")
                continue
            role = self.roles[group]
            answer.note(instance, lambda: f"role {role}: in group {group}")
            answer.add_member(instance, answer.role(role), address=AddressKind.PRIVATE_IP.of(instance))
        own = fleet.self_instance
        if own is None:
            return
        monitor = answer.role("monitor")
        for member in answer.members:
            if (
                member.role == monitor
                and member.address is not None
                and member.instance != own.index
                and fleet.instance(member.instance).serves
            ):
                answer.register_with(member.instance)


WitWorld = export_policy(RolesByGroup, name="{{name}}")
