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

/** The clusters of a member without any: one array shared by all of them. */
const NO_CLUSTERS = Object.freeze(new Uint32Array(0));

/** Marks the label lists an answer made (`Answer.labelSet`), with the answer's `LabelSets`. */
const MADE_BY = Symbol("label list of");

/**
 * Members' labels, each distinct list of (name, value) ids made once and
 * shared by every member that carries it: what crosses to the host is the
 * same array for all of them, and deciding a fleet makes no label objects
 * per member.
 */
class LabelSets {
  constructor() {
    /** A tree of lists: each node maps the next pair to the node after it. */
    this.root = { next: new Map(), list: null };
    this.none = this.freeze([]);
  }

  /**
   * The shared list of the pairs in `ids` (name, value, name, value, ...),
   * checked the first time it is asked for.
   */
  of(ids) {
    if (ids.length === 0) {
      return this.none;
    }
    let node = this.root;
    for (let at = 0; at < ids.length; at += 2) {
      // Both ids are below 2^32: one number keys the pair.
      const key = ids[at] * 0x100000000 + ids[at + 1];
      let next = node.next.get(key);
      if (next === undefined) {
        next = { next: new Map(), list: null };
        node.next.set(key, next);
      }
      node = next;
    }
    if (node.list === null) {
      if (ids.length % 2 !== 0) {
        throw new TypeError("label ids come in pairs: a name id, then a value id");
      }
      const list = [];
      for (let at = 0; at < ids.length; at += 2) {
        const name = checkId(ids[at], "label name");
        list.push(Object.freeze({ name, value: checkId(ids[at + 1], "label value") }));
      }
      node.list = this.freeze(list);
    }
    return node.list;
  }

  /** `list`, marked as made here and frozen: members share it. */
  freeze(list) {
    Object.defineProperty(list, MADE_BY, { value: this });
    return Object.freeze(list);
  }

  /** Whether `labels` is a list made here. */
  made(labels) {
    return labels[MADE_BY] === this;
  }
}

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

/** A cluster or other id: a whole number from 0 to 2^32 - 1. */
function checkId(id, what) {
  if (!(Number.isInteger(id) && id >= 0 && id <= 0xffffffff)) {
    throw new TypeError(`a ${what} must be an id from the answer, not ${JSON.stringify(id)}`);
  }
  return id;
}

/**
 * A policy's answer under construction: the policy's `decide` fills it.
 *
 * Each member is kept as the record that crosses to the host, whose cluster
 * list and labels are shared with every member that has the same
 * (`Uint32Array`s and frozen arrays: read them, never change them).
 */
