/**
 * The Elastic Grid rules as a pure function of settings and fleet, with the
 * reasons `rollcall explain` shows: `plugins/elastic-grid/src/policy.rs`
 * in JavaScript, deciding the same and saying it in the same words.
 *
 * - Only `running` instances are members; self is evaluated whatever its
 *   state (at boot EC2 may still report it `pending`).
 * - With `require_tags`, an instance must carry every tag named there (with
 *   the value given, or any value for `"*"`) to be a member at all.
 * - Role: `monitor` if in the monitor group (even if also in the agent
 *   group), else `agent` if in the agent group, else no role.
 * - Clusters: with a prefix, every group whose name starts with it, prefix
 *   stripped, sorted.
 * - With `accounts`, only groups owned by one of those accounts count as
 *   the monitor, agent and cluster groups; a group whose owner is unknown
 *   counts as owned by its instance's account.
 * - A monitor registers with every other monitor, an agent with every
 *   monitor, an instance without a role with nobody. With clustering on,
 *   only with monitors that share a cluster with self (two instances
 *   without any cluster count as sharing). Monitors without an address of
 *   the chosen kind stay members but are no registration target; so do
 *   monitors that do not serve (leaving, or held out of service by Auto
 *   Scaling: `Instance.serves`).
 * - Labels: every member gets `zone` (its availability zone) and
 *   `instance_type` when the fleet knows them, and, for each tag
 *   `labels_from_tags` names that the instance carries, a label of the
 *   tag's key with the tag's value.
 */

import {
  compareText,
  quote,
  shareACluster,
  sharedClusters,
} from "../../sdk-js/src/native.js";
import { INSTANCE_TYPE_LABEL, ZONE_LABEL } from "./settings.js";

/** The role of instances in the monitor group. */
export const MONITOR = "monitor";
/** The role of instances in the agent group. */
export const AGENT = "agent";

/** What a security group means to the policy: bits of `GroupTable.roles`. */
const MONITOR_GROUP = 1;
const AGENT_GROUP = 2;

/** A group's owner is one of the accounts `accounts` lists (or every account counts). */
const LISTED = 0;
/** A group's owner is an account `accounts` does not list. */
const UNLISTED = 1;
/** Nobody knows a group's owner: it counts as its instance's account's. */
const UNKNOWN = 2;

/**
 * Decides members and self's registration targets into `answer`, with the
 * reasons when the operator asked to explain an instance.
 *
 * One pass over the fleet by index: groups are looked up in a table made
 * once per group, zones, types, accounts and addresses read for the whole
 * fleet at once, and no object or string is made for an instance unless it
 * is the one explained (the reasons are made for it alone). What the loop
 * reads is in locals: in the component's interpreter reading an object's
 * property costs as much as the work it is read for.
 */
