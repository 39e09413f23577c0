/**
 * The Elastic Grid policy's settings: the JSON object the operator passes to
 * `configure`, read and checked as the Rust policy does
 * (`plugins/elastic-grid/src/settings.rs`): the same keys, defaults and
 * errors.
 */

import { quote, readSettings, Setting } from "../../sdk-js/src/native.js";

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
  /**
   * The AWS accounts (12 digits each) whose security groups count as the
   * monitor, agent and cluster groups; a group of unknown owner counts as
   * its instance's account's. `null`: every account's.
   */
  accounts: Setting.optionalTextList(),
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
    this.accounts = read.accounts;
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
    if (this.accounts !== null) {
      if (this.accounts.length === 0) {
        throw fail("`accounts` is empty (leave it out to count every account's groups)");
      }
      const bad = this.accounts.find((account) => !/^[0-9]{12}$/.test(account));
      if (bad !== undefined) {
        throw fail(`\`accounts\` holds ${quote(bad)}, which is not an AWS account id (12 digits)`);
      }
    }
  }

  /** Whether `accounts` counts the groups of `account`: every account does when it is absent. */
  countsAccount(account) {
    return this.accounts === null || this.accounts.includes(account);
  }
}
