/**
 * The fleet's strings: one text and where each string ends, in UTF-8 bytes
 * (`wit/policy.wit`, `fleet.text` and `fleet.text-ends`), read as JS strings,
 * compared and told apart without making them.
 *
 * JS strings count UTF-16 units, the host counts bytes. When the whole text
 * is ASCII (checked once: then both counts agree) a string's units are its
 * bytes; otherwise the runs of non-ASCII characters are found once, and a
 * byte offset becomes a unit offset by the bytes they add before it. A
 * string is then a slice of the text, and comparing one a `startsWith` at
 * its offset.
 *
 * The host does not look strings up: the same zone, tag key or account is a
 * new string on every instance. `key(index)` gives every distinct content one
 * small number, so that a policy can look values up in tables (a zone's
 * label, an account's verdict) without making one JS string per instance:
 * making a string costs more in the component's interpreter than the rest
 * of a policy's work on an instance.
 */

/**
 * How many distinct strings of one length are told apart by comparing them
 * in place, one after the other; past that, strings of that length are
 * sliced and looked up in a map.
 */
const COMPARED_PER_LENGTH = 8;

/** Strings this long or longer are always sliced and looked up. */
const SHORT = 256;

/** The strings of one fleet, by their index (`text` in the WIT). */
export class FleetText {
  /**
   * @param {string} text every string, one after the other
   * @param {ArrayLike<number>} ends where each string ends, in UTF-8 bytes
   */
  constructor(text, ends) {
    this.text = text;
    this.ends = ends;
    const bytes = ends.length === 0 ? 0 : ends[ends.length - 1];
    // Every non-ASCII code point takes more UTF-8 bytes than UTF-16 units.
    this.ascii = bytes === text.length;
    this.units = null;
    /** Where the string `locate` found starts and ends, in UTF-16 units. */
    this.from = 0;
    this.to = 0;
    /**
     * Distinct contents by key; by length (for lengths below
     * `SHORT`), the keys compared in place, `null` once there are too
     * many to compare.
     */
    this.keyed = [];
    this.keyOf = new Map();
    this.byLength = [];
  }

  /** How many strings there are. */
  get length() {
    return this.ends.length;
  }

  /** String `index`; throws when there is no such string. */
  get(index) {
    this.locate(index);
    return this.text.slice(this.from, this.to);
  }

  /** String `index`, `null` when it is string 0 (the empty one: none). */
  optional(index) {
    return index === 0 ? null : this.get(index);
  }

  /** Whether string `index` is `string`, without making it. */
  equals(index, string) {
    this.locate(index);
    return this.to - this.from === string.length && this.text.startsWith(string, this.from);
  }

  /**
   * A number for the content of string `index`: equal strings have equal
   * keys, different ones different keys. Keys run from 0 up in the order
   * contents are first asked for; `keyText(key)` is the string.
   */
  key(index) {
    this.locate(index);
    return this.keyAt(this.from, this.to);
  }

  /**
   * The key of every string a column of the fleet names (`key`, for each
   * entry), -1 where it holds 0 (none): an `Int32Array` as long as the
   * column. One call for a whole column costs less than one per entry.
   */
  keysOf(column) {
    const keys = new Int32Array(column.length);
    // What the loop reads, in locals: reading an object's property costs
    // more in the component's interpreter than comparing a string.
    const { text, keyed, byLength, ends, ascii } = this;
    for (let at = 0; at < column.length; at++) {
      const index = column[at];
      if (index === 0) {
        keys[at] = -1;
        continue;
      }
      let from;
      let to;
      if (ascii && index < ends.length) {
        from = ends[index - 1];
        to = ends[index];
      } else {
        this.locate(index);
        ({ from, to } = this);
      }
      // The strings of this length seen so far, compared in place.
      const compared = to - from < SHORT ? byLength[to - from] : null;
      let key = -1;
      if (compared != null) {
        for (let candidate = 0; candidate < compared.length; candidate++) {
          if (text.startsWith(keyed[compared[candidate]], from)) {
            key = compared[candidate];
            break;
          }
        }
      }
      keys[at] = key >= 0 ? key : this.keyAt(from, to);
    }
    return keys;
  }

