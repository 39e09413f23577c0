/**
 * What the host offers a policy: `log`, the `rollcall:policy/host` import.
 * Inside the component, componentize-js provides the module; native tests
 * map it to a stand-in (`testing/host-loader.js`).
 */

import { log as hostLog } from "rollcall:policy/host@0.3.0";

/**
 * Writes one line to the host's log, tagged with the plugin's name:
 * `level` is `trace`, `debug`, `info`, `warn` or `error`. The host may drop
 * lines past a per-call budget.
 */
export function log(level, message) {
  hostLog(level, String(message));
}
