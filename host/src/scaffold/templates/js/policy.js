/**
 * {{name}}: a rollcall policy. Each running instance (and self, whatever its
 * state) whose security group is named in the `roles` setting gets that
 * role; self registers with every other `monitor` that has an address and
 * serves (is not leaving, nor held out of service by Auto Scaling).
 */

import { AddressKind, exportPolicy } from "../sdk/js/src/index.js";

const DEFAULT_ROLES = { "eg-monitor": "monitor", "eg-cybernode": "agent" };

class RolesByGroup {
  static configure(settings) {
    for (const key of Object.keys(settings)) {
      if (key !== "roles") {
        throw new Error(`invalid {{name}} settings: unknown field \`${key}\``);
      }
    }
    const roles = settings.roles ?? DEFAULT_ROLES;
    if (typeof roles !== "object" || !Object.values(roles).every((role) => typeof role === "string")) {
      throw new Error("invalid {{name}} settings: `roles` maps group names to role names");
    }
    return new RolesByGroup(new Map(Object.entries(roles)));
  }

  constructor(roles) {
    this.roles = roles;
  }

  decide(fleet, answer) {
    for (const instance of fleet.candidates()) {
      const group = instance.securityGroups.find((group) => this.roles.has(group.name));
      if (group === undefined) {
        answer.note(instance, () => "no role: none of its groups is in `roles`");
        continue;
      }
      const role = this.roles.get(group.name);
      answer.note(instance, () => `role ${role}: in group ${group.name}`);
      answer.addMember({
        instance,
        role: answer.role(role),
        address: AddressKind.PRIVATE_IP.of(instance),
      });
    }
    const own = fleet.selfInstance;
    if (own === null) {
      return;
    }
    const monitor = answer.role("monitor");
    for (const member of answer.members) {
      if (
        member.role === monitor &&
        member.address !== null &&
        member.instance !== own.index &&
        fleet.instance(member.instance).serves
      ) {
        answer.registerWith(member.instance);
      }
    }
  }
}

export const { configure, decide } = exportPolicy(RolesByGroup);
