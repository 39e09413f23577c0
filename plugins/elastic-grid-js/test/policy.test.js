/**
 * The Elastic Grid rules and reasons: the tests of
 * `plugins/elastic-grid/src/policy.rs`, on the JavaScript policy, with the
 * same fleets and the same expected texts.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { resolveRecords } from "../../sdk-js/src/native.js";
import { AGENT, MONITOR, decide } from "../src/policy.js";
import { Settings } from "../src/settings.js";

function instance(id, state, groups, ip) {
  const record = {
    id,
    state,
    securityGroups: groups.map((name) => [`sg-${name}`, name]),
    availabilityZone: "us-east-1a",
    region: "us-east-1",
    instanceType: "m1.small",
  };
  if (ip !== null) {
    record.privateIpv4 = ip;
    record.publicIpv4 = `54.${ip}`;
    record.privateDnsName = `ip-${ip.replaceAll(".", "-")}.ec2.internal`;
    record.ipv6Addresses = [`2600:1f18::${ip.replaceAll(".", ":")}`];
  }
  return record;
}

function tagged(record, tags) {
  return { ...record, tags };
}

/** The answer for `fleet` seen from `self`, explaining `explain`. */
function explained(settings, self, explain, fleet) {
  return resolveRecords(fleet, { self, explain }, (fleet, answer) => decide(settings, fleet, answer));
}

function decided(settings, self, fleet) {
  return explained(settings, self, null, fleet);
}

const roles = (resolved) => resolved.members.map((member) => [member.id, member.role]);
const notesAbout = (resolved, id, topic) =>
  resolved.notes.filter(([about, on]) => about === id && on === topic).map(([, , text]) => text);

const settings = (object = {}) => Settings.fromObject(object);
const clustered = () => settings({ cluster_group_prefix: "cluster-" });
const requiring = (tags) => settings({ require_tags: tags });

function seedFleet() {
  return [
    instance("i-2271a74b", "running", ["default", "eg-monitor", "elastic-grid"], "10.251.199.99"),
    instance("i-df71a7b6", "running", ["default", "elastic-grid", "eg-cybernode"], "10.251.199.131"),
  ];
}

function clusterFleet() {
  return [
    instance("i-mb", "running", ["eg-monitor", "cluster-blue"], "10.0.0.1"),
    instance("i-mg", "running", ["eg-monitor", "cluster-green"], "10.0.0.2"),
    instance("i-mbg", "running", ["cluster-green", "eg-monitor", "cluster-blue"], "10.0.0.3"),
    instance("i-m0", "running", ["eg-monitor"], "10.0.0.4"),
    instance("i-ab", "running", ["eg-cybernode", "cluster-blue"], "10.0.1.1"),
    instance("i-a0", "running", ["eg-cybernode"], "10.0.1.2"),
  ];
}

test("the seed agent registers with the monitor", () => {
  const decision = decided(settings(), "i-df71a7b6", seedFleet());
  assert.deepEqual(roles(decision), [
    ["i-2271a74b", MONITOR],
    ["i-df71a7b6", AGENT],
  ]);
  assert.deepEqual(decision.registerWith, ["i-2271a74b"]);
  assert.equal(decision.members[0].address, "10.251.199.99");
  assert.deepEqual(decision.notes, [], "no notes unless asked");
});

test("a lone monitor registers with nobody", () => {
  assert.deepEqual(decided(settings(), "i-2271a74b", seedFleet()).registerWith, []);
});

test("monitors peer with every other monitor", () => {
  const fleet = [
    ...seedFleet(),
    instance("i-m2", "running", ["eg-monitor"], "10.0.0.2"),
    instance("i-m3", "running", ["eg-monitor"], "10.0.0.3"),
  ];
  assert.deepEqual(decided(settings(), "i-m2", fleet).registerWith, ["i-2271a74b", "i-m3"]);
});

