/**
 * The host's `log` for native tests: every line is kept in `hostLog` (as
 * `[level, message]`) for the tests to read.
 */

export const hostLog = [];

export function log(level, message) {
  hostLog.push([level, message]);
}