export function decide(settings, fleet, answer) {
  const table = new GroupTable(settings, fleet, answer);
  const { roles: groupRoles, clusters: groupClusters, owners: groupOwners } = table;
  const monitor = answer.role(MONITOR);
  const agent = answer.role(AGENT);
  const labelsOf = memberLabels(settings, fleet, answer);
  const listed = listedAccounts(settings, fleet);
  const required = Array.from(settings.requireTags);
  const addresses = settings.address.ofEach(fleet);
  const { states, groupEnds, instanceGroups } = fleet.columns;
  const { selfIndex, explainIndex } = fleet;
  const clusterSets = new ClusterSets(answer);
  const more = [];
  const targets = new Targets();
  const count = fleet.length;
  for (let index = 0, start = 0; index < count; start = groupEnds[index], index++) {
    const explained = index === explainIndex;
    if (states[index] !== "running" && index !== selfIndex) {
      if (explained) {
        const instance = fleet.at(index);
        answer.note(
          instance,
          () =>
            `not a member: it is ${instance.stateName} (only running instances, and self, are members)`,
        );
      }
      continue;
    }
    if (required.length > 0 && !carriesRequiredTags(fleet, index, required)) {
      if (explained) {
        const missing = missingTag(settings, fleet.at(index));
        answer.note(index, () => `not a member: ${missing}`);
      }
      continue;
    }
    // A group of unknown owner counts as the instance's account's.
    const unknownCounts = listed === null || listed[index] === 1;
    let roles = 0;
    // The first cluster, and any more in `more`: most instances have one.
    let first = -1;
    more.length = 0;
    for (let at = start, end = groupEnds[index]; at < end; at++) {
      const group = instanceGroups[at];
      const owner = groupOwners[group];
      if (owner === LISTED || (owner === UNKNOWN && unknownCounts)) {
        roles |= groupRoles[group];
        const cluster = groupClusters[group];
        if (cluster < 0) {
          // No cluster.
        } else if (first < 0) {
          first = cluster;
        } else {
          more.push(cluster);
        }
      }
    }
    let role;
    let port;
    if ((roles & MONITOR_GROUP) !== 0) {
      [role, port] = [monitor, settings.monitorPort];
    } else if ((roles & AGENT_GROUP) !== 0) {
      [role, port] = [agent, settings.agentPort];
    } else {
      if (explained) {
        const instance = fleet.at(index);
        answer.note(instance, () => {
          const unlisted = unlistedGroups(settings, instance);
          return unlisted === ""
            ? `no role: in neither the monitor group ${settings.monitorGroup} nor the agent group ${settings.agentGroup}`
            : `no role: ${unlisted}`;
        });
      }
      continue;
    }
    const clusters = clusterSets.of(first, more);
    const address = addresses[index];
    if (explained) {
      const both = (roles & (MONITOR_GROUP | AGENT_GROUP)) === (MONITOR_GROUP | AGENT_GROUP);
      explainMember(settings, fleet.at(index), answer, both, clusters);
    }
    answer.addMemberAt(index, role, clusters, address, port, labelsOf(index));
    if (index === selfIndex) {
      targets.own = clusters;
    } else if (role === monitor && address !== null && fleet.servesAt(index)) {
      targets.add(index, clusters);
    }
  }
  register(settings, fleet, answer, targets);
}

/**
 * An instance's clusters as the answer's shared list: most instances have
 * none or one, which need no sorting and no call into the answer once that
 * list is made.
 */
class ClusterSets {
  constructor(answer) {
    this.answer = answer;
    this.none = answer.clusterSet([]);
    /** The list of one cluster, by its id. */
    this.single = [];
  }

  /**
   * The list of cluster `first` (none when negative) and those of `more`,
   * each once, in name order (cluster ids were handed out in name order:
   * sorting them sorts the names). Changes `more`.
   */
  of(first, more) {
    if (first < 0) {
      return this.none;
    }
    if (more.length === 0) {
      let set = this.single[first];
      if (set === undefined) {
        set = this.answer.clusterSet([first]);
        this.single[first] = set;
      }
      return set;
    }
    more.push(first);
    return this.answer.clusterSet(sortedUnique(more));
  }
}

/**
 * What each security group of the fleet means to the policy, worked out
 * once per group rather than once per instance, in columns by the group's
 * index: its role bits, its cluster id (-1 for none) and whose it is.
 * Clusters are named in name order so that cluster ids sort as their names
 * do.
 */
class GroupTable {
  constructor(settings, fleet, answer) {
    const groups = fleet.securityGroups;
    this.roles = new Uint8Array(groups.length);
    this.clusters = new Int32Array(groups.length).fill(-1);
    this.owners = new Uint8Array(groups.length);
    for (const group of groups) {
      this.roles[group.index] =
        (is(group, settings.monitorGroup) ? MONITOR_GROUP : 0) |
        (is(group, settings.agentGroup) ? AGENT_GROUP : 0);
      this.owners[group.index] = ownerOf(settings, group);
    }
    const prefix = settings.clusterGroupPrefix;
    if (prefix !== null) {
      const clusters = [];
      for (const group of groups) {
        if (
          group.name.length > prefix.length &&
          group.name.startsWith(prefix) &&
          this.owners[group.index] !== UNLISTED
        ) {
          clusters.push([group.name.slice(prefix.length), group.index]);
        }
      }
      clusters.sort(([a, first], [b, second]) => compareText(a, b) || first - second);
      for (const [name, group] of clusters) {
        this.clusters[group] = answer.cluster(name);
      }
    }
  }
}

