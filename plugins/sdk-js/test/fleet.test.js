/** The fleet read back through its accessors, and the checks on its columns. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { Fleet, LIFECYCLE_STATES, columnsOf } from "../src/native.js";

/** A record with every field set, derived from its id. */
function full(id) {
  const text = (field) => `${id}-${field}`;
  return {
    id,
    state: "stopping",
    privateIpv4: text("private-ipv4"),
    publicIpv4: text("public-ipv4"),
    privateDnsName: text("private-dns"),
    publicDnsName: text("public-dns"),
    ipv6Addresses: [`${id}-v6a`, `${id}-v6b`],
    securityGroups: [
      ["sg-shared", "shared", null],
      [`sg-${id}`, `own-${id}`, text("owner")],
    ],
    tags: [
      ["Name", id],
      ["env", "prod"],
    ],
    availabilityZone: text("zone"),
    region: text("region"),
    vpcId: text("vpc"),
    subnetId: text("subnet"),
    instanceType: text("type"),
    imageId: text("image"),
    launchTime: text("launch"),
    account: text("account"),
    lifecycle: "terminating-wait",
    lifecycleGroup: text("group"),
    leavingReason: "scheduled-maintenance",
    leavingDeadline: text("deadline"),
  };
}

/** The record of an instance, read through the accessors. */
function read(instance) {
  return {
    id: instance.id,
    state: instance.state,
    privateIpv4: instance.privateIpv4,
    publicIpv4: instance.publicIpv4,
    privateDnsName: instance.privateDnsName,
    publicDnsName: instance.publicDnsName,
    ipv6Addresses: instance.ipv6Addresses,
    securityGroups: instance.securityGroups.map((group) => [group.id, group.name, group.owner]),
    tags: instance.tags.map((tag) => [tag.key, tag.value]),
    availabilityZone: instance.availabilityZone,
    region: instance.region,
    vpcId: instance.vpcId,
    subnetId: instance.subnetId,
    instanceType: instance.instanceType,
    imageId: instance.imageId,
    launchTime: instance.launchTime,
    account: instance.account,
    lifecycle: instance.lifecycle,
    lifecycleGroup: instance.lifecycleGroup,
    leavingReason: instance.leaving?.reason ?? null,
    leavingDeadline: instance.leaving?.deadline ?? null,
  };
}

const BARE = {
  id: "i-bare",
  state: "running",
  privateIpv4: null,
  publicIpv4: null,
  privateDnsName: null,
  publicDnsName: null,
  ipv6Addresses: [],
  securityGroups: [],
  tags: [],
  availabilityZone: null,
  region: null,
  vpcId: null,
  subnetId: null,
  instanceType: null,
  imageId: null,
  launchTime: null,
  account: null,
  lifecycle: "not-in-group",
  lifecycleGroup: null,
  leavingReason: null,
  leavingDeadline: null,
};

test("every field reads back as it was written", () => {
  const records = [full("i-1"), { id: "i-bare" }, full("i-2")];
  const fleet = Fleet.fromRecords(records, { self: "i-2", explain: "i-bare" });
  assert.deepEqual(fleet.instances().map(read), [full("i-1"), BARE, full("i-2")]);
  assert.equal(fleet.length, 3);
  assert.equal(fleet.selfInstance.id, "i-2");
  assert.equal(fleet.explained.id, "i-bare");
  assert.equal(fleet.instance(1).index, 1);
  assert.equal(fleet.instance(3), undefined);
  assert.equal(fleet.instance(-1), undefined);
  assert.equal(fleet.find("i-2").index, 2);
  assert.equal(fleet.find("i-nope"), undefined);
});

test("without self or explain, both are null", () => {
  const fleet = Fleet.fromRecords([full("i-1")]);
  assert.equal(fleet.selfInstance, null);
  assert.equal(fleet.explained, null);
  assert.equal(fleet.instance(0).isSelf, false);
});

