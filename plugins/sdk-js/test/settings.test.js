/** Reading settings: the document, unknown keys, and serde's words for bad values. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { AddressKind, describeJson, parseSettings, readSettings, Setting } from "../src/native.js";

const FIELDS = {
  name: Setting.text("demo"),
  prefix: Setting.optionalText(),
  port: Setting.optionalPort(),
  tags: Setting.textMap(),
  address: Setting.addressKind(),
  names: Setting.optionalTextList(),
};

const read = (settings) => readSettings("demo", settings, FIELDS);

test("the document must be a JSON object", () => {
  assert.deepEqual(parseSettings(' {"port": 7070}'), { port: 7070 });
  for (const json of ["[]", '"port"', "42", "null"]) {
    assert.throws(() => parseSettings(json), {
      message: "invalid settings: settings must be a JSON object",
    });
  }
  for (const json of ["", "{", "nope"]) {
    assert.throws(() => parseSettings(json), /^Error: invalid settings: not JSON: /);
  }
});

test("missing settings take their defaults, maps fresh each time", () => {
  const first = read({});
  assert.deepEqual(first, {
    name: "demo",
    prefix: null,
    port: null,
    tags: new Map(),
    address: AddressKind.PRIVATE_IP,
    names: null,
  });
  assert.notEqual(first.tags, read({}).tags);
  assert.deepEqual(read({ prefix: null, port: null }).prefix, null);
});

test("every kind of setting is read", () => {
  const settings = read({
    name: "x",
    prefix: "cluster-",
    port: 65535,
    tags: { owner: "*", fleet: "blue", Zürich: "ja", "🦀": "1", "\uffee": "2" },
    address: "ipv6",
    names: ["b", "a"],
  });
  assert.deepEqual(settings.names, ["b", "a"]);
  assert.equal(settings.port, 65535);
  assert.equal(settings.address, AddressKind.IPV6);
  assert.deepEqual([...settings.tags.keys()], ["Zürich", "fleet", "owner", "\uffee", "🦀"], "Rust's key order");
});

test("unknown settings are rejected by name", () => {
  assert.throws(() => read({ nmae: "x" }), {
    message:
      "invalid demo settings: unknown field `nmae`, expected one of `name`, `prefix`, `port`, `tags`, `address`, `names`",
  });
});

test("bad values are rejected in serde's words", () => {
  for (const [settings, message] of [
    [{ port: 70000 }, "invalid value: integer `70000`, expected u16"],
    [{ port: -1 }, "invalid value: integer `-1`, expected u16"],
    [{ port: 1.5 }, "invalid type: floating point `1.5`, expected u16"],
    [{ port: "7" }, 'invalid type: string "7", expected u16'],
    [{ name: null }, "invalid type: null, expected a string"],
    [{ name: 1 }, "invalid type: integer `1`, expected a string"],
    [{ name: [] }, "invalid type: sequence, expected a string"],
    [{ prefix: true }, "invalid type: boolean `true`, expected a string"],
    [{ tags: { fleet: 1 } }, "invalid type: integer `1`, expected a string"],
    [{ tags: null }, "invalid type: null, expected a map"],
    [{ tags: [] }, "invalid type: sequence, expected a map"],
    [{ names: "a" }, 'invalid type: string "a", expected a sequence'],
    [{ names: [1] }, "invalid type: integer `1`, expected a string"],
    [{ address: "ipv9" }, "unknown variant `ipv9`, expected one of `private-ip`, `public-ip`, `private-dns`, `public-dns`, `ipv6`"],
  ]) {
    assert.throws(() => read(settings), { message: `invalid demo settings: ${message}` }, JSON.stringify(settings));
  }
  assert.throws(() => read({ address: null }), /^Error: invalid demo settings: invalid type: null/);
});

test("JSON values are described as serde describes them", () => {
  assert.equal(describeJson({}), "map");
  assert.equal(describeJson(false), "boolean `false`");
  assert.equal(describeJson("a\"b"), 'string "a\\"b"');
});