/**
 * A member's labels: the tags `labels_from_tags` names that it carries, its
 * zone and its instance type, as the answer's shared list of ids; a
 * function of the instance's index. Values are told apart where they lie in
 * the fleet's text (zones and types for the whole fleet at once): members
 * with the same labels share one list, and no string is made per member.
 */
function memberLabels(settings, fleet, answer) {
  const tags = settings.labelsFromTags;
  const tagNames = tags.map((key) => answer.labelName(key));
  const zoneName = answer.labelName(ZONE_LABEL);
  const typeName = answer.labelName(INSTANCE_TYPE_LABEL);
  const { strings, columns } = fleet;
  const zones = strings.keysOf(columns.availabilityZones);
  const types = strings.keysOf(columns.instanceTypes);
  const ids = [];
  const make = (index) => {
    ids.length = 0;
    for (let at = 0; at < tags.length; at++) {
      const value = fleet.tagValueAt(index, tags[at]);
      if (value >= 0) {
        ids.push(tagNames[at], answer.labelValueOfText(value));
      }
    }
    if (zones[index] >= 0) {
      ids.push(zoneName, answer.labelValue(strings.keyText(zones[index])));
    }
    if (types[index] >= 0) {
      ids.push(typeName, answer.labelValue(strings.keyText(types[index])));
    }
    return answer.labelSet(ids);
  };
  if (tags.length > 0) {
    return make;
  }
  // Without tags, a member's labels follow from its zone and type alone.
  const byZoneAndType = new Map();
  return (index) => {
    const key = (zones[index] + 1) * 0x100000000 + (types[index] + 1);
    let labels = byZoneAndType.get(key);
    if (labels === undefined) {
      labels = make(index);
      byZoneAndType.set(key, labels);
    }
    return labels;
  };
}

/**
 * Whether `accounts` lists the account that owns each instance, by index
 * (1 when it does, 0 when it does not or the account is unknown), decided
 * once per distinct account; `null` when `accounts` is not set (every
 * account counts).
 */
function listedAccounts(settings, fleet) {
  if (settings.accounts === null) {
    return null;
  }
  const { strings } = fleet;
  const keys = strings.keysOf(fleet.columns.accounts);
  const verdicts = [];
  const listed = new Uint8Array(keys.length);
  for (let index = 0; index < keys.length; index++) {
    const key = keys[index];
    if (key >= 0) {
      if (verdicts[key] === undefined) {
        verdicts[key] = settings.countsAccount(strings.keyText(key)) ? 1 : 0;
      }
      listed[index] = verdicts[key];
    }
  }
  return listed;
}

/** Whether instance `index` carries every tag of `required` (`[key, value]`, `"*"` for any value). */
function carriesRequiredTags(fleet, index, required) {
  for (let at = 0; at < required.length; at++) {
    const [key, wanted] = required[at];
    const value = fleet.tagValueAt(index, key);
    if (value < 0 || (wanted !== "*" && !fleet.strings.equals(value, wanted))) {
      return false;
    }
  }
  return true;
}

/**
 * The monitors self may register with, in fleet order, with their
 * clusters: every member that is a monitor, not self, has an address and
 * serves; and self's clusters once it is a member.
 */
class Targets {
  constructor() {
    this.indices = [];
    this.clusters = [];
    /** Self's clusters; `null` while self is no member. */
    this.own = null;
  }

  add(index, clusters) {
    this.indices.push(index);
    this.clusters.push(clusters);
  }
}