test("text that is not ASCII reads back by its UTF-8 byte offsets", () => {
  const records = [
    { ...full("i-1"), tags: [["city", "Zürich"], ["Name", "東京 🦀 node"]] },
    { ...full("i-2"), securityGroups: [["sg-ü", "cluster-Zürich", "Zürich-owner"]], tags: [["emoji", "🦀"]] },
    full("i-3"),
  ];
  const fleet = Fleet.fromRecords(records);
  assert.equal(fleet.strings.ascii, false);
  assert.deepEqual(fleet.instances().map(read), records);
  assert.equal(fleet.instance(0).tag("city"), "Zürich");
  assert.equal(fleet.instance(2).tag("Name"), "i-3");
  assert.deepEqual(
    fleet.securityGroups.map((group) => group.name),
    ["shared", "own-i-1", "cluster-Zürich", "own-i-3"],
  );
});

test("an ASCII fleet takes the fast path", () => {
  const fleet = Fleet.fromRecords([full("i-1")]);
  assert.equal(fleet.strings.ascii, true);
  assert.equal(fleet.instance(0).tag("env"), "prod");
});

test("groups are listed once and shared by index", () => {
  const fleet = Fleet.fromRecords([full("i-1"), full("i-2")]);
  assert.deepEqual(
    fleet.securityGroups.map((group) => [group.index, group.name]),
    [
      [0, "shared"],
      [1, "own-i-1"],
      [2, "own-i-2"],
    ],
  );
  assert.deepEqual([...fleet.instance(0).securityGroupIndices], [0, 1]);
  assert.deepEqual([...fleet.instance(1).securityGroupIndices], [0, 2]);
});

test("a group is listed once per owner, and one without an owner has none", () => {
  const group = (owner) => (owner === undefined ? ["sg-1", "eg-monitor"] : ["sg-1", "eg-monitor", owner]);
  const fleet = Fleet.fromRecords([
    { id: "i-a", securityGroups: [group("111111111111")] },
    { id: "i-b", securityGroups: [group("222222222222")] },
    { id: "i-c", securityGroups: [group(undefined)] },
    { id: "i-d", securityGroups: [group("111111111111")] },
  ]);
  assert.deepEqual(
    fleet.securityGroups.map((group) => group.owner),
    ["111111111111", "222222222222", null],
  );
  assert.deepEqual(
    fleet.instances().map((instance) => [...instance.securityGroupIndices]),
    [[0], [1], [2], [0]],
  );
});

test("a tag is found by its exact key", () => {
  const instance = Fleet.fromRecords([full("i-1")]).instance(0);
  assert.equal(instance.tag("env"), "prod");
  assert.equal(instance.tag("Env"), null);
});

test("an unknown self is an error naming it", () => {
  assert.throws(() => Fleet.fromRecords([full("i-1")], { self: "i-nope" }), {
    message: "instance i-nope is not in the fleet",
  });
});

test("columns of different lengths are refused", () => {
  const fleet = columnsOf([full("i-1")]);
  fleet.regions = new Uint32Array(0);
  assert.throws(() => new Fleet({ fleet }), {
    message: "the fleet's regions has 0 entries for 1 instances",
  });
  const tags = columnsOf([full("i-1")]);
  tags.tagValues = tags.tagValues.subarray(1);
  assert.throws(() => new Fleet({ fleet: tags }), {
    message: "the fleet's tag keys and values differ in number",
  });
  const text = columnsOf([full("i-1")]);
  text.textEnds = text.textEnds.subarray(1);
  assert.throws(() => new Fleet({ fleet: text }), {
    message: "the fleet's text does not start with the empty string",
  });
});

test("self and explained must be in the fleet", () => {
  const fleet = columnsOf([full("i-1")]);
  assert.throws(() => new Fleet({ fleet, selfInstance: 1 }), {
    message: "the host named instance 1 as self, but the fleet has 1",
  });
  assert.throws(() => new Fleet({ fleet, explain: 7 }), {
    message: "the host named instance 7 as explained instance, but the fleet has 1",
  });
});

test("candidates are running instances and self whatever its state", () => {
  const records = [
    { id: "i-running", state: "running" },
    { id: "i-pending", state: "pending" },
    { id: "i-stopped", state: "stopped" },
    { id: "i-also-running", state: "running" },
  ];
  const ids = (self) =>
    Fleet.fromRecords(records, { self })
      .candidates()
      .map((instance) => instance.id);
  assert.deepEqual(ids(null), ["i-running", "i-also-running"]);
  assert.deepEqual(ids("i-stopped"), ["i-running", "i-stopped", "i-also-running"]);
  assert.deepEqual(ids("i-running"), ["i-running", "i-also-running"]);
});