test("the monitor group wins over the agent group", () => {
  const fleet = [instance("i-both", "running", ["eg-cybernode", "eg-monitor"], "10.0.0.1")];
  assert.deepEqual(roles(decided(settings(), null, fleet)), [["i-both", MONITOR]]);
});

test("an instance in no role group is no member and registers with nobody", () => {
  const fleet = [...seedFleet(), instance("i-web", "running", ["default", "web"], "10.0.0.9")];
  const decision = decided(settings(), "i-web", fleet);
  assert.equal(decision.members.length, 2);
  assert.deepEqual(decision.registerWith, []);
});

test("only running instances are members, but self counts whatever its state", () => {
  const fleet = [
    ...seedFleet(),
    instance("i-stopped", "stopped", ["eg-monitor"], "10.0.0.4"),
    instance("i-dead", "terminated", ["eg-monitor"], null),
    instance("i-booting", "pending", ["eg-cybernode"], "10.0.0.5"),
  ];
  const decision = decided(settings(), "i-booting", fleet);
  assert.deepEqual(roles(decision), [
    ["i-2271a74b", MONITOR],
    ["i-df71a7b6", AGENT],
    ["i-booting", AGENT],
  ]);
  assert.deepEqual(decision.registerWith, ["i-2271a74b"]);
});

test("groups match by id as well as by name", () => {
  const byId = settings({ monitor_group: "sg-eg-monitor", agent_group: "sg-eg-cybernode" });
  const decision = decided(byId, "i-df71a7b6", seedFleet());
  assert.deepEqual(roles(decision), [
    ["i-2271a74b", MONITOR],
    ["i-df71a7b6", AGENT],
  ]);
  assert.deepEqual(decision.registerWith, ["i-2271a74b"]);
});

test("clusters scope registration", () => {
  const fleet = clusterFleet();
  const agent = decided(clustered(), "i-ab", fleet);
  assert.deepEqual(agent.registerWith, ["i-mb", "i-mbg"]);
  const both = agent.members.find((member) => member.id === "i-mbg");
  assert.deepEqual(both.clusters, ["blue", "green"], "sorted by name");
  assert.deepEqual(decided(clustered(), "i-mg", fleet).registerWith, ["i-mbg"]);
  assert.deepEqual(decided(clustered(), "i-a0", fleet).registerWith, ["i-m0"], "no cluster shares with no cluster");
});

test("clusters sort by name as Rust sorts them, whatever the groups' order", () => {
  const fleet = [
    instance("i-m", "running", ["eg-monitor", "cluster-🦀", "cluster-zeta", "cluster-\uffee", "cluster-Zürich"], "10.0.0.1"),
  ];
  assert.deepEqual(decided(clustered(), null, fleet).members[0].clusters, ["Zürich", "zeta", "\uffee", "🦀"]);
});

test("without a prefix nobody has clusters and groups do not scope", () => {
  const decision = decided(settings(), "i-a0", clusterFleet());
  assert.ok(decision.members.every((member) => member.clusters.length === 0));
  assert.deepEqual(decision.registerWith, ["i-mb", "i-mg", "i-mbg", "i-m0"]);
});

test("a group named just the prefix is no cluster", () => {
  const fleet = [instance("i-m", "running", ["eg-monitor", "cluster-"], "10.0.0.1")];
  assert.deepEqual(decided(clustered(), null, fleet).members[0].clusters, []);
});

test("monitors without an address are members but not targets", () => {
  const fleet = [...seedFleet(), instance("i-noip", "running", ["eg-monitor"], null)];
  const decision = decided(settings(), "i-df71a7b6", fleet);
  assert.equal(decision.members.find((member) => member.id === "i-noip").address, null);
  assert.deepEqual(decision.registerWith, ["i-2271a74b"]);
});

