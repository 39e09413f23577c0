/**
 * The fleet as a policy reads it: typed instances over the columns the host
 * sends (`wit/policy.wit`, record `fleet`). Nothing is copied or decoded up
 * front: an `Instance` is an index, and each accessor reads its column.
 *
 * Inside the component JavaScript is interpreted, and making an object or a
 * string costs more than the rest of a policy's work on an instance: a
 * policy that must be fast on large fleets reads by index instead
 * (`isCandidate`, `servesAt`, `tagValueAt`, the columns themselves, and
 * `strings` to compare or tell apart strings without making them), and
 * makes `Instance`s only for the instances it explains.
 */

import { FleetText } from "./text.js";

/** How `Instance.stateName` words each state, as the Rust SDK does. */
const STATE_NAMES = {
  pending: "pending",
  running: "running",
  "shutting-down": "shutting-down",
  terminated: "terminated",
  stopping: "stopping",
  stopped: "stopped",
  other: "in a state this interface does not name",
};

/**
 * The Auto Scaling lifecycle states, as the WIT `lifecycle-state` enum names
 * them.
 */
export const LIFECYCLE_STATES = Object.freeze([
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
]);

/**
 * The lifecycle states in which Auto Scaling holds an instance out of
 * service: an instance in one of them does not serve.
 */
const UNSERVING_STATES = new Set([
  "pending-wait",
  "standby",
  "terminating",
  "terminating-wait",
  "detaching",
  "warmed",
]);

/** The reasons an instance leaves, as the WIT `leave-reason` enum names them. */
export const LEAVE_REASONS = Object.freeze([
  "spot-interruption",
  "rebalance-recommendation",
  "scheduled-maintenance",
  "auto-scaling-termination",
  "announced",
  "other",
]);

/** The per-instance columns, by their WIT names and their JS names. */
const PER_INSTANCE_COLUMNS = [
  ["states", "states"],
  ["private-ipv4s", "privateIpv4s"],
  ["public-ipv4s", "publicIpv4s"],
  ["private-dns-names", "privateDnsNames"],
  ["public-dns-names", "publicDnsNames"],
  ["availability-zones", "availabilityZones"],
  ["regions", "regions"],
  ["vpc-ids", "vpcIds"],
  ["subnet-ids", "subnetIds"],
  ["instance-types", "instanceTypes"],
  ["image-ids", "imageIds"],
  ["launch-times", "launchTimes"],
  ["accounts", "accounts"],
  ["lifecycle-states", "lifecycleStates"],
  ["lifecycle-groups", "lifecycleGroups"],
  ["leaving-reasons", "leavingReasons"],
  ["leaving-deadlines", "leavingDeadlines"],
  ["group-ends", "groupEnds"],
  ["tag-ends", "tagEnds"],
  ["ipv6-ends", "ipv6Ends"],
];

/** The fleet of one evaluation, with self and the instance to explain. */
export class Fleet {
  /**
   * The fleet of a WIT `question` (`{fleet, selfInstance, explain}`, as
   * componentize-js lifts it). Checks that the columns agree in length and
   * that self and the explained instance are in the fleet, so that no
   * accessor fails later; the error says which column is wrong.
   */
  constructor(question) {
    const { fleet: columns, selfInstance, explain } = question;
    checkColumns(columns);
    const count = columns.ids.length;
    for (const [what, index] of [
      ["self", selfInstance],
      ["explained instance", explain],
    ]) {
      if (index != null && !(index < count)) {
        throw new Error(
          `the host named instance ${index} as ${what}, but the fleet has ${count}`,
        );
      }
    }
    this.columns = columns;
    this.strings = new FleetText(columns.text, columns.textEnds);
    this.selfIndex = selfInstance ?? null;
    this.explainIndex = explain ?? null;
    this.cache = new Array(count);
    this.groups = null;
  }

  /** How many instances the fleet has. */
  get length() {
    return this.columns.ids.length;
  }

  /** Every instance, in the order the source reported them. */
  instances() {
    const all = new Array(this.length);
    for (let index = 0; index < all.length; index++) {
      all[index] = this.at(index);
    }
    return all;
  }

  /** The instance at `index`, `undefined` when there is none. */
  instance(index) {
    return Number.isInteger(index) && index >= 0 && index < this.length
      ? this.at(index)
      : undefined;
  }

  /** The instance with this id, `undefined` when there is none (a linear search). */
  find(id) {
    const ids = this.columns.ids;
    for (let index = 0; index < ids.length; index++) {
      if (this.strings.get(ids[index]) === id) {
        return this.at(index);
      }
    }
    return undefined;
  }

  /** The instance the host runs on, `null` when it is not part of the fleet. */
  get selfInstance() {
    return this.selfIndex === null ? null : this.at(this.selfIndex);
  }

  /** The instance the operator asked `rollcall explain` about, or `null`. */
  get explained() {
    return this.explainIndex === null ? null : this.at(this.explainIndex);
  }

