/**
 * A string quoted as Rust's `{:?}` quotes it (`"green"`, `"a \"b\""`), so
 * that a policy's reasons read the same in every language: Rust policies
 * write tag values that way.
 *
 * The component's engine has no Unicode property tables (no `\p{...}` in
 * regular expressions), so the characters Rust writes as `\u{...}` are
 * listed here: control and format characters, separators other than the
 * space, private use, and combining marks at the start. Rarer unassigned or
 * combining characters may be written as they are where Rust escapes them.
 */

/** `[first, last]` code point ranges Rust's `{:?}` escapes anywhere. */
const UNPRINTABLE = [
  [0x00, 0x1f], [0x7f, 0xa0], [0xad, 0xad], [0x600, 0x605], [0x61c, 0x61c],
  [0x6dd, 0x6dd], [0x70f, 0x70f], [0x890, 0x891], [0x8e2, 0x8e2],
  [0x1680, 0x1680], [0x180e, 0x180e], [0x2000, 0x200f], [0x2028, 0x202f],
  [0x205f, 0x2064], [0x2066, 0x206f], [0x3000, 0x3000], [0xd800, 0xf8ff],
  [0xfeff, 0xfeff], [0xfff0, 0xfffb], [0x110bd, 0x110bd], [0x110cd, 0x110cd],
  [0x13430, 0x1343f], [0x1bca0, 0x1bca3], [0x1d173, 0x1d17a],
  [0xe0000, 0xe0fff], [0xf0000, 0x10ffff],
];

/** Combining marks, escaped when they start the string (they would join the quote). */
const COMBINING = [
  [0x300, 0x36f], [0x483, 0x489], [0x591, 0x5bd], [0x1ab0, 0x1aff],
  [0x1dc0, 0x1dff], [0x200c, 0x200c], [0x20d0, 0x20ff], [0xfe00, 0xfe0f],
  [0xfe20, 0xfe2f],
];

const ESCAPES = {
  "\0": "\\0",
  "\t": "\\t",
  "\r": "\\r",
  "\n": "\\n",
  '"': '\\"',
  "\\": "\\\\",
};

/** Whether `code` falls in one of `ranges`. */
function within(ranges, code) {
  return ranges.some(([first, last]) => code >= first && code <= last);
}

/** `text` in double quotes with Rust's escapes. */
export function quote(text) {
  let quoted = '"';
  let first = true;
  for (const char of text) {
    const code = char.codePointAt(0);
    const escape = ESCAPES[char];
    if (code >= 0x20 && code < 0x7f && escape === undefined) {
      quoted += char;
    } else if (escape !== undefined) {
      quoted += escape;
    } else if (within(UNPRINTABLE, code) || (first && within(COMBINING, code))) {
      quoted += `\\u{${code.toString(16)}}`;
    } else {
      quoted += char;
    }
    first = false;
  }
  return quoted + '"';
}