test("the address kind and the ports are applied", () => {
  const decision = decided(
    settings({ address: "private-dns", monitor_port: 7070, agent_port: 7071 }),
    null,
    seedFleet(),
  );
  assert.equal(decision.members[0].address, "ip-10-251-199-99.ec2.internal");
  assert.equal(decision.members[0].port, 7070);
  assert.equal(decision.members[1].port, 7071);
  for (const [kind, expected] of [
    ["public-ip", "54.10.251.199.99"],
    ["ipv6", "2600:1f18::10:251:199:99"],
  ]) {
    assert.equal(decided(settings({ address: kind }), null, seedFleet()).members[0].address, expected, kind);
  }
});

test("without self nobody is a target", () => {
  const decision = decided(settings(), null, seedFleet());
  assert.equal(decision.members.length, 2);
  assert.deepEqual(decision.registerWith, []);
});

test("require_tags keeps out whoever lacks a tag or its value", () => {
  const fleet = [
    tagged(instance("i-blue-m", "running", ["eg-monitor"], "10.0.0.1"), [["fleet", "blue"], ["owner", "ops"]]),
    tagged(instance("i-green-m", "running", ["eg-monitor"], "10.0.0.2"), [["fleet", "green"], ["owner", "ops"]]),
    tagged(instance("i-blue-nobody", "running", ["eg-monitor"], "10.0.0.3"), [["fleet", "blue"]]),
    tagged(instance("i-blue-a", "running", ["eg-cybernode"], "10.0.1.1"), [["fleet", "blue"], ["owner", ""]]),
  ];
  const blue = requiring({ fleet: "blue", owner: "*" });
  const decision = decided(blue, "i-blue-a", fleet);
  assert.deepEqual(roles(decision), [
    ["i-blue-m", MONITOR],
    ["i-blue-a", AGENT],
  ]);
  assert.deepEqual(decision.registerWith, ["i-blue-m"]);
  assert.deepEqual(decided(blue, "i-green-m", fleet).registerWith, [], "self outside the fleet registers with nobody");
});

test("an explained member gets its role, clusters and address in words", () => {
  const decision = explained(clustered(), "i-ab", "i-mbg", clusterFleet());
  assert.deepEqual(notesAbout(decision, "i-mbg", "decision"), [
    "role monitor: in the monitor group eg-monitor (sg-eg-monitor)",
    "clusters blue, green: from its groups cluster-green (sg-cluster-green), cluster-blue (sg-cluster-blue)",
    "address 10.0.0.3: its private-ip address",
  ]);
  assert.deepEqual(notesAbout(decision, "i-mb", "decision"), []);
  assert.ok(decision.notes.every(([, topic]) => topic === "decision"), "targets are explained only for self");
});

test("an explained member says why it is one, and which group won", () => {
  const fleet = [
    tagged(instance("i-both", "running", ["eg-cybernode", "eg-monitor"], "10.0.0.1"), [["fleet", "blue"], ["owner", "ops"]]),
    tagged(instance("i-a", "running", ["eg-cybernode"], null), [["fleet", "blue"], ["owner", "x"]]),
  ];
  const blue = requiring({ owner: "*", fleet: "blue" });
  assert.deepEqual(notesAbout(explained(blue, null, "i-both", fleet), "i-both", "decision"), [
    "a member: it carries every tag require_tags requires (fleet=blue, owner)",
    "role monitor: in the monitor group eg-monitor (sg-eg-monitor), which wins over the agent group eg-cybernode (sg-eg-cybernode) it is also in",
    "no clusters: clustering is off (no cluster_group_prefix)",
    "address 10.0.0.1: its private-ip address",
  ]);
  const clusteredBlue = settings({ cluster_group_prefix: "cluster-", require_tags: { fleet: "blue" } });
  assert.deepEqual(notesAbout(explained(clusteredBlue, null, "i-a", fleet), "i-a", "decision"), [
    "a member: it carries every tag require_tags requires (fleet=blue)",
    "role agent: in the agent group eg-cybernode (sg-eg-cybernode)",
    "no clusters: none of its groups' names starts with cluster-",
    "no address: it has no private-ip address, so no one registers with it",
  ]);
});

