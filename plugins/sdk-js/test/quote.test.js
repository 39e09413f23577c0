/** Quoting as Rust's `{:?}` does, and ordering as Rust's `str` does. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { compareText, quote } from "../src/native.js";

test("strings are quoted with Rust's escapes", () => {
  assert.equal(quote("green"), '"green"');
  assert.equal(quote(""), '""');
  assert.equal(quote('a "b" \\ c'), '"a \\"b\\" \\\\ c"');
  assert.equal(quote("tab\there\nnew\rret\0nul"), '"tab\\there\\nnew\\rret\\0nul"');
  assert.equal(quote("Zürich 東京 🦀 it's"), "\"Zürich 東京 🦀 it's\"");
  assert.equal(quote("\u001b[0m\u007f"), '"\\u{1b}[0m\\u{7f}"');
  assert.equal(quote("no\u00a0break\u200bzero"), '"no\\u{a0}break\\u{200b}zero"');
  assert.equal(quote("\u0301e\u0301"), '"\\u{301}e\u0301"', "a combining mark is escaped only first");
});

test("text orders by code points, as UTF-8 bytes do", () => {
  const sorted = ["🦀", "b", "\uffee", "a", "ab", "Zürich", ""].sort(compareText);
  assert.deepEqual(sorted, ["", "Zürich", "a", "ab", "b", "\uffee", "🦀"]);
});
