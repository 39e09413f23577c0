/**
 * Everything of the SDK that runs without the host: what a policy's logic
 * and its native tests import (`index.js` adds `log` and `exportPolicy`).
 */

export { AddressKind, otherAddress } from "./address.js";
export { Answer, quote, shareACluster, sharedClusters } from "./answer.js";
export { Fleet, Instance, LEAVE_REASONS, LIFECYCLE_STATES } from "./fleet.js";
export { compareText } from "./order.js";
export { resolveRecords, columnsOf } from "./records.js";
export { describeJson, parseSettings, readSettings, Setting } from "./settings.js";