test("instances that are no members say why", () => {
  const fleet = [
    ...seedFleet(),
    instance("i-stopped", "stopped", ["eg-monitor"], "10.0.0.4"),
    instance("i-web", "running", ["web"], "10.0.0.9"),
    tagged(instance("i-untagged", "running", ["eg-monitor"], "10.0.0.5"), [["fleet", "green"]]),
    tagged(instance("i-quoted", "running", ["eg-monitor"], "10.0.0.6"), [["fleet", 'Zürich "blue"\n']]),
    { id: "i-odd", state: "other" },
  ];
  const blue = requiring({ fleet: "blue" });
  const why = (id, chosen = blue) => notesAbout(explained(chosen, null, id, fleet), id, "decision").join(" | ");
  assert.equal(why("i-stopped"), "not a member: it is stopped (only running instances, and self, are members)");
  assert.equal(why("i-web"), "not a member: it lacks the tag fleet, which require_tags requires");
  assert.equal(why("i-untagged"), 'not a member: its tag fleet is "green", and require_tags requires "blue"');
  assert.equal(why("i-quoted"), 'not a member: its tag fleet is "Zürich \\"blue\\"\\n", and require_tags requires "blue"');
  assert.equal(
    why("i-odd"),
    "not a member: it is in a state this interface does not name (only running instances, and self, are members)",
  );
  assert.equal(
    why("i-web", settings()),
    "no role: in neither the monitor group eg-monitor nor the agent group eg-cybernode",
  );
});

test("explaining self says why each monitor is a target or not", () => {
  const fleet = [
    ...clusterFleet(),
    instance("i-mstop", "stopped", ["eg-monitor", "cluster-blue"], "10.0.0.8"),
    instance("i-mnoip", "running", ["eg-monitor", "cluster-blue"], null),
  ];
  const decision = explained(clustered(), "i-mb", "i-mb", fleet);
  const targets = decision.notes.filter(([, topic]) => topic === "target").map(([id, , text]) => [id, text]);
  assert.deepEqual(targets, [
    ["i-mb", "not a target: it is self"],
    ["i-mg", "not a target: its clusters (green) share none with self's (blue)"],
    ["i-mbg", "a target: a monitor in cluster blue, as self is"],
    ["i-m0", "not a target: its clusters (none) share none with self's (blue)"],
    ["i-mstop", "not a target: it is stopped"],
    ["i-mnoip", "not a target: it has no private-ip address"],
  ]);
  assert.deepEqual(decision.registerWith, ["i-mbg"]);
});

test("explaining self names the shared clusters, tags and unclustered targets", () => {
  const fleet = [
    tagged(instance("i-self", "running", ["eg-cybernode", "cluster-blue", "cluster-green"], "10.0.1.1"), [["fleet", "blue"]]),
    tagged(instance("i-both", "running", ["eg-monitor", "cluster-green", "cluster-blue"], "10.0.0.1"), [["fleet", "blue"]]),
    tagged(instance("i-other", "running", ["eg-monitor", "cluster-blue"], "10.0.0.2"), [["fleet", "green"]]),
  ];
  const clusteredBlue = settings({ cluster_group_prefix: "cluster-", require_tags: { fleet: "blue" } });
  const targets = (chosen) =>
    explained(chosen, "i-self", "i-self", fleet)
      .notes.filter(([, topic]) => topic === "target")
      .map(([id, , text]) => [id, text]);
  assert.deepEqual(targets(clusteredBlue), [
    ["i-both", "a target: a monitor in clusters blue, green, as self is"],
    ["i-other", 'not a target: its tag fleet is "green", and require_tags requires "blue"'],
  ]);
  assert.deepEqual(targets(settings()), [
    ["i-both", "a target: a monitor"],
    ["i-other", "a target: a monitor"],
  ]);
});

