/**
 * `exportPolicy`: the world's two exports as the component runs them, with
 * the host's `log` standing in (`testing/host-stub.js`).
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { AddressKind, exportPolicy } from "../src/index.js";
import { columnsOf } from "../src/native.js";
import { hostLog } from "../testing/host-stub.js";

class EveryoneAnAgent {
  static configure(settings) {
    if (settings.fail) {
      throw new Error("invalid demo settings: told to fail");
    }
    return new EveryoneAnAgent(settings);
  }

  constructor(settings) {
    this.settings = settings;
  }

  decide(fleet, answer) {
    if (this.settings.throwString) {
      throw "a string, not an Error";
    }
    const agent = answer.role("agent");
    for (const instance of fleet.candidates()) {
      answer.note(instance, () => "every candidate is an agent");
      answer.addMember({ instance, role: agent, address: AddressKind.PRIVATE_IP.of(instance) });
    }
    const [first] = fleet.candidates();
    if (first !== undefined && !first.isSelf) {
      answer.registerWith(first);
    }
  }
}

const QUESTION = {
  fleet: columnsOf([
    { id: "i-1", privateIpv4: "10.0.0.1" },
    { id: "i-2", privateIpv4: "10.0.0.2" },
    { id: "i-3", state: "stopped" },
  ]),
  selfInstance: 1,
  explain: 0,
};

test("configure then decide returns the decision and logs one debug line", () => {
  const { configure, decide } = exportPolicy(EveryoneAnAgent);
  assert.deepEqual(configure("{}"), { tag: "ok", val: undefined });
  hostLog.length = 0;
  const decision = decide(QUESTION);
  assert.deepEqual(decision, {
    tag: "ok",
    val: {
      roles: ["agent"],
      clusters: [],
      labelNames: [],
      labelValues: [],
      members: [0, 1].map((instance) => ({
        instance,
        role: 0,
        clusters: new Uint32Array(0),
        address: { tag: "own", val: "private-ipv4" },
        port: null,
        labels: [],
      })),
      registerWith: Uint32Array.of(0),
      notes: [{ instance: 0, topic: "decision", text: "every candidate is an agent" }],
    },
  });
  assert.deepEqual(hostLog, [["debug", "2 members of 3 instances, self registers with 1"]]);
});

test("errors become the WIT err with their message, never a throw", () => {
  const { configure, decide } = exportPolicy(EveryoneAnAgent);
  assert.deepEqual(decide(QUESTION), { tag: "err", val: "decide was called before configure" });
  assert.deepEqual(configure("[1]"), { tag: "err", val: "invalid settings: settings must be a JSON object" });
  assert.equal(configure("{").tag, "err");
  assert.match(configure("{").val, /^invalid settings: not JSON: /);
  assert.deepEqual(configure('{"fail": true}'), { tag: "err", val: "invalid demo settings: told to fail" });
  assert.deepEqual(decide(QUESTION), { tag: "err", val: "decide was called before configure" }, "a refused configure keeps no policy");
  configure('{"throwString": true}');
  assert.deepEqual(decide(QUESTION), { tag: "err", val: "a string, not an Error" });
  configure("{}");
  const broken = { ...QUESTION, fleet: { ...QUESTION.fleet, states: ["running"] } };
  assert.deepEqual(decide(broken), { tag: "err", val: "the fleet's states has 1 entries for 3 instances" });
});
