/**
 * Ordering strings as Rust does (`str`'s `Ord`: by UTF-8 bytes, which is by
 * code points), not as JS's `<` does (by UTF-16 units, which differs once
 * characters outside the Basic Multilingual Plane meet ones above U+E000).
 * Policies that sort names must sort them the same way in every language.
 */

/** Negative, zero or positive as `a` sorts before, with or after `b`. */
export function compareText(a, b) {
  const shorter = Math.min(a.length, b.length);
  for (let at = 0; at < shorter; at++) {
    if (a.charCodeAt(at) !== b.charCodeAt(at)) {
      return a.codePointAt(at) - b.codePointAt(at);
    }
  }
  return a.length - b.length;
}
