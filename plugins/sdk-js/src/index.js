/**
 * rollcall-policy: what every JavaScript rollcall policy plugin needs, the
 * `rollcall:policy@0.3.0` world behind a typed view of the fleet, an answer
 * builder and the few rules policies share (the Rust SDK,
 * `plugins/policy-sdk`, in JS idiom).
 *
 * ```js
 * import { exportPolicy, AddressKind } from "../../sdk-js/src/index.js";
 *
 * class EveryoneAnAgent {
 *   static configure(settings) { return new EveryoneAnAgent(); }
 *   decide(fleet, answer) {
 *     const agent = answer.role("agent");
 *     for (const instance of fleet.candidates()) {
 *       answer.note(instance, () => "every candidate is an agent");
 *       answer.addMember({ instance, role: agent, address: AddressKind.PRIVATE_IP.of(instance) });
 *     }
 *   }
 * }
 *
 * export const { configure, decide } = exportPolicy(EveryoneAnAgent);
 * ```
 *
 * Layout: `text` reads the fleet's strings (UTF-8 byte offsets into a JS
 * string), `fleet` reads the columns as typed instances, `records` builds a
 * fleet from plain records for native tests, `answer` builds the decision
 * and the notes `rollcall explain` shows (`quote` quotes values in them as
 * JSON, as every SDK does), `address` picks the address peers use, `order`
 * sorts names as Rust does, `settings` reads a policy's settings, `host` is
 * the host's `log`, `policy` runs a policy for the host.
 * `componentize.js` (not exported here) builds a plugin into a component.
 *
 * This module imports the host (`rollcall:policy/host@0.3.0`); a policy's
 * pure logic and its native tests import `./native.js`, which does not.
 */

export * from "./native.js";
export { log } from "./host.js";
export { exportPolicy } from "./policy.js";