/** Why `instance` fails `require_tags`, `null` when it does not. */
function missingTag(settings, instance) {
  for (const [key, wanted] of settings.requireTags) {
    const value = instance.tag(key);
    if (value === null) {
      return `it lacks the tag ${key}, which require_tags requires`;
    }
    if (wanted !== "*" && value !== wanted) {
      return `its tag ${key} is ${quote(value)}, and require_tags requires ${quote(wanted)}`;
    }
  }
  return null;
}

/** Whether `group` is the one a setting names, by name or by id. */
function is(group, named) {
  return group.name === named || group.id === named;
}

/** Whether `group`'s owner is one of the accounts `accounts` lists. */
function ownerOf(settings, group) {
  if (settings.accounts === null) {
    return LISTED;
  }
  if (group.owner === null) {
    return UNKNOWN;
  }
  return settings.countsAccount(group.owner) ? LISTED : UNLISTED;
}

/** Whether `accounts` lists the account that owns `instance`; false when it is unknown and `accounts` is set. */
function instanceListed(settings, instance) {
  return settings.accounts === null || (instance.account !== null && settings.countsAccount(instance.account));
}

/** Whether `group` counts for `instance`: its owner (or, unknown, the instance's account) is an account `accounts` lists. */
function counts(settings, instance, group) {
  return group.owner === null ? instanceListed(settings, instance) : settings.countsAccount(group.owner);
}

/** Numbers sorted ascending, each once, in place; returns them. */
function sortedUnique(numbers) {
  if (numbers.length < 2) {
    return numbers;
  }
  numbers.sort((a, b) => a - b);
  let kept = 1;
  for (let at = 1; at < numbers.length; at++) {
    if (numbers[at] !== numbers[kept - 1]) {
      numbers[kept++] = numbers[at];
    }
  }
  numbers.length = kept;
  return numbers;
}

/**
 * Self's registration targets: every other monitor with an address that
 * serves and shares a cluster with self (when clustering is on); with the
 * reason for every monitor when the operator asked to explain self.
 */
function register(settings, fleet, answer, targets) {
  const own = fleet.selfIndex;
  if (own === null) {
    return;
  }
  if (targets.own === null) {
    answer.note(own, () => "self has no role, so it registers with nobody");
    return;
  }
  const clustered = settings.clusterGroupPrefix !== null;
  for (let at = 0; at < targets.indices.length; at++) {
    if (!clustered || shareACluster(targets.own, targets.clusters[at])) {
      answer.registerWith(targets.indices[at]);
    }
  }
  if (answer.explainsTargets) {
    explainTargets(settings, fleet, answer, { clusters: targets.own });
  }
}

/** The reasons for a member's role, clusters and address. */
function explainMember(settings, instance, answer, inBothGroups, clusters) {
  if (settings.requireTags.size > 0) {
    answer.note(
      instance,
      () =>
        `a member: it carries every tag require_tags requires (${requiredTags(settings)})`,
    );
  }
  const monitor = groupsNamed(settings, instance, settings.monitorGroup);
  const agent = groupsNamed(settings, instance, settings.agentGroup);
  answer.note(instance, () => {
    if (monitor === "") {
      return `role agent: in the agent group ${agent}`;
    }
    if (inBothGroups) {
      return `role monitor: in the monitor group ${monitor}, which wins over the agent group ${agent} it is also in`;
    }
    return `role monitor: in the monitor group ${monitor}`;
  });
  answer.note(instance, () => {
    const prefix = settings.clusterGroupPrefix;
    if (prefix === null) {
      return "no clusters: clustering is off (no cluster_group_prefix)";
    }
    if (clusters.length === 0) {
      return `no clusters: none of its groups' names starts with ${prefix}`;
    }
    const groups = instance.securityGroups.filter(
      (group) =>
        group.name.length > prefix.length &&
        group.name.startsWith(prefix) &&
        counts(settings, instance, group),
    );
    return `clusters ${answer.clusterNames(clusters)}: from its groups ${describe(groups)}`;
  });
  const unlisted = unlistedGroups(settings, instance);
  if (unlisted !== "") {
    answer.note(instance, () => `not counted: ${unlisted}`);
  }
  const kind = settings.address;
  answer.note(instance, () => {
    const address = kind.read(instance);
    return address === null
      ? `no address: it has no ${kind.name} address, so no one registers with it`
      : `address ${address}: its ${kind.name} address`;
  });
}

