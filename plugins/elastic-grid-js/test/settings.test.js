/** The Elastic Grid settings: defaults, every key, and the Rust policy's errors. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { AddressKind } from "../../sdk-js/src/native.js";
import { Settings } from "../src/settings.js";

test("an empty document gives the defaults", () => {
  const settings = Settings.fromObject({});
  assert.equal(settings.monitorGroup, "eg-monitor");
  assert.equal(settings.agentGroup, "eg-cybernode");
  assert.equal(settings.clusterGroupPrefix, null);
  assert.equal(settings.address, AddressKind.PRIVATE_IP);
  assert.equal(settings.monitorPort, null);
  assert.equal(settings.agentPort, null);
  assert.deepEqual(settings.requireTags, new Map());
  assert.equal(settings.accounts, null);
  assert.deepEqual(settings.labelsFromTags, []);
  assert.ok(settings.countsAccount("222222222222"), "without accounts, every account counts");
});

test("every setting is read", () => {
  const settings = Settings.fromObject({
    monitor_group: "sg-1",
    agent_group: "workers",
    cluster_group_prefix: "cluster-",
    address: "public-dns",
    monitor_port: 7070,
    agent_port: 7071,
    require_tags: { owner: "*", fleet: "blue" },
    accounts: ["111111111111", "222222222222"],
    labels_from_tags: ["team", "Name"],
  });
  assert.equal(settings.monitorGroup, "sg-1");
  assert.equal(settings.agentGroup, "workers");
  assert.equal(settings.clusterGroupPrefix, "cluster-");
  assert.equal(settings.address, AddressKind.PUBLIC_DNS);
  assert.equal(settings.monitorPort, 7070);
  assert.equal(settings.agentPort, 7071);
  assert.deepEqual([...settings.requireTags], [["fleet", "blue"], ["owner", "*"]], "sorted by key");
  assert.deepEqual(settings.accounts, ["111111111111", "222222222222"]);
  assert.deepEqual(settings.labelsFromTags, ["team", "Name"]);
});

test("labels_from_tags must name tags whose keys are label names, once", () => {
  const err = (tags) => {
    try {
      Settings.fromObject({ labels_from_tags: tags });
    } catch (error) {
      return error.message;
    }
    return null;
  };
  const noLabelName = (shown) =>
    `invalid elastic-grid settings: \`labels_from_tags\` names the tag ${shown}, whose key is no label name ` +
    "(1 to 64 bytes of ASCII letters, digits and _, not starting with a digit or __)";
  for (const bad of ["cost-center", "aws:autoscaling:groupName", "9lives", "__meta", "", "team name", "équipe", "a".repeat(65)]) {
    assert.equal(err([bad]), noLabelName(JSON.stringify(bad)), bad);
  }
  assert.equal(err(["a".repeat(64), "_team", "Team_2"]), null);
  assert.equal(
    err(["team", "zone"]),
    'invalid elastic-grid settings: `labels_from_tags` names the tag "zone", a label elastic-grid sets itself',
  );
  assert.match(err(["instance_type"]), /a label elastic-grid sets itself/);
  assert.equal(err(["team", "team"]), 'invalid elastic-grid settings: `labels_from_tags` names the tag "team" twice');
  const fifteen = Array.from({ length: 15 }, (_, n) => `t${n}`);
  assert.equal(
    err(fifteen),
    "invalid elastic-grid settings: `labels_from_tags` names 15 tags, more than 14 " +
      "(a member carries at most 16 labels, zone and instance_type among them)",
  );
  assert.equal(err(fifteen.slice(0, 14)), null);
  assert.match(err("team"), /expected a sequence/);
});

test("accounts counts only the accounts it lists", () => {
  const one = Settings.fromObject({ accounts: ["111111111111"] });
  assert.ok(one.countsAccount("111111111111"));
  assert.ok(!one.countsAccount("222222222222"));
});

test("null leaves an optional setting out", () => {
  const settings = Settings.fromObject({ cluster_group_prefix: null, monitor_port: null });
  assert.equal(settings.clusterGroupPrefix, null);
  assert.equal(settings.monitorPort, null);
});

test("unknown settings are rejected by name", () => {
  assert.throws(() => Settings.fromObject({ monitor_grup: "x" }), {
    message:
      "invalid elastic-grid settings: unknown field `monitor_grup`, expected one of `monitor_group`, `agent_group`, `cluster_group_prefix`, `address`, `monitor_port`, `agent_port`, `require_tags`, `accounts`, `labels_from_tags`",
  });
});

test("bad values are rejected with the Rust policy's words", () => {
  for (const [settings, message] of [
    [{ address: "ipv9" }, "unknown variant `ipv9`, expected one of `private-ip`, `public-ip`, `private-dns`, `public-dns`, `ipv6`"],
    [{ monitor_port: 70000 }, "invalid value: integer `70000`, expected u16"],
    [{ agent_port: -1 }, "invalid value: integer `-1`, expected u16"],
    [{ agent_port: 1.5 }, "invalid type: floating point `1.5`, expected u16"],
    [{ monitor_port: "7" }, 'invalid type: string "7", expected u16'],
    [{ monitor_group: null }, "invalid type: null, expected a string"],
    [{ monitor_group: 1 }, "invalid type: integer `1`, expected a string"],
    [{ cluster_group_prefix: true }, "invalid type: boolean `true`, expected a string"],
    [{ monitor_group: "" }, "`monitor_group` is empty"],
    [{ agent_group: "" }, "`agent_group` is empty"],
    [{ cluster_group_prefix: "" }, "`cluster_group_prefix` is empty (leave it out to turn clustering off)"],
    [{ require_tags: { "": "x" } }, "`require_tags` names an empty tag key"],
    [{ require_tags: { fleet: 1 } }, "invalid type: integer `1`, expected a string"],
    [{ require_tags: null }, "invalid type: null, expected a map"],
    [{ require_tags: [] }, "invalid type: sequence, expected a map"],
    [{ accounts: [] }, "`accounts` is empty (leave it out to count every account's groups)"],
    [{ accounts: ["111111111111", "12345678901"] }, '`accounts` holds "12345678901", which is not an AWS account id (12 digits)'],
    [{ accounts: ["1234567890123"] }, '`accounts` holds "1234567890123", which is not an AWS account id (12 digits)'],
    [{ accounts: ["12345678901a"] }, '`accounts` holds "12345678901a", which is not an AWS account id (12 digits)'],
    [{ accounts: [""] }, '`accounts` holds "", which is not an AWS account id (12 digits)'],
    [{ accounts: "111111111111" }, 'invalid type: string "111111111111", expected a sequence'],
    [{ accounts: [111111111111] }, "invalid type: integer `111111111111`, expected a string"],
  ]) {
    assert.throws(
      () => Settings.fromObject(settings),
      { message: `invalid elastic-grid settings: ${message}` },
      JSON.stringify(settings),
    );
  }
});

test("ports take every integer from 0 to 65535", () => {
  assert.equal(Settings.fromObject({ monitor_port: 0 }).monitorPort, 0);
  assert.equal(Settings.fromObject({ agent_port: 65535 }).agentPort, 65535);
});