  /**
   * The instances that may be members, in fleet order: every `running`
   * one, and self whatever its state (at boot EC2 may still report it
   * `pending`).
   */
  candidates() {
    const candidates = [];
    for (let index = 0; index < this.length; index++) {
      if (this.isCandidate(index)) {
        candidates.push(this.at(index));
      }
    }
    return candidates;
  }

  /**
   * Every distinct security group of the fleet, each once, as
   * `{index, id, name, owner}`. A group's `index` runs from 0 to the number
   * of groups, so a policy can classify every group once, in a table, and
   * look instances' groups up in it (`Instance.securityGroupIndices`). Its
   * `owner` is the AWS account that owns it (e.g. `123456789012`), or
   * `null` when the host does not know: with several accounts in the fleet,
   * it tells account A's `eg-monitor` from account B's.
   */
  get securityGroups() {
    if (this.groups === null) {
      this.groups = Array.from(this.columns.securityGroups, (group, index) =>
        Object.freeze({
          index,
          id: this.strings.get(group.id),
          name: this.strings.get(group.name),
          owner: this.strings.optional(group.owner),
        }),
      );
    }
    return this.groups;
  }

  /**
   * Whether instance `index` may be a member: it is `running`, or it is
   * self (`candidates()`, by index).
   */
  isCandidate(index) {
    return this.columns.states[index] === "running" || index === this.selfIndex;
  }

  /** Whether instance `index` serves (`Instance.serves`, by index). */
  servesAt(index) {
    const { columns } = this;
    return columns.leavingReasons[index] == null && !UNSERVING_STATES.has(columns.lifecycleStates[index]);
  }

  /**
   * The string index (into `strings`) of the value of instance `index`'s
   * tag `key`, -1 when it has none (`Instance.tag`, without making the
   * value: compare it with `strings.equals`, tell it apart with
   * `strings.key`).
   */
  tagValueAt(index, key) {
    const { columns, strings } = this;
    const keys = columns.tagKeys;
    const end = columns.tagEnds[index];
    for (let at = this.runStart(columns.tagEnds, index); at < end; at++) {
      if (strings.equals(keys[at], key)) {
        return columns.tagValues[at];
      }
    }
    return -1;
  }

  /** Instance `index`, made once. */
  at(index) {
    let instance = this.cache[index];
    if (instance === undefined) {
      instance = new Instance(this, index);
      this.cache[index] = instance;
    }
    return instance;
  }

  /** Where instance `index`'s run of a shared list (see `ends`) starts. */
  runStart(ends, index) {
    return index === 0 ? 0 : ends[index - 1];
  }
}

/** One instance of a `Fleet`, read through its accessors. */
export class Instance {
  constructor(fleet, index) {
    this.fleet = fleet;
    /** The instance's index in the fleet: how the decision refers to it. */
    this.index = index;
  }

  /** The instance id, e.g. `i-2271a74b`. */
  get id() {
    return this.fleet.strings.get(this.fleet.columns.ids[this.index]);
  }

  /** The EC2 state as the WIT enum names it, e.g. `running`, `shutting-down`, `other`. */
  get state() {
    return this.fleet.columns.states[this.index];
  }

  /** The state as EC2 names it, for reasons (`it is stopped`). */
  get stateName() {
    return STATE_NAMES[this.state] ?? STATE_NAMES.other;
  }

  /** Whether EC2 reports the instance `running`. */
  get isRunning() {
    return this.state === "running";
  }

  /** Whether this is the instance the host runs on. */
  get isSelf() {
    return this.fleet.selfIndex === this.index;
  }

  /** The primary private IPv4 address, e.g. `10.251.199.99`, or `null`. */
  get privateIpv4() {
    return this.optional("privateIpv4s");
  }

  /** The public IPv4 address, or `null`. */
  get publicIpv4() {
    return this.optional("publicIpv4s");
  }

  /** The private DNS name, e.g. `ip-10-251-199-99.ec2.internal`, or `null`. */
  get privateDnsName() {
    return this.optional("privateDnsNames");
  }

  /** The public DNS name, or `null`. */
  get publicDnsName() {
    return this.optional("publicDnsNames");
  }

  /** The availability zone, e.g. `us-east-1a`, or `null`. */
  get availabilityZone() {
    return this.optional("availabilityZones");
  }

  /** The region the instance was fetched from, e.g. `us-east-1`, or `null`. */
  get region() {
    return this.optional("regions");
  }

  /** The VPC id, or `null`. */
  get vpcId() {
    return this.optional("vpcIds");
  }

  /** The subnet id, or `null`. */
  get subnetId() {
    return this.optional("subnetIds");
  }

  /** The instance type, e.g. `m5.large`, or `null`. */
  get instanceType() {
    return this.optional("instanceTypes");
  }

  /** The AMI the instance was launched from, or `null`. */
  get imageId() {
    return this.optional("imageIds");
  }