/** Why each instance of the monitor group is or is not self's registration target. */
function explainTargets(settings, fleet, answer, own) {
  const memberOf = new Map();
  for (const member of answer.members) {
    memberOf.set(member.instance, member);
  }
  const taken = new Set(answer.targets);
  const clustered = settings.clusterGroupPrefix !== null;
  const monitorGroups = fleet.securityGroups.map((group) => is(group, settings.monitorGroup));
  for (const candidate of fleet.instances()) {
    if (!candidate.securityGroupIndices.some((group) => monitorGroups[group])) {
      continue;
    }
    const member = memberOf.get(candidate.index);
    let missing = null;
    let reason;
    if (candidate.isSelf) {
      reason = "not a target: it is self";
    } else if (!candidate.isRunning) {
      reason = `not a target: it is ${candidate.stateName}`;
    } else if (!candidate.serves) {
      reason = `not a target: ${candidate.unservingReason}`;
    } else if ((missing = missingTag(settings, candidate)) !== null) {
      reason = `not a target: ${missing}`;
    } else if (groupsNamed(settings, candidate, settings.monitorGroup) === "") {
      reason = `not a target: ${unlistedGroups(settings, candidate)}`;
    } else if (taken.has(candidate.index)) {
      reason =
        member !== undefined && clustered
          ? `a target: a monitor in ${shared(answer, own.clusters, member.clusters)}, as self is`
          : "a target: a monitor";
    } else if (member !== undefined && member.address === null) {
      reason = `not a target: it has no ${settings.address.name} address`;
    } else if (member !== undefined) {
      reason = `not a target: its clusters (${answer.clusterNames(member.clusters)}) share none with self's (${answer.clusterNames(own.clusters)})`;
    } else {
      reason = "not a target: not a member";
    }
    answer.noteTarget(candidate, reason);
  }
}

/** `key=value` of each required tag, `key` alone for `"*"`. */
function requiredTags(settings) {
  return Array.from(settings.requireTags, ([key, value]) =>
    value === "*" ? key : `${key}=${value}`,
  ).join(", ");
}

/** The instance's groups a setting names and `accounts` counts, described. */
function groupsNamed(settings, instance, named) {
  return describe(
    instance.securityGroups.filter((group) => is(group, named) && counts(settings, instance, group)),
  );
}

/**
 * The instance's monitor, agent and cluster groups that `accounts` does not
 * count, with their owners: `its groups eg-monitor (sg-1) of account
 * 222222222222 are of no account accounts lists`; empty when there are none.
 */
function unlistedGroups(settings, instance) {
  const prefix = settings.clusterGroupPrefix;
  const groups = instance.securityGroups
    .filter(
      (group) =>
        is(group, settings.monitorGroup) ||
        is(group, settings.agentGroup) ||
        (prefix !== null && group.name.length > prefix.length && group.name.startsWith(prefix)),
    )
    .filter((group) => !counts(settings, instance, group))
    .map((group) => {
      const owner = group.owner ?? instance.account;
      const whose = owner === null ? "an unknown account" : `account ${owner}`;
      return `${group.name} (${group.id}) of ${whose}`;
    });
  return groups.length === 0 ? "" : `its groups ${groups.join(", ")} are of no account accounts lists`;
}

/** `name (id)` of each group. */
function describe(groups) {
  return groups.map((group) => `${group.name} (${group.id})`).join(", ");
}

/** The clusters two members share, described. */
function shared(answer, ours, theirs) {
  const common = sharedClusters(ours, theirs);
  switch (common.length) {
    case 0:
      return "no cluster";
    case 1:
      return `cluster ${answer.clusterNames(common)}`;
    default:
      return `clusters ${answer.clusterNames(common)}`;
  }
}
