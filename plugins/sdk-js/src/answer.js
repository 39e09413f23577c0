/**
 * Building a policy's answer: members, self's registration targets and,
 * when the operator asks `rollcall explain`, the reasons; then the answer as
 * the WIT `decision` crosses back, or read back in ids and names for native
 * tests.
 */

import { AddressKind } from "./address.js";
import { compareText } from "./order.js";

/** Names used by members, each once, in the order first asked for. */
class Names {
  constructor() {
    this.names = [];
    this.index = new Map();
  }

  intern(name) {
    if (typeof name !== "string") {
      throw new TypeError(
        `a role, cluster or label name or label value must be a string, not ${JSON.stringify(name)}`,
      );
    }
    let id = this.index.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.names.push(name);
      this.index.set(name, id);
    }
    return id;
  }

  name(id) {
    const name = this.names[id];
    if (name === undefined) {
      throw new RangeError(`no name has the id ${id}`);
    }
    return name;
  }
}

/** The labels of a member without any: one array shared by all of them. */
const NO_LABELS = Object.freeze([]);

/**
 * The `[name, value]` pairs of `labels`: an object of name to value, a
 * `Map`, or an iterable of pairs.
 */
function labelPairs(labels) {
  if (labels instanceof Map || Symbol.iterator in labels) {
    return labels;
  }
  return Object.entries(labels);
}

/** The index of an instance given as an `Instance` or as an index. */
function indexOf(instance) {
  return typeof instance === "number" ? instance : instance.index;
}

/** A policy's answer under construction: the policy's `decide` fills it. */
export class Answer {
  /** An empty answer for `fleet`. */
  constructor(fleet) {
    this.fleet = fleet;
    this.roles = new Names();
    this.clusters = new Names();
    this.labelNames = new Names();
    this.labelValues = new Names();
    this.memberList = [];
    this.targetList = [];
    this.noteList = [];
    this.selfIndex = fleet.selfIndex;
    this.explainIndex = fleet.explainIndex;
  }

  /** The id of the role called `name` (added the first time it is asked for). */
  role(name) {
    return this.roles.intern(name);
  }

  /** The id of the cluster called `name` (added the first time it is asked for). */
  cluster(name) {
    return this.clusters.intern(name);
  }

  /** The name of a role of this answer. */
  roleName(id) {
    return this.roles.name(id);
  }

  /** The name of a cluster of this answer. */
  clusterName(id) {
    return this.clusters.name(id);
  }

  /** Cluster names joined with `, `, or `none`: for reasons. */
  clusterNames(ids) {
    if (ids.length === 0) {
      return "none";
    }
    return Array.from(ids, (id) => this.clusterName(id)).join(", ");
  }

  /** Sorts cluster ids by name and drops repeats, in place; returns them. */
  sortClusters(ids) {
    ids.sort((a, b) => compareText(this.clusterName(a), this.clusterName(b)));
    let kept = 0;
    for (let at = 0; at < ids.length; at++) {
      if (kept === 0 || ids[kept - 1] !== ids[at]) {
        ids[kept++] = ids[at];
      }
    }
    ids.length = kept;
    return ids;
  }

  /**
   * Adds a member; each instance at most once. `instance` is an `Instance`
   * or its index, `role` and `clusters` ids from `role` and `cluster`,
   * `address` from `AddressKind.of` or `otherAddress` (`null`: none),
   * `port` a number or `null`, `labels` an object of label name to value
   * (or a `Map`, or `[name, value]` pairs; each name once, by the host's
   * rules in `wit/policy.wit`'s `label`). Names and values cross to the
   * host once however many members carry them.
   */
  addMember({ instance, role, clusters = [], address = null, port = null, labels = null }) {
    let interned = NO_LABELS;
    if (labels !== null) {
      interned = [];
      for (const [name, value] of labelPairs(labels)) {
        interned.push({ name: this.labelNames.intern(name), value: this.labelValues.intern(value) });
      }
    }
    this.memberList.push({
      instance: indexOf(instance),
      role,
      clusters,
      address,
      port,
      labels: interned,
    });
  }

  /** The members added so far, in the order they were added. */
  get members() {
    return this.memberList;
  }

