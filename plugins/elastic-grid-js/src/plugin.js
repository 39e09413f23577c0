/**
 * The Elastic Grid policy as a rollcall plugin, in JavaScript: the entry
 * module componentize-js builds into a component (`../build`).
 *
 * Roles come from security groups: instances in the monitor group are
 * monitors, instances in the agent group are agents. A monitor registers
 * with every other monitor, an agent with every monitor; an optional
 * cluster prefix scopes both to monitors that share a cluster with self,
 * and optional required tags keep other fleets on the same groups out.
 *
 * Layout: `settings.js` reads and checks the operator's settings,
 * `policy.js` is the pure decision logic with its reasons (native tests run
 * it under node), and this file binds both to the `rollcall:policy` world
 * through the SDK (`plugins/sdk-js`).
 */

import { exportPolicy } from "../../sdk-js/src/index.js";
import * as elasticGrid from "./policy.js";
import { Settings } from "./settings.js";

class ElasticGrid {
  static configure(settings) {
    return new ElasticGrid(Settings.fromObject(settings));
  }

  constructor(settings) {
    this.settings = settings;
  }

  decide(fleet, answer) {
    elasticGrid.decide(this.settings, fleet, answer);
  }
}

export const { configure, decide } = exportPolicy(ElasticGrid);
