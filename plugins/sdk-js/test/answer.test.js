/** Building an answer: names, members, targets, notes, and what crosses back. */

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  AddressKind,
  Answer,
  Fleet,
  otherAddress,
  resolveRecords,
  shareACluster,
  sharedClusters,
} from "../src/native.js";

function fleet({ self = null, explain = null } = {}) {
  const records = ["i-1", "i-2", "i-3"].map((id) => ({
    id,
    privateIpv4: `10.0.0.${id.slice(2)}`,
  }));
  return Fleet.fromRecords(records, { self, explain });
}

test("names are interned once in first use order", () => {
  const answer = new Answer(fleet());
  const agent = answer.role("agent");
  const monitor = answer.role("monitor");
  assert.equal(answer.role("agent"), agent);
  assert.notEqual(agent, monitor);
  assert.equal(answer.roleName(monitor), "monitor");
  assert.deepEqual(answer.toDecision().roles, ["agent", "monitor"]);
  const blue = answer.cluster("blue");
  assert.equal(answer.cluster("blue"), blue);
  assert.equal(answer.clusterName(blue), "blue");
});

test("clusters sort by name without repeats", () => {
  const answer = new Answer(fleet());
  const red = answer.cluster("red");
  const blue = answer.cluster("blue");
  const zurich = answer.cluster("Zürich");
  const crab = answer.cluster("🦀");
  const last = answer.cluster("\uffee");
  assert.deepEqual(answer.sortClusters([red, blue, red, crab, last, zurich]), [
    zurich,
    blue,
    red,
    last,
    crab,
  ]);
});

test("cluster names read as a list or none", () => {
  const answer = new Answer(fleet());
  const clusters = [answer.cluster("blue"), answer.cluster("green")];
  assert.equal(answer.clusterNames(clusters), "blue, green");
  assert.equal(answer.clusterNames([]), "none");
});

test("the resolved answer names ids, roles and own addresses", () => {
  const resolved = resolveRecords(
    ["i-1", "i-2"].map((id) => ({ id, privateIpv4: `10.0.0.${id.slice(2)}` })),
    { self: "i-1" },
    (fleet, answer) => {
      const monitor = answer.role("monitor");
      const second = fleet.instance(1);
      answer.addMember({
        instance: second,
        role: monitor,
        clusters: [answer.cluster("blue")],
        address: AddressKind.PRIVATE_IP.of(second),
        port: 7070,
      });
      answer.addMember({ instance: 0, role: answer.role("agent"), address: otherAddress("agent.example") });
      answer.registerWith(second);
    },
  );
  assert.deepEqual(resolved, {
    members: [
      { id: "i-2", role: "monitor", clusters: ["blue"], address: "10.0.0.2", port: 7070, labels: {} },
      { id: "i-1", role: "agent", clusters: [], address: "agent.example", port: null, labels: {} },
    ],
    registerWith: ["i-2"],
    notes: [],
  });
});

test("the decision is the WIT record as componentize-js lowers it: lists of numbers typed, null for none", () => {
  const answer = new Answer(fleet({ self: "i-1", explain: "i-2" }));
  const second = answer.fleet.instance(1);
  answer.addMember({
    instance: second,
    role: answer.role("monitor"),
    address: AddressKind.PUBLIC_DNS.of(second),
  });
  answer.addMember({
    instance: 2,
    role: answer.role("agent"),
    clusters: [answer.cluster("blue")],
    address: AddressKind.IPV6.of(answer.fleet.instance(2)),
    port: 7071,
  });
  answer.addMember({ instance: 0, role: 1, address: AddressKind.PRIVATE_IP.of(answer.fleet.instance(0)) });
  answer.note(second, "about 2");
  answer.registerWith(second);
  assert.deepEqual(answer.toDecision(), {
    roles: ["monitor", "agent"],
    clusters: ["blue"],
    labelNames: [],
    labelValues: [],
    members: [
      { instance: 1, role: 0, clusters: new Uint32Array(0), address: null, port: null, labels: [] },
      { instance: 2, role: 1, clusters: Uint32Array.of(0), address: null, port: 7071, labels: [] },
      {
        instance: 0,
        role: 1,
        clusters: new Uint32Array(0),
        address: { tag: "own", val: "private-ipv4" },
        port: null,
        labels: [],
      },
    ],
    registerWith: Uint32Array.of(1),
    notes: [{ instance: 1, topic: "decision", text: "about 2" }],
  });
});

test("labels cross as names and values, each listed once", () => {
  const answer = new Answer(fleet());
  const agent = answer.role("agent");
  for (const [instance, zone] of [
    [0, "us-east-1a"],
    [1, "us-east-1b"],
    [2, "us-east-1a"],
  ]) {
    answer.addMember({ instance, role: agent, labels: { zone, team: "blue" } });
  }
  answer.addMember({ instance: 1, role: agent, labels: new Map([["team", "red"]]) });
  answer.addMember({ instance: 2, role: agent, labels: [["team", ""]] });
  answer.addMember({ instance: 0, role: agent });
  const decision = answer.toDecision();
  assert.deepEqual(decision.labelNames, ["zone", "team"]);
  assert.deepEqual(decision.labelValues, ["us-east-1a", "blue", "us-east-1b", "red", ""]);
  const pairs = (member) => member.labels.map((label) => [label.name, label.value]);
  assert.deepEqual(decision.members.map(pairs), [
    [[0, 0], [1, 1]],
    [[0, 2], [1, 1]],
    [[0, 0], [1, 1]],
    [[1, 3]],
    [[1, 4]],
    [],
  ]);
  assert.equal(decision.members[5].labels, answer.members[0 + 5].labels, "no array made for no labels");
  assert.deepEqual(
    answer.resolved().members.map((member) => member.labels),
    [
      { zone: "us-east-1a", team: "blue" },
      { zone: "us-east-1b", team: "blue" },
      { zone: "us-east-1a", team: "blue" },
      { team: "red" },
      { team: "" },
      {},
    ],
  );
  assert.throws(() => answer.addMember({ instance: 0, role: agent, labels: { team: 7 } }), TypeError);
});