  /**
   * Makes `target` (an `Instance` or its index) one of self's registration
   * targets: it must be a member with an address, and not self.
   */
  registerWith(target) {
    this.targetList.push(indexOf(target));
  }

  /** Self's registration targets so far, as instance indices. */
  get targets() {
    return this.targetList;
  }

  /** Whether the operator asked to explain `instance`: only then do `note`'s notes about it count. */
  explains(instance) {
    return this.explainIndex !== null && this.explainIndex === indexOf(instance);
  }

  /** Whether the operator asked to explain self: only then do `noteTarget`'s notes count. */
  get explainsTargets() {
    return this.explainIndex !== null && this.explainIndex === this.selfIndex;
  }

  /**
   * A reason for what was decided about `instance` (its role or lack of
   * one, its clusters, its address), kept when the operator asked to
   * explain it. `text` may be a function: it is called only then, so that
   * notes cost nothing otherwise.
   */
  note(instance, text) {
    if (this.explains(instance)) {
      this.pushNote(instance, "decision", text);
    }
  }

  /**
   * Why `candidate` was taken as self's registration target or left out,
   * kept when the operator asked to explain self. `text` may be a function,
   * called only then.
   */
  noteTarget(candidate, text) {
    if (this.explainsTargets) {
      this.pushNote(candidate, "target", text);
    }
  }

  pushNote(instance, topic, text) {
    this.noteList.push({
      instance: indexOf(instance),
      topic,
      text: String(typeof text === "function" ? text() : text),
    });
  }

  /** The answer as it crosses back to the host: the WIT `decision`. */
  toDecision() {
    return {
      roles: this.roles.names,
      clusters: this.clusters.names,
      labelNames: this.labelNames.names,
      labelValues: this.labelValues.names,
      members: this.memberList.map((member) => ({
        instance: member.instance,
        role: member.role,
        clusters: member.clusters,
        address: member.address ?? undefined,
        port: member.port ?? undefined,
        labels: member.labels,
      })),
      registerWith: this.targetList,
      notes: this.noteList,
    };
  }

  /**
   * The answer with every index turned back into ids and names, as the
   * host will read it: what native unit tests compare.
   * `{members: [{id, role, clusters, address, port, labels}], registerWith:
   * [id], notes: [[id, topic, text]]}`, with `null` for no address or port
   * and `labels` an object of name to value.
   */
  resolved() {
    const id = (index) => this.fleet.instance(index)?.id ?? `#${index}`;
    return {
      members: this.memberList.map((member) => ({
        id: id(member.instance),
        role: this.roleName(member.role),
        clusters: Array.from(member.clusters, (cluster) => this.clusterName(cluster)),
        address: this.readAddress(member),
        port: member.port ?? null,
        labels: Object.fromEntries(
          member.labels.map((label) => [
            this.labelNames.name(label.name),
            this.labelValues.name(label.value),
          ]),
        ),
      })),
      registerWith: this.targetList.map(id),
      notes: this.noteList.map((note) => [id(note.instance), note.topic, note.text]),
    };
  }

  /** A member's address as the host will read it, `null` for none. */
  readAddress(member) {
    const address = member.address;
    if (address == null) {
      return null;
    }
    if (address.tag === "other") {
      return address.val;
    }
    const instance = this.fleet.instance(member.instance);
    const kind = AddressKind.fromWit(address.val);
    return instance === undefined || kind === undefined ? null : kind.read(instance);
  }
}

/**
 * `text` quoted as a JSON string (`"green"`, `"a \"b\""`): how a reason
 * quotes a value (a tag's, a setting's), the same in every SDK so that a
 * policy's reasons read the same in Rust, Python and JavaScript.
 */
export function quote(text) {
  return JSON.stringify(text);
}

/** The clusters of `ours` that `theirs` has too, in the order of `ours`. */
export function sharedClusters(ours, theirs) {
  return Array.from(ours).filter((cluster) => theirs.includes(cluster));
}

/**
 * Whether two members' clusters have one in common; two empty lists count
 * as sharing (instances without any cluster form one group), an empty and
 * a non-empty one do not.
 */
export function shareACluster(ours, theirs) {
  if (ours.length === 0 && theirs.length === 0) {
    return true;
  }
  for (const cluster of ours) {
    if (theirs.includes(cluster)) {
      return true;
    }
  }
  return false;
}