test("states are named as EC2 names them", () => {
  const states = ["pending", "running", "shutting-down", "terminated", "stopping", "stopped", "other"];
  const fleet = Fleet.fromRecords(states.map((state, n) => ({ id: `i-${n}`, state })));
  assert.deepEqual(
    fleet.instances().map((instance) => instance.stateName),
    [...states.slice(0, 6), "in a state this interface does not name"],
  );
  assert.deepEqual(
    fleet.instances().map((instance) => instance.isRunning),
    [false, true, false, false, false, false, false],
  );
});

/** Every lifecycle state, and whether an instance in it serves. */
const SERVING = {
  "not-in-group": true,
  pending: true,
  "pending-wait": false,
  "in-service": true,
  standby: false,
  terminating: false,
  "terminating-wait": false,
  detaching: false,
  warmed: false,
  other: true,
};

test("instances serve unless leaving or held out of service", () => {
  assert.deepEqual(Object.keys(SERVING), [...LIFECYCLE_STATES]);
  const records = Object.keys(SERVING).map((state) => ({ id: state, lifecycle: state }));
  records.push({ id: "i-going", lifecycle: "in-service", leavingReason: "other" });
  const fleet = Fleet.fromRecords(records);
  assert.deepEqual(
    fleet.instances().map((instance) => instance.serves),
    [...Object.values(SERVING), false],
  );
});

test("an unserving reason names the leave or the state", () => {
  const fleet = Fleet.fromRecords([
    {
      id: "i-spot",
      leavingReason: "spot-interruption",
      leavingDeadline: "2026-12-07T10:00:00Z",
    },
    { id: "i-going", leavingReason: "announced" },
    { id: "i-standby", lifecycle: "standby" },
    { id: "i-serving", lifecycle: "in-service" },
  ]);
  assert.deepEqual(
    fleet.instances().map((instance) => instance.unservingReason),
    [
      "leaving (spot-interruption by 2026-12-07T10:00:00Z)",
      "leaving (announced)",
      "in Auto Scaling standby",
      null,
    ],
  );
});

test("an unknown lifecycle state or leave reason is an error", () => {
  assert.throws(
    () => Fleet.fromRecords([{ id: "i-1", lifecycle: "InService" }]),
    /unknown lifecycle state "InService"/,
  );
  assert.throws(
    () => Fleet.fromRecords([{ id: "i-1", leavingReason: "meteor" }]),
    /unknown leave reason "meteor"/,
  );
});

test("by index, candidates, serving and tags read as the instances do", () => {
  const records = [
    { id: "i-run", tags: [["team", "blue"], ["env", ""]] },
    { id: "i-stopped", state: "stopped", tags: [["Team", "red"]] },
    { id: "i-self", state: "pending", lifecycle: "standby" },
    { id: "i-going", leavingReason: "announced", tags: [["team", "Zürich"]] },
  ];
  const fleet = Fleet.fromRecords(records, { self: "i-self" });
  const candidates = fleet.candidates().map((instance) => instance.index);
  assert.deepEqual(candidates, [0, 2, 3]);
  assert.deepEqual(
    records.map((_, index) => fleet.isCandidate(index)),
    [true, false, true, true],
  );
  assert.deepEqual(
    fleet.instances().map((instance) => fleet.servesAt(instance.index)),
    fleet.instances().map((instance) => instance.serves),
  );
  assert.deepEqual(records.map((_, index) => fleet.servesAt(index)), [true, true, false, false]);
  const team = records.map((_, index) => fleet.tagValueAt(index, "team"));
  assert.deepEqual(team.map((value) => (value < 0 ? null : fleet.strings.get(value))), ["blue", null, null, "Zürich"]);
  assert.equal(fleet.tagValueAt(0, "env"), 0, "an empty value is string 0, not none");
  assert.equal(fleet.instance(0).tag("env"), "");
  assert.equal(fleet.tagValueAt(0, "Env"), -1);
});