  /** The key of the text from unit `from` to unit `to`. */
  keyAt(from, to) {
    const text = this.text;
    const length = to - from;
    let compared = length < SHORT ? this.byLength[length] : null;
    if (compared === undefined) {
      compared = [];
      this.byLength[length] = compared;
    }
    if (compared !== null) {
      const keyed = this.keyed;
      for (let at = 0; at < compared.length; at++) {
        if (text.startsWith(keyed[compared[at]], from)) {
          return compared[at];
        }
      }
      if (compared.length === COMPARED_PER_LENGTH) {
        // Too many of this length to compare one by one: look them up.
        this.byLength[length] = null;
        compared = null;
      }
    }
    const key = this.keyFor(text.slice(from, to));
    if (compared !== null) {
      compared.push(key);
    }
    return key;
  }

  /** The string of a key from `key`. */
  keyText(key) {
    const text = this.keyed[key];
    if (text === undefined) {
      throw new RangeError(`no string of the fleet has the key ${key}`);
    }
    return text;
  }

  /** The key of `text`, given the first time it is seen. */
  keyFor(text) {
    let key = this.keyOf.get(text);
    if (key === undefined) {
      key = this.keyed.length;
      this.keyed.push(text);
      this.keyOf.set(text, key);
    }
    return key;
  }

  /**
   * Sets `from` and `to` to where string `index` starts and ends in the
   * text, in UTF-16 units; throws when there is no such string.
   */
  locate(index) {
    const ends = this.ends;
    if (!(index >= 0 && index < ends.length)) {
      throw new RangeError(`the fleet names string ${index}, but its text has ${ends.length}`);
    }
    const start = index === 0 ? 0 : ends[index - 1];
    const end = ends[index];
    if (this.ascii) {
      this.from = start;
      this.to = end;
      return;
    }
    if (this.units === null) {
      this.units = new UnitOffsets(this.text);
    }
    this.from = this.units.of(start);
    this.to = this.units.of(end);
  }
}

/**
 * UTF-8 byte offsets of a text turned into UTF-16 unit offsets: the text's
 * runs of non-ASCII characters, each with where it starts and ends in bytes
 * and in units. Before a run's start, bytes and units differ by what the
 * runs before it added.
 */
class UnitOffsets {
  constructor(text) {
    this.text = text;
    const byteStarts = [];
    const byteEnds = [];
    const unitStarts = [];
    const unitEnds = [];
    const pattern = /[^\x00-\x7f]+/g;
    let added = 0;
    let match;
    while ((match = pattern.exec(text)) !== null) {
      const run = match[0];
      byteStarts.push(match.index + added);
      unitStarts.push(match.index);
      added += utf8Length(run) - run.length;
      byteEnds.push(match.index + run.length + added);
      unitEnds.push(match.index + run.length);
    }
    this.byteStarts = byteStarts;
    this.byteEnds = byteEnds;
    this.unitStarts = unitStarts;
    this.unitEnds = unitEnds;
    /** The run the last offset was found after: offsets mostly come in order. */
    this.run = -1;
  }

  /** The unit offset of byte offset `byte`, which starts a code point or ends the text. */
  of(byte) {
    const run = this.runBefore(byte);
    if (run < 0) {
      return byte;
    }
    if (byte >= this.byteEnds[run]) {
      return byte - (this.byteEnds[run] - this.unitEnds[run]);
    }
    // Inside the run: two strings meet between non-ASCII characters.
    let unit = this.unitStarts[run];
    for (let at = this.byteStarts[run]; at < byte; unit++) {
      const code = this.text.codePointAt(unit);
      at += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
      if (code >= 0x10000) {
        unit++;
      }
    }
    return unit;
  }

  /** The last run that starts at or before `byte`, -1 when none does. */
  runBefore(byte) {
    const starts = this.byteStarts;
    let run = this.run;
    // Near the last one: a step or two forward, in the usual order of reads.
    for (let step = 0; step < 4; step++) {
      if (run >= 0 && starts[run] > byte) {
        break;
      }
      if (run + 1 >= starts.length || starts[run + 1] > byte) {
        this.run = run;
        return run;
      }
      run++;
    }
    // Elsewhere: search.
    let low = -1;
    let high = starts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (starts[middle] <= byte) {
        low = middle;
      } else {
        high = middle - 1;
      }
    }
    this.run = low;
    return low;
  }
}

/** How many bytes `text` takes in UTF-8. */
function utf8Length(text) {
  let bytes = 0;
  for (let at = 0; at < text.length; at++) {
    const code = text.charCodeAt(at);
    if (code < 0x80) {
      bytes += 1;
    } else if (code < 0x800) {
      bytes += 2;
    } else if (code >= 0xd800 && code <= 0xdbff && at + 1 < text.length) {
      // A surrogate pair: one code point of four bytes.
      bytes += 4;
      at++;
    } else {
      bytes += 3;
    }
  }
  return bytes;
}
