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
  /**
   * Tags whose value becomes a member's label of the same name, when the
   * instance carries the tag (beside `zone` and `instance_type`, which every
   * member gets). Each key must be a label name (`isLabelName`).
   */
  labels_from_tags: Setting.textList(),
};

/** The labels every member gets: its availability zone and instance type. */
export const ZONE_LABEL = "zone";
export const INSTANCE_TYPE_LABEL = "instance_type";
/** The labels a member may carry (the host's limit); `zone` and `instance_type` take two. */
const LABELS_PER_MEMBER = 16;
/** The longest label name (the host's limit). */
const LABEL_NAME_BYTES = 64;

/**
 * Whether `name` is a label name as the host takes it:
 * `[a-zA-Z_][a-zA-Z0-9_]*`, 1 to 64 bytes, not starting with `__`.
 */
export function isLabelName(name) {
  return (
    name.length <= LABEL_NAME_BYTES && /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !name.startsWith("__")
  );
}

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
    this.labelsFromTags = read.labels_from_tags;
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
    this.checkLabelsFromTags(fail);
  }

  checkLabelsFromTags(fail) {
    const tags = this.labelsFromTags;
    const most = LABELS_PER_MEMBER - 2;
    if (tags.length > most) {
      throw fail(
        `\`labels_from_tags\` names ${tags.length} tags, more than ${most} ` +
          `(a member carries at most ${LABELS_PER_MEMBER} labels, ${ZONE_LABEL} and ${INSTANCE_TYPE_LABEL} among them)`,
      );
    }
    tags.forEach((tag, at) => {
      if (!isLabelName(tag)) {
        throw fail(
          `\`labels_from_tags\` names the tag ${quote(tag)}, whose key is no label name ` +
            `(1 to ${LABEL_NAME_BYTES} bytes of ASCII letters, digits and _, not starting with a digit or __)`,
        );
      }
      if (tag === ZONE_LABEL || tag === INSTANCE_TYPE_LABEL) {
        throw fail(`\`labels_from_tags\` names the tag ${quote(tag)}, a label elastic-grid sets itself`);
      }
      if (tags.indexOf(tag) < at) {
        throw fail(`\`labels_from_tags\` names the tag ${quote(tag)} twice`);
      }
    });
  }

  /** Whether `accounts` counts the groups of `account`: every account does when it is absent. */
  countsAccount(account) {
    return this.accounts === null || this.accounts.includes(account);
  }
}
