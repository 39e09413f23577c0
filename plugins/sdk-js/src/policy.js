/**
 * The contract between a policy and the SDK: `exportPolicy(P)` makes the
 * world's two exports, `configure` and `decide`, out of a policy class with
 * `static configure(settings)` and `decide(fleet, answer)`.
 */

import { Answer } from "./answer.js";
import { Fleet } from "./fleet.js";
import { log } from "./host.js";
import { parseSettings } from "./settings.js";

/**
 * The exports of the `rollcall:policy` world for `Policy`:
 * `export const { configure, decide } = exportPolicy(MyPolicy);`.
 *
 * - `configure(json)` parses the settings (an object, `{}` when none) and
 *   keeps `Policy.configure(settings)`. Every evaluation runs in a fresh
 *   instance of the plugin, so the policy lives for one fleet only.
 * - `decide(question)` reads the fleet, runs `policy.decide(fleet, answer)`
 *   and returns the decision, logging one debug line.
 *
 * Anything either throws becomes the WIT `err` with the error's message,
 * never a trap.
 */
export function exportPolicy(Policy) {
  let policy = null;
  return {
    configure(json) {
      return outcome(() => {
        policy = null;
        policy = Policy.configure(parseSettings(json));
      });
    },
    decide(question) {
      return outcome(() => {
        if (policy === null) {
          throw new Error("decide was called before configure");
        }
        const fleet = new Fleet(question);
        const answer = new Answer(fleet);
        policy.decide(fleet, answer);
        log(
          "debug",
          `${answer.memberCount} members of ${fleet.length} instances, ` +
            `self registers with ${answer.targets.length}`,
        );
        return answer.toDecision();
      });
    },
  };
}

/**
 * The WIT `result` of `run`: `ok` with what it returns, `err` with the
 * message of what it throws. componentize-js traps on a thrown `Error`, so
 * the result is returned, not thrown.
 */
function outcome(run) {
  try {
    return { tag: "ok", val: run() };
  } catch (err) {
    return { tag: "err", val: messageOf(err) };
  }
}

/** An error's message, whatever was thrown. */
function messageOf(err) {
  if (err instanceof Error) {
    return err.message || String(err);
  }
  try {
    return typeof err === "string" ? err : `${JSON.stringify(err) ?? String(err)}`;
  } catch {
    return String(err);
  }
}
