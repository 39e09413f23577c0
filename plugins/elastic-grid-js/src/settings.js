/**
 * The Elastic Grid policy's settings: the JSON object the operator passes to
 * `configure`, read and checked as the Rust policy does
 * (`plugins/elastic-grid/src/settings.rs`): the same keys, defaults and
 * errors.
 */

import { readSettings, Setting } from "../../sdk-js/src/native.js";

/** Every setting, its JSON key, reader and default. */
const FIELDS = {
  /** Security group (name or id) whose instances are monitors. */
  monitor_group: Setting.text("eg-monitor"),
  /** Security group (name or id) whose instances are agents. */
  agent_group: Setting.text("eg-cybernode"),
  /** Groups whose name starts with this prefix name clusters; `null` turns clustering off. */
  cluster_group_prefix: Setting.optionalText(),
  /** Which address goes into each member's `address`. */
  address: Setting.addressKind(),
  /** Port put on every monitor member. */
  monitor_port: Setting.optionalPort(),
  /** Port put on every agent member. */
  agent_port: Setting.optionalPort(),
  /** Tags every member must carry, key to value; `"*"` takes any value. */
  require_tags: Setting.textMap(),
};

/** Every setting is optional; the defaults reproduce the original Elastic Grid. */
export class Settings {
  constructor(read) {
    this.monitorGroup = read.monitor_group;
    this.agentGroup = read.agent_group;
    this.clusterGroupPrefix = read.cluster_group_prefix;
    this.address = read.address;
    this.monitorPort = read.monitor_port;
    this.agentPort = read.agent_port;
    /** A `Map` from tag key to value, sorted by key. */
    this.requireTags = read.require_tags;
    Object.freeze(this);
  }

  /** Reads and checks the settings object; the error is meant for the operator. */
  static fromObject(settings) {
    const read = new Settings(readSettings("elastic-grid", settings, FIELDS));
    read.check();
    return read;
  }

  check() {
    const fail = (message) => new Error(`invalid elastic-grid settings: ${message}`);
    if (this.monitorGroup === "") {
      throw fail("`monitor_group` is empty");
    }
    if (this.agentGroup === "") {
      throw fail("`agent_group` is empty");
    }
    if (this.clusterGroupPrefix === "") {
      throw fail("`cluster_group_prefix` is empty (leave it out to turn clustering off)");
    }
    if (this.requireTags.has("")) {
      throw fail("`require_tags` names an empty tag key");
    }
  }
}