  /** The launch time, RFC 3339, or `null`. */
  get launchTime() {
    return this.optional("launchTimes");
  }

  /** The AWS account that owns the instance, e.g. `123456789012`, or `null`. */
  get account() {
    return this.optional("accounts");
  }

  /**
   * The Auto Scaling lifecycle state as the WIT enum names it, e.g.
   * `in-service`, `terminating-wait`; `not-in-group` for an instance in no
   * group.
   */
  get lifecycle() {
    return this.fleet.columns.lifecycleStates[this.index];
  }

  /** The Auto Scaling group the instance belongs to, or `null`. */
  get lifecycleGroup() {
    return this.optional("lifecycleGroups");
  }

  /**
   * Whether, why and by when the instance is going away: `{reason,
   * deadline}` (`reason` as the WIT `leave-reason` enum names it, e.g.
   * `spot-interruption`; `deadline` RFC 3339 or `null`), or `null` when it
   * is not.
   */
  get leaving() {
    const reason = this.fleet.columns.leavingReasons[this.index];
    if (reason == null) {
      return null;
    }
    return { reason, deadline: this.optional("leavingDeadlines") };
  }

  /**
   * Whether the instance is meant to serve: it is not leaving, and Auto
   * Scaling does not hold it out of service (pending-wait, standby,
   * terminating, terminating-wait, detaching, warmed). A policy keeps an
   * unserving member's role but registers no one with it.
   */
  get serves() {
    return this.fleet.servesAt(this.index);
  }

  /**
   * Why the instance does not serve, for a note: `leaving
   * (spot-interruption by 2026-12-07T10:00:00Z)`, `in Auto Scaling
   * standby`; `null` when it serves.
   */
  get unservingReason() {
    const leaving = this.leaving;
    if (leaving) {
      const by = leaving.deadline == null ? "" : ` by ${leaving.deadline}`;
      return `leaving (${leaving.reason}${by})`;
    }
    const state = this.lifecycle;
    return UNSERVING_STATES.has(state) ? `in Auto Scaling ${state}` : null;
  }

  /** Every IPv6 address of every network interface, in EC2's order. */
  get ipv6Addresses() {
    const { columns, strings } = this.fleet;
    const start = this.fleet.runStart(columns.ipv6Ends, this.index);
    const end = columns.ipv6Ends[this.index];
    const addresses = [];
    for (let at = start; at < end; at++) {
      addresses.push(strings.get(columns.ipv6Addresses[at]));
    }
    return addresses;
  }

  /** The security groups, in EC2's order, as `{index, id, name, owner}`. */
  get securityGroups() {
    const groups = this.fleet.securityGroups;
    return Array.from(this.securityGroupIndices, (group) => groups[group]);
  }

  /**
   * The indices of the security groups (see `Fleet.securityGroups`), in
   * EC2's order: the cheapest way to test membership against a table.
   */
  get securityGroupIndices() {
    const { columns } = this.fleet;
    const start = this.fleet.runStart(columns.groupEnds, this.index);
    const end = columns.groupEnds[this.index];
    const groups = columns.instanceGroups;
    return ArrayBuffer.isView(groups)
      ? groups.subarray(start, end)
      : groups.slice(start, end);
  }

  /** The tags, in EC2's order, as `{key, value}`. */
  get tags() {
    const { columns, strings } = this.fleet;
    const start = this.fleet.runStart(columns.tagEnds, this.index);
    const end = columns.tagEnds[this.index];
    const tags = [];
    for (let at = start; at < end; at++) {
      tags.push({
        key: strings.get(columns.tagKeys[at]),
        value: strings.get(columns.tagValues[at]),
      });
    }
    return tags;
  }

  /**
   * The value of the tag with this key, `null` when it has none (EC2 keys
   * are unique per instance and case-sensitive).
   */
  tag(key) {
    const value = this.fleet.tagValueAt(this.index, key);
    return value < 0 ? null : this.fleet.strings.get(value);
  }

  /** The instance's entry of a column of strings, `null` for none. */
  optional(column) {
    return this.fleet.strings.optional(this.fleet.columns[column][this.index]);
  }
}

/**
 * Checks that the columns describe one fleet: every per-instance column as
 * long as `ids`, tag keys and values as many, and the text starting with the
 * empty string (as the Rust SDK's `check`). These checks cost nothing per
 * instance.
 */
export function checkColumns(columns) {
  const count = columns.ids.length;
  if (columns.textEnds.length === 0 || columns.textEnds[0] !== 0) {
    throw new Error("the fleet's text does not start with the empty string");
  }
  for (const [name, key] of PER_INSTANCE_COLUMNS) {
    const length = columns[key].length;
    if (length !== count) {
      throw new Error(
        `the fleet's ${name} has ${length} entries for ${count} instances`,
      );
    }
  }
  if (columns.tagKeys.length !== columns.tagValues.length) {
    throw new Error("the fleet's tag keys and values differ in number");
  }
}