export class Answer {
  /** An empty answer for `fleet`. */
  constructor(fleet) {
    this.fleet = fleet;
    this.roles = new Names();
    this.clusters = new Names();
    this.labelNames = new Names();
    this.labelValues = new Names();
    this.labelSets = new LabelSets();
    /** Label value ids by the key of a fleet string (`labelValueOfText`). */
    this.valueOfKey = [];
    /** Lists of one cluster by its id, and of two by both. */
    this.singleClusters = [];
    this.pairsOfClusters = new Map();
    this.memberList = [];
    this.targetList = [];
    this.noteList = [];
    this.selfIndex = fleet.selfIndex;
    this.explainIndex = fleet.explainIndex;
    this.scratch = [];
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
   * The cluster ids `ids` (an array or a typed array, which the answer does
   * not keep) as a member's clusters: a `Uint32Array`, the same one for
   * every member with no cluster, or with the same one or two.
   */
  clusterSet(ids) {
    switch (ids.length) {
      case 0:
        return NO_CLUSTERS;
      case 1: {
        const id = ids[0];
        let set = this.singleClusters[id];
        if (set === undefined) {
          set = Uint32Array.of(checkId(id, "cluster"));
          this.singleClusters[id] = set;
        }
        return set;
      }
      case 2: {
        const key = checkId(ids[0], "cluster") * 0x100000000 + checkId(ids[1], "cluster");
        let set = this.pairsOfClusters.get(key);
        if (set === undefined) {
          set = Uint32Array.of(ids[0], ids[1]);
          this.pairsOfClusters.set(key, set);
        }
        return set;
      }
      default:
        for (let at = 0; at < ids.length; at++) {
          checkId(ids[at], "cluster");
        }
        return Uint32Array.from(ids);
    }
  }

  /** The id of the label name `name` (added the first time it is asked for). */
  labelName(name) {
    return this.labelNames.intern(name);
  }

  /** The id of the label value `value` (added the first time it is asked for). */
  labelValue(value) {
    return this.labelValues.intern(value);
  }

  /**
   * The id of the label value that is string `text` of the fleet (a tag's
   * value from `Fleet.tagValueAt`, a zone from its column), without making
   * the string for every instance that has it.
   */
  labelValueOfText(text) {
    const key = this.fleet.strings.key(text);
    let id = this.valueOfKey[key];
    if (id === undefined) {
      id = this.labelValues.intern(this.fleet.strings.keyText(key));
      this.valueOfKey[key] = id;
    }
    return id;
  }

  /**
   * A member's labels from ids: `ids` holds a label name id and a label
   * value id for each label, one after the other (`[zone, us-east-1a, type,
   * m5.large]`; the answer does not keep it). Members with the same labels
   * get the same list: pass it as `addMember`'s `labels`.
   */
  labelSet(ids) {
    return this.labelSets.of(ids);
  }

  /**
   * Adds a member; each instance at most once. `instance` is an `Instance`
   * or its index, `role` and `clusters` ids from `role` and `cluster` (an
   * array or a typed array, not kept), `address` from `AddressKind.of` (or
   * `at`) or `otherAddress` (`null`: none), `port` a number or `null`,
   * `labels` an object of label name to value (or a `Map`, or `[name,
   * value]` pairs; each name once, by the host's rules in
   * `wit/policy.wit`'s `label`), or a list from `labelSet`. Names and values
   * cross to the host once however many members carry them.
   */
  addMember({ instance, role, clusters = NO_CLUSTERS, address = null, port = null, labels = null }) {
    let list = this.labelSets.none;
    if (labels !== null) {
      list = this.labelSets.made(labels) ? labels : this.internLabels(labels);
    }
    this.addMemberAt(indexOf(instance), role, this.clusterSet(clusters), address, port, list);
  }

  /**
   * `addMember` for policies that decide large fleets by index, without an
   * object per call: instance `index` with `role`, `clusters` from
   * `clusterSet`, `address` (or `null`), `port` (or `null`) and `labels`
   * from `labelSet` (or `null`: none).
   */
  addMemberAt(index, role, clusters, address, port, labels) {
    // The record that crosses to the host (componentize-js takes `null` for
    // an option's none), and what `members` shows.
    this.memberList.push({
      instance: index,
      role,
      clusters,
      address,
      port,
      labels: labels ?? this.labelSets.none,
    });
  }

  /** The shared list of labels given as names and values. */
  internLabels(labels) {
    const ids = this.scratch;
    ids.length = 0;
    for (const [name, value] of labelPairs(labels)) {
      ids.push(this.labelNames.intern(name), this.labelValues.intern(value));
    }
    return this.labelSets.of(ids);
  }

  /** How many members were added so far. */
  get memberCount() {
    return this.memberList.length;
  }

  /**
   * The members added so far, in the order they were added, as `{instance,
   * role, clusters, address, port, labels}` (`null` for no address or port).
   */
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

  /**
   * The answer as it crosses back to the host: the WIT `decision`, with
   * every `list<u32>` a `Uint32Array` (componentize-js copies those in one
   * go, and checks an array's numbers one by one) and `null` for an
   * option's none.
   */
  toDecision() {
    return {
      roles: this.roles.names,
      clusters: this.clusters.names,
      labelNames: this.labelNames.names,
      labelValues: this.labelValues.names,
      members: this.memberList,
      registerWith: Uint32Array.from(this.targetList),
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
  for (let at = 0; at < ours.length; at++) {
    if (theirs.includes(ours[at])) {
      return true;
    }
  }
  return false;
}
