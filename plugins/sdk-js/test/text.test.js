/** The fleet's strings: read, compared and told apart by their UTF-8 byte offsets. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { FleetText } from "../src/text.js";
import { Fleet } from "../src/native.js";

/** The strings' text and UTF-8 ends, as the host sends them (string 0 the empty one). */
function fleetText(strings) {
  const encoder = new TextEncoder();
  let bytes = 0;
  const ends = ["", ...strings].map((string) => (bytes += encoder.encode(string).length));
  return new FleetText(["", ...strings].join(""), Uint32Array.from(ends));
}

/** Strings of every width of UTF-8, meeting one another in every way. */
const WORDS = ["a", "Zürich", "東京", "🦀", "équipe", "plain", "x🦀y", "ü", "us-east-1a", "us-east-1b"];

function strings(count, seed) {
  let state = seed;
  const next = (below) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state >>> 8) % below;
  };
  return Array.from({ length: count }, () => WORDS[next(WORDS.length)] + (next(2) ? WORDS[next(WORDS.length)] : ""));
}

test("every string reads back, compares equal and keys as its content, ASCII or not", () => {
  for (const seed of [1, 2, 3, 4]) {
    const written = strings(300, seed);
    const text = fleetText(written);
    assert.equal(text.ascii, false);
    // In fleet order, then backwards: offsets are found either way.
    const order = [...written.keys(), ...[...written.keys()].reverse()];
    const keys = new Map();
    for (const at of order) {
      const index = at + 1;
      assert.equal(text.get(index), written[at]);
      assert.equal(text.equals(index, written[at]), true);
      assert.equal(text.equals(index, `${written[at]}!`), false);
      const key = text.key(index);
      assert.equal(text.keyText(key), written[at]);
      assert.equal(keys.get(written[at]) ?? key, key, `one key for ${written[at]}`);
      keys.set(written[at], key);
    }
    assert.equal(new Set(keys.values()).size, keys.size, "different strings, different keys");
  }
});

test("an ASCII text is read in place", () => {
  const text = fleetText(["us-east-1a", "us-east-1b", "us-east-1a", ""]);
  assert.equal(text.ascii, true);
  assert.deepEqual([1, 2, 3, 4].map((index) => text.get(index)), ["us-east-1a", "us-east-1b", "us-east-1a", ""]);
  assert.equal(text.key(1), text.key(3));
  assert.notEqual(text.key(1), text.key(2));
  assert.equal(text.key(4), text.key(0), "the empty string is one");
  assert.equal(text.optional(0), null);
});

test("many strings of one length are still told apart", () => {
  const written = Array.from({ length: 40 }, (_, n) => `zone-${String(n % 20).padStart(2, "0")}`);
  const text = fleetText(written);
  const keys = text.keysOf(Uint32Array.from(written.keys(), (at) => at + 1));
  for (const [at, key] of keys.entries()) {
    assert.equal(text.keyText(key), written[at]);
    assert.equal(key, keys[at % 20]);
  }
});

test("a column's keys are -1 where it names none", () => {
  const fleet = Fleet.fromRecords([
    { id: "i-1", availabilityZone: "us-east-1a" },
    { id: "i-2" },
    { id: "i-3", availabilityZone: "us-east-1a" },
    { id: "i-4", availabilityZone: "eu-west-1a" },
  ]);
  const keys = fleet.strings.keysOf(fleet.columns.availabilityZones);
  assert.equal(keys[1], -1);
  assert.equal(keys[0], keys[2]);
  assert.notEqual(keys[0], keys[3]);
  assert.deepEqual(Array.from([0, 2, 3], (at) => fleet.strings.keyText(keys[at])), ["us-east-1a", "us-east-1a", "eu-west-1a"]);
});

test("a string the fleet does not have is an error", () => {
  const text = fleetText(["a"]);
  for (const read of [(index) => text.get(index), (index) => text.key(index), (index) => text.equals(index, "a")]) {
    assert.throws(() => read(2), { name: "RangeError", message: "the fleet names string 2, but its text has 2" });
    assert.throws(() => read(-1), RangeError);
  }
  assert.throws(() => text.keysOf([1, 5]), RangeError);
  assert.throws(() => text.keyText(9), RangeError);
});