test("a self without a role says so", () => {
  const fleet = [...seedFleet(), instance("i-web", "running", ["web"], "10.0.0.9")];
  const decision = explained(settings(), "i-web", "i-web", fleet);
  assert.deepEqual(notesAbout(decision, "i-web", "decision"), [
    "no role: in neither the monitor group eg-monitor nor the agent group eg-cybernode",
    "self has no role, so it registers with nobody",
  ]);
});

test("monitors that do not serve stay members but are no targets", () => {
  const monitor = (id, ip, living = {}) => ({
    ...instance(id, "running", ["eg-monitor"], ip),
    ...living,
  });
  const fleet = [
    monitor("i-serving", "10.0.0.1"),
    monitor("i-standby", "10.0.0.2", { lifecycle: "standby" }),
    monitor("i-draining", "10.0.0.3", { lifecycle: "terminating-wait" }),
    monitor("i-spot", "10.0.0.4", {
      leavingReason: "spot-interruption",
      leavingDeadline: "2026-12-07T10:00:00Z",
    }),
    instance("i-agent", "running", ["eg-cybernode"], "10.0.0.9"),
  ];
  const decision = explained(settings(), "i-agent", "i-agent", fleet);
  assert.deepEqual(roles(decision), [
    ["i-serving", MONITOR],
    ["i-standby", MONITOR],
    ["i-draining", MONITOR],
    ["i-spot", MONITOR],
    ["i-agent", AGENT],
  ]);
  assert.deepEqual(decision.registerWith, ["i-serving"]);
  assert.deepEqual(
    decision.notes.filter(([, topic]) => topic === "target").map(([, , text]) => text),
    [
      "a target: a monitor",
      "not a target: in Auto Scaling standby",
      "not a target: in Auto Scaling terminating-wait",
      "not a target: leaving (spot-interruption by 2026-12-07T10:00:00Z)",
    ],
  );
});

const A = "111111111111";
const B = "222222222222";
const onlyA = () => settings({ cluster_group_prefix: "cluster-", accounts: [A] });

/** `record` in `account`, each of its groups owned by `owner` (`null`: unknown), its group ids telling the owners' groups apart. */
function owned(record, account, owner) {
  return {
    ...record,
    account,
    securityGroups: record.securityGroups.map(([id, name]) => [`${id}-${owner ?? "unknown"}`, name, owner]),
  };
}

/**
 * Instances of accounts A and B, all in groups named `eg-monitor`,
 * `eg-cybernode` and `cluster-blue`, owned by their own account, by the
 * other or by nobody known.
 */
function twoAccountFleet() {
  const monitor = (id, ip) => instance(id, "running", ["eg-monitor", "cluster-blue"], ip);
  const mixed = owned(instance("i-b-mixed", "running", ["eg-monitor", "eg-cybernode"], "10.2.0.9"), B, B);
  // A's agent group, shared with B's instance (a shared VPC).
  mixed.securityGroups[1] = ["sg-eg-cybernode-a", "eg-cybernode", A];
  return [
    owned(monitor("i-a-monitor", "10.1.0.1"), A, A),
    owned(monitor("i-b-monitor", "10.2.0.1"), B, B),
    owned(monitor("i-a-unknown", "10.1.0.2"), A, null),
    owned(monitor("i-b-unknown", "10.2.0.2"), B, null),
    owned(monitor("i-nobody", "10.3.0.1"), null, null),
    owned(instance("i-a-agent", "running", ["eg-cybernode", "cluster-blue"], "10.1.1.1"), A, A),
    mixed,
  ];
}

