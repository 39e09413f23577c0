/**
 * Building a `Fleet` from plain records, as a policy's native unit tests
 * (and benchmarks) do: the same columns the host sends, made in the test.
 *
 * A record is `{id, state, privateIpv4, publicIpv4, privateDnsName,
 * publicDnsName, availabilityZone, region, vpcId, subnetId, instanceType,
 * imageId, launchTime, account, lifecycle, lifecycleGroup, leavingReason,
 * leavingDeadline, ipv6Addresses: [...], securityGroups: [[id, name,
 * owner]], tags: [[key, value]]}`; every field but `id` may be left out
 * (`state` then is `running`, `lifecycle` `not-in-group`, the others none),
 * and so may a group's `owner` (an account id; unknown when left out).
 */

import { Answer } from "./answer.js";
import { Fleet, LEAVE_REASONS, LIFECYCLE_STATES } from "./fleet.js";

/** The optional string fields, in record and column names. */
const TEXT_FIELDS = [
  ["privateIpv4", "privateIpv4s"],
  ["publicIpv4", "publicIpv4s"],
  ["privateDnsName", "privateDnsNames"],
  ["publicDnsName", "publicDnsNames"],
  ["availabilityZone", "availabilityZones"],
  ["region", "regions"],
  ["vpcId", "vpcIds"],
  ["subnetId", "subnetIds"],
  ["instanceType", "instanceTypes"],
  ["imageId", "imageIds"],
  ["launchTime", "launchTimes"],
  ["account", "accounts"],
  ["lifecycleGroup", "lifecycleGroups"],
  ["leavingDeadline", "leavingDeadlines"],
];

/** The lists of numbers, which the host sends as `Uint32Array`s. */
const NUMBER_COLUMNS = [
  "ids",
  ...TEXT_FIELDS.map(([, column]) => column),
  "groupEnds",
  "instanceGroups",
  "tagEnds",
  "tagKeys",
  "tagValues",
  "ipv6Ends",
  "ipv6Addresses",
];

/**
 * The fleet of these records, seen from the one with id `self` and
 * explaining the one with id `explain` (each `null` or left out for none);
 * an id that names no instance is an error.
 */
Fleet.fromRecords = function fromRecords(records, { self = null, explain = null } = {}) {
  const indexOf = (id) => {
    if (id == null) {
      return undefined;
    }
    const index = records.findIndex((record) => record.id === id);
    if (index < 0) {
      throw new Error(`instance ${id} is not in the fleet`);
    }
    return index;
  };
  return new Fleet({
    fleet: columnsOf(records),
    selfInstance: indexOf(self),
    explain: indexOf(explain),
  });
};

/**
 * What `decide(fleet, answer)` answers for a fleet of `records`, seen from
 * `self` and explaining `explain`, read back in ids and names
 * (`Answer.resolved`): what a policy's native tests compare.
 */
export function resolveRecords(records, { self = null, explain = null } = {}, decide) {
  const fleet = Fleet.fromRecords(records, { self, explain });
  const answer = new Answer(fleet);
  decide(fleet, answer);
  return answer.resolved();
}

/**
 * The WIT `fleet` columns of these records, as the host makes them: every
 * string appended where it is used (the same zone on two instances is two
 * strings), the empty string and none as string 0, each distinct security
 * group listed once.
 */
export function columnsOf(records) {
  const columns = new ColumnsBuilder();
  for (const record of records) {
    columns.push(record);
  }
  return columns.finish();
}

/** The columns under construction. */
class ColumnsBuilder {
  constructor() {
    this.parts = [];
    this.textEnds = [];
    this.bytes = 0;
    this.groups = new Map();
    this.columns = {
      securityGroups: [],
      states: [],
      lifecycleStates: [],
      leavingReasons: [],
    };
    for (const name of NUMBER_COLUMNS) {
      this.columns[name] = [];
    }
    // String 0, the empty one.
    this.textEnds.push(0);
  }

  /** The index of `text`, appended (0 for the empty string). */
  text(text) {
    if (text === "") {
      return 0;
    }
    this.parts.push(text);
    this.bytes += new TextEncoder().encode(text).length;
    this.textEnds.push(this.bytes);
    return this.textEnds.length - 1;
  }

  push(record) {
    const columns = this.columns;
    columns.ids.push(this.text(record.id));
    columns.states.push(record.state ?? "running");
    const lifecycle = record.lifecycle ?? "not-in-group";
    if (!LIFECYCLE_STATES.includes(lifecycle)) {
      throw new Error(`instance ${record.id}: unknown lifecycle state ${JSON.stringify(lifecycle)}`);
    }
    columns.lifecycleStates.push(lifecycle);
    const reason = record.leavingReason ?? undefined;
    if (reason !== undefined && !LEAVE_REASONS.includes(reason)) {
      throw new Error(`instance ${record.id}: unknown leave reason ${JSON.stringify(reason)}`);
    }
    columns.leavingReasons.push(reason);
    for (const [field, column] of TEXT_FIELDS) {
      const value = record[field];
      columns[column].push(value == null ? 0 : this.text(value));
    }
    for (const [id, name, owner] of record.securityGroups ?? []) {
      const key = JSON.stringify([id, name, owner ?? null]);
      let group = this.groups.get(key);
      if (group === undefined) {
        group = columns.securityGroups.length;
        columns.securityGroups.push({ id: this.text(id), name: this.text(name), owner: owner == null ? 0 : this.text(owner) });
        this.groups.set(key, group);
      }
      columns.instanceGroups.push(group);
    }
    columns.groupEnds.push(columns.instanceGroups.length);
    for (const [key, value] of record.tags ?? []) {
      columns.tagKeys.push(this.text(key));
      columns.tagValues.push(this.text(value));
    }
    columns.tagEnds.push(columns.tagKeys.length);
    for (const address of record.ipv6Addresses ?? []) {
      columns.ipv6Addresses.push(this.text(address));
    }
    columns.ipv6Ends.push(columns.ipv6Addresses.length);
  }

  finish() {
    const fleet = {
      text: this.parts.join(""),
      textEnds: Uint32Array.from(this.textEnds),
      securityGroups: this.columns.securityGroups,
      states: this.columns.states,
      lifecycleStates: this.columns.lifecycleStates,
      leavingReasons: this.columns.leavingReasons,
    };
    for (const name of NUMBER_COLUMNS) {
      fleet[name] = Uint32Array.from(this.columns[name]);
    }
    return fleet;
  }
}
