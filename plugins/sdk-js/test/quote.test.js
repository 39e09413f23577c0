/** Quoting as JSON does, as every SDK does, and ordering as Rust's `str` does. */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { compareText, quote } from "../src/native.js";

test("strings are quoted as the fixture shared with Rust and Python says", () => {
  const fixture = new URL("../../../tests/fixtures/quoted.json", import.meta.url);
  const cases = JSON.parse(readFileSync(fixture, "utf8"));
  assert.ok(cases.length > 0);
  for (const { why, text, quoted } of cases) {
    assert.equal(quote(text), quoted, why);
  }
});

test("text orders by code points, as UTF-8 bytes do", () => {
  const sorted = ["🦀", "b", "\uffee", "a", "ab", "Zürich", ""].sort(compareText);
  assert.deepEqual(sorted, ["", "Zürich", "a", "ab", "b", "\uffee", "🦀"]);
});