test("with accounts only their groups are role and cluster groups", () => {
  const fleet = twoAccountFleet();
  const decision = decided(onlyA(), "i-a-agent", fleet);
  assert.deepEqual(roles(decision), [
    ["i-a-monitor", MONITOR],
    ["i-a-unknown", MONITOR],
    ["i-a-agent", AGENT],
    ["i-b-mixed", AGENT],
  ]);
  assert.deepEqual(
    decision.members.map((member) => [member.id, member.clusters]),
    [
      ["i-a-monitor", ["blue"]],
      ["i-a-unknown", ["blue"]],
      ["i-a-agent", ["blue"]],
      ["i-b-mixed", []],
    ],
  );
  assert.deepEqual(decision.registerWith, ["i-a-monitor", "i-a-unknown"]);
  const members = (settings) => decided(settings, "i-a-agent", fleet).members.map((member) => member.id);
  const every = fleet.map((record) => record.id);
  assert.deepEqual(members(clustered()), every, "without accounts, every account counts");
  const both = settings({ cluster_group_prefix: "cluster-", accounts: [B, A] });
  assert.deepEqual(
    members(both),
    every.filter((id) => id !== "i-nobody"),
    "a group of unknown owner on an instance of unknown account is no listed account's",
  );
});

test("an unlisted account's groups are said to count for nothing", () => {
  const fleet = twoAccountFleet();
  const why = (id) => notesAbout(explained(onlyA(), "i-a-agent", id, fleet), id, "decision").join(" | ");
  assert.equal(
    why("i-b-monitor"),
    "no role: its groups eg-monitor (sg-eg-monitor-222222222222) of account 222222222222, " +
      "cluster-blue (sg-cluster-blue-222222222222) of account 222222222222 are of no account accounts lists",
  );
  assert.equal(
    why("i-nobody"),
    "no role: its groups eg-monitor (sg-eg-monitor-unknown) of an unknown account, " +
      "cluster-blue (sg-cluster-blue-unknown) of an unknown account are of no account accounts lists",
  );
  assert.equal(
    why("i-b-mixed"),
    "role agent: in the agent group eg-cybernode (sg-eg-cybernode-a) | " +
      "no clusters: none of its groups' names starts with cluster- | " +
      "not counted: its groups eg-monitor (sg-eg-monitor-222222222222) of account 222222222222 " +
      "are of no account accounts lists | " +
      "address 10.2.0.9: its private-ip address",
  );
  const targets = explained(onlyA(), "i-a-agent", "i-a-agent", fleet);
  assert.deepEqual(notesAbout(targets, "i-b-unknown", "target"), [
    "not a target: its groups eg-monitor (sg-eg-monitor-unknown) of account 222222222222, " +
      "cluster-blue (sg-cluster-blue-unknown) of account 222222222222 are of no account accounts lists",
  ]);
  assert.deepEqual(notesAbout(targets, "i-a-unknown", "target"), [
    "a target: a monitor in cluster blue, as self is",
  ]);
});

test("members are labelled with their zone, type and the tags asked for", () => {
  const bare = instance("i-3", "running", ["eg-cybernode"], "10.0.0.3");
  delete bare.availabilityZone;
  delete bare.instanceType;
  const fleet = [
    tagged(instance("i-1", "running", ["eg-monitor"], "10.0.0.1"), [
      ["team", "payments"],
      ["Name", "node-1"],
      ["other", "x"],
    ]),
    tagged(instance("i-2", "running", ["eg-cybernode"], "10.0.0.2"), [["team", ""]]),
    bare,
  ];
  const labels = (chosen) => decided(chosen, null, fleet).members.map((member) => member.labels);
  assert.deepEqual(labels(settings({ labels_from_tags: ["team", "Name", "absent"] })), [
    { team: "payments", Name: "node-1", zone: "us-east-1a", instance_type: "m1.small" },
    { team: "", zone: "us-east-1a", instance_type: "m1.small" },
    {},
  ]);
  assert.deepEqual(labels(settings({}))[0], { zone: "us-east-1a", instance_type: "m1.small" });
});