test("notes are kept only for what was asked, and made only then", () => {
  for (const [explain, expected] of [
    [null, []],
    ["i-2", [["i-2", "decision", "about 2"]]],
    [
      "i-1",
      [
        ["i-1", "decision", "about 1"],
        ["i-3", "target", "3 as a target"],
      ],
    ],
  ]) {
    let made = 0;
    const text = (words) => () => {
      made += 1;
      return words;
    };
    const notes = resolveRecords(
      ["i-1", "i-2", "i-3"].map((id) => ({ id })),
      { self: "i-1", explain },
      (fleet, answer) => {
        const [one, two, three] = fleet.instances();
        answer.note(one, text("about 1"));
        answer.note(two, text("about 2"));
        answer.noteTarget(three, text("3 as a target"));
      },
    ).notes;
    assert.deepEqual(notes, expected, `explaining ${explain}`);
    assert.equal(made, expected.length, "texts made only when kept");
  }
});

test("explains and explainsTargets follow the question", () => {
  const answer = new Answer(fleet({ self: "i-1", explain: "i-1" }));
  assert.equal(answer.explains(0), true);
  assert.equal(answer.explains(answer.fleet.instance(1)), false);
  assert.equal(answer.explainsTargets, true);
  assert.equal(new Answer(fleet({ self: "i-1", explain: "i-2" })).explainsTargets, false);
  assert.equal(new Answer(fleet({ explain: "i-2" })).explainsTargets, false);
  assert.equal(new Answer(fleet({ self: "i-1" })).explainsTargets, false);
});

test("clusters are shared by a common one or by having none", () => {
  const [a, b, c] = [0, 1, 2];
  assert.equal(shareACluster([], []), true);
  assert.equal(shareACluster([], [a]), false);
  assert.equal(shareACluster([a], []), false);
  assert.equal(shareACluster([a, b], [b, c]), true);
  assert.equal(shareACluster([a], [b, c]), false);
  assert.deepEqual(sharedClusters([a, b, c], [c, b]), [b, c]);
});

test("members with the same clusters or labels share one list", () => {
  const answer = new Answer(fleet());
  const agent = answer.role("agent");
  const [blue, green] = [answer.cluster("blue"), answer.cluster("green")];
  const zone = answer.labelName("zone");
  const east = answer.labelValue("us-east-1a");
  const labels = answer.labelSet([zone, east]);
  assert.equal(answer.labelSet([zone, east]), labels);
  assert.deepEqual(labels, [{ name: zone, value: east }]);
  assert.ok(Object.isFrozen(labels));
  answer.addMember({ instance: 0, role: agent, clusters: [blue], labels: { zone: "us-east-1a" } });
  answer.addMemberAt(1, agent, answer.clusterSet([blue]), null, null, labels);
  answer.addMember({ instance: 2, role: agent, clusters: [blue, green] });
  const [first, second, third] = answer.toDecision().members;
  assert.equal(first.clusters, second.clusters);
  assert.equal(first.labels, labels);
  assert.equal(second.labels, labels);
  assert.equal(answer.clusterSet([blue, green]), third.clusters);
  assert.deepEqual(third.clusters, Uint32Array.of(blue, green));
  assert.equal(third.labels, answer.members[2].labels);
  assert.deepEqual(answer.resolved().members.map((member) => [member.clusters, member.labels]), [
    [["blue"], { zone: "us-east-1a" }],
    [["blue"], { zone: "us-east-1a" }],
    [["blue", "green"], {}],
  ]);
});

test("a label value is taken from the fleet's text without making it per member", () => {
  const records = [
    { id: "i-1", availabilityZone: "us-east-1a" },
    { id: "i-2", availabilityZone: "Zürich-1" },
    { id: "i-3", availabilityZone: "us-east-1a" },
  ];
  const answer = new Answer(Fleet.fromRecords(records));
  const zones = answer.fleet.columns.availabilityZones;
  const ids = Array.from(zones, (text) => answer.labelValueOfText(text));
  assert.equal(ids[0], ids[2], "one value for one zone, wherever it lies in the text");
  assert.deepEqual(answer.toDecision().labelValues, ["us-east-1a", "Zürich-1"]);
  assert.equal(answer.labelValue("Zürich-1"), ids[1]);
});

test("ids that are no ids are refused", () => {
  const answer = new Answer(fleet());
  assert.throws(() => answer.labelSet([0]), { name: "TypeError", message: /label ids come in pairs/ });
  assert.throws(() => answer.labelSet([0, -1]), { name: "TypeError", message: /label value must be an id/ });
  assert.throws(() => answer.labelSet([1.5, 0]), { name: "TypeError", message: /label name must be an id/ });
  assert.throws(() => answer.clusterSet([-1]), { name: "TypeError", message: /cluster must be an id/ });
  assert.throws(() => answer.clusterSet([0, "1"]), TypeError);
  assert.throws(() => answer.clusterSet([0, 1, 2 ** 32]), TypeError);
});
