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

/**
 * A member's labels as `[name, value]` pairs: the tags `labels_from_tags`
 * names that it carries, its zone and its instance type.
 */
function labels(settings, instance) {
  const pairs = [];
  for (const key of settings.labelsFromTags) {
    const value = instance.tag(key);
    if (value !== null && value !== undefined) {
      pairs.push([key, value]);
    }
  }
  const zone = instance.availabilityZone;
  if (zone !== null && zone !== undefined) {
    pairs.push([ZONE_LABEL, zone]);
  }
  const kind = instance.instanceType;
  if (kind !== null && kind !== undefined) {
    pairs.push([INSTANCE_TYPE_LABEL, kind]);
  }
  return pairs;
}

/**
 * Decides members and self's registration targets into `answer`, with the
 * reasons when the operator asked to explain an instance.
 */
export function decide(settings, fleet, answer) {
  const meanings = groupMeanings(settings, fleet, answer);
  const monitor = answer.role(MONITOR);
  const agent = answer.role(AGENT);
  for (const instance of fleet.instances()) {
    if (!instance.isRunning && !instance.isSelf) {
      answer.note(
        instance,
        () =>
          `not a member: it is ${instance.stateName} (only running instances, and self, are members)`,
      );
      continue;
    }
    const missing = missingTag(settings, instance);
    if (missing !== null) {
      answer.note(instance, () => `not a member: ${missing}`);
      continue;
    }
    let isMonitor = false;
    let isAgent = false;
    let clusters = [];
    const listed = instanceListed(settings, instance);
    for (const group of instance.securityGroupIndices) {
      const meaning = meanings[group];
      if (!counted(meaning, listed)) {
        continue;
      }
      isMonitor ||= meaning.monitor;
      isAgent ||= meaning.agent;
      if (meaning.cluster !== null) {
        clusters.push(meaning.cluster);
      }
    }
    let role;
    let port;
    if (isMonitor) {
      [role, port] = [monitor, settings.monitorPort];
    } else if (isAgent) {
      [role, port] = [agent, settings.agentPort];
    } else {
      answer.note(instance, () => {
        const unlisted = unlistedGroups(settings, instance);
        return unlisted === ""
          ? `no role: in neither the monitor group ${settings.monitorGroup} nor the agent group ${settings.agentGroup}`
          : `no role: ${unlisted}`;
      });
      continue;
    }
    // Cluster ids were handed out in name order: sorting them sorts the names.
    clusters = sortedUnique(clusters);
    const address = settings.address.of(instance);
    if (answer.explains(instance)) {
      explainMember(settings, instance, answer, isMonitor && isAgent, clusters);
    }
    answer.addMember({ instance, role, clusters, address, port, labels: labels(settings, instance) });
  }
  register(settings, fleet, answer, monitor);
}

/**
 * What each security group of the fleet means to the policy, worked out
 * once per group rather than once per instance; clusters are named in name
 * order so that cluster ids sort as their names do.
 */
function groupMeanings(settings, fleet, answer) {
  const groups = fleet.securityGroups;
  const meanings = groups.map((group) => ({
    monitor: is(group, settings.monitorGroup),
    agent: is(group, settings.agentGroup),
    cluster: null,
    owner: ownerOf(settings, group),
  }));
  const prefix = settings.clusterGroupPrefix;
  if (prefix !== null) {
    const clusters = [];
    for (const group of groups) {
      if (
        group.name.length > prefix.length &&
        group.name.startsWith(prefix) &&
        meanings[group.index].owner !== UNLISTED
      ) {
        clusters.push([group.name.slice(prefix.length), group.index]);
      }
    }
    clusters.sort(([a, first], [b, second]) => compareText(a, b) || first - second);
    for (const [name, group] of clusters) {
      meanings[group].cluster = answer.cluster(name);
    }
  }
  return meanings;
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

/** A group's owner is one of the accounts `accounts` lists (or every account counts). */
const LISTED = "listed";
/** A group's owner is an account `accounts` does not list. */
const UNLISTED = "unlisted";
/** Nobody knows a group's owner: it counts as its instance's account's. */
const UNKNOWN = "unknown";

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

/** Whether a group of this meaning counts for an instance whose account `accounts` lists (`listed`) or not. */
function counted(meaning, listed) {
  return meaning.owner === LISTED || (meaning.owner === UNKNOWN && listed);
}

/** Whether `group` counts for `instance`: its owner (or, unknown, the instance's account) is an account `accounts` lists. */
function counts(settings, instance, group) {
  return group.owner === null ? instanceListed(settings, instance) : settings.countsAccount(group.owner);
}

/** Numbers sorted ascending, each once. */
function sortedUnique(numbers) {
  numbers.sort((a, b) => a - b);
  return numbers.filter((number, at) => at === 0 || numbers[at - 1] !== number);
}

/**
 * Self's registration targets: every other monitor with an address that
 * shares a cluster with self (when clustering is on); with the reason for
 * every monitor when the operator asked to explain self.
 */
function register(settings, fleet, answer, monitor) {
  const own = fleet.selfInstance;
  if (own === null) {
    return;
  }
  const ownMember = answer.members.find((member) => member.instance === own.index);
  if (ownMember === undefined) {
    answer.note(own, () => "self has no role, so it registers with nobody");
    return;
  }
  const clustered = settings.clusterGroupPrefix !== null;
  const targets = answer.members.filter(
    (target) =>
      target.role === monitor &&
      target.instance !== own.index &&
      target.address !== null &&
      fleet.instance(target.instance).serves &&
      (!clustered || shareACluster(ownMember.clusters, target.clusters)),
  );
  for (const target of targets) {
    answer.registerWith(target.instance);
  }
  if (answer.explainsTargets) {
    explainTargets(settings, fleet, answer, ownMember);
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
