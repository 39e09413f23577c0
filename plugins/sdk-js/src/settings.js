/**
 * Reading a policy's settings, the JSON document `configure` receives: the
 * document parsed into an object, and a reader for each kind of setting
 * that refuses what serde (the Rust SDK's reader) refuses, in the same
 * words, so that a policy says the same thing in every language.
 */

import { AddressKind } from "./address.js";
import { compareText } from "./order.js";

/**
 * The settings document parsed: an object (`{}` for none), or an error
 * `invalid settings: ...`.
 */
export function parseSettings(json) {
  let settings;
  try {
    settings = JSON.parse(json);
  } catch (err) {
    throw new Error(`invalid settings: not JSON: ${err.message}`);
  }
  if (settings === null || typeof settings !== "object" || Array.isArray(settings)) {
    throw new Error("invalid settings: settings must be a JSON object");
  }
  return settings;
}

/**
 * Reads `settings` (an object) with one reader per key, each `{read,
 * default}`: a missing key takes its default, a key no reader knows is
 * refused by name, and every error starts `invalid ${policy} settings: `.
 * A default that is a function is called for each read (fresh maps).
 * Returns an object with every key of `fields`.
 */
export function readSettings(policy, settings, fields) {
  const fail = (message) => new Error(`invalid ${policy} settings: ${message}`);
  const known = Object.keys(fields);
  for (const key of Object.keys(settings)) {
    if (!Object.hasOwn(fields, key)) {
      const expected = known.map((name) => `\`${name}\``).join(", ");
      throw fail(`unknown field \`${key}\`, expected one of ${expected}`);
    }
  }
  const read = {};
  for (const [key, field] of Object.entries(fields)) {
    if (!Object.hasOwn(settings, key)) {
      read[key] = typeof field.default === "function" ? field.default() : field.default;
      continue;
    }
    try {
      read[key] = field.read(settings[key]);
    } catch (err) {
      throw fail(err.message);
    }
  }
  return read;
}

/** A JSON value as serde names it in errors: "integer `1`", "sequence". */
export function describeJson(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "sequence";
  switch (typeof value) {
    case "boolean":
      return `boolean \`${value}\``;
    case "number":
      return Number.isInteger(value) && Math.abs(value) <= Number.MAX_SAFE_INTEGER
        ? `integer \`${value}\``
        : `floating point \`${value}\``;
    case "string":
      return `string ${JSON.stringify(value)}`;
    default:
      return "map";
  }
}

/** `null` and `undefined` read as none; anything else by `read`. */
function optional(read) {
  return (value) => (value === null || value === undefined ? null : read(value));
}

/** A string. */
function text(value) {
  if (typeof value !== "string") {
    throw new Error(`invalid type: ${describeJson(value)}, expected a string`);
  }
  return value;
}

/** A port, an integer from 0 to 65535. */
function port(value) {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new Error(`invalid type: ${describeJson(value)}, expected u16`);
  }
  if (value < 0 || value > 65535) {
    throw new Error(`invalid value: ${describeJson(value)}, expected u16`);
  }
  return value;
}

/** An array of strings (a Rust `Vec<String>`). */
function textList(value) {
  if (!Array.isArray(value)) {
    throw new Error(`invalid type: ${describeJson(value)}, expected a sequence`);
  }
  return Object.freeze(value.map(text));
}

/** An object of strings, as a `Map` sorted by key (a Rust `BTreeMap`). */
function textMap(value) {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new Error(`invalid type: ${describeJson(value)}, expected a map`);
  }
  const entries = Object.entries(value).map(([key, entry]) => [key, text(entry)]);
  entries.sort(([a], [b]) => compareText(a, b));
  return new Map(entries);
}

/** An address kind by its settings name. */
function addressKind(value) {
  if (typeof value !== "string") {
    throw new Error(`invalid type: ${describeJson(value)}, expected an address kind`);
  }
  return AddressKind.parse(value);
}

/**
 * Readers for `readSettings`: `Setting.text("eg-monitor")` is a string
 * defaulting to `eg-monitor`, and so on.
 */
export const Setting = Object.freeze({
  text: (fallback) => ({ read: text, default: fallback }),
  optionalText: () => ({ read: optional(text), default: null }),
  optionalPort: () => ({ read: optional(port), default: null }),
  optionalTextList: () => ({ read: optional(textList), default: null }),
  textList: () => ({ read: textList, default: () => Object.freeze([]) }),
  textMap: () => ({ read: textMap, default: () => new Map() }),
  addressKind: (fallback = AddressKind.PRIVATE_IP) => ({ read: addressKind, default: fallback }),
});
