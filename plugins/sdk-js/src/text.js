/**
 * The fleet's strings: one text and where each string ends, in UTF-8 bytes
 * (`wit/policy.wit`, `fleet.text` and `fleet.text-ends`), read as JS strings.
 *
 * JS strings count UTF-16 units, the host counts bytes. When the whole text
 * is ASCII (checked once: then both counts agree) a string is a slice of the
 * text; otherwise the text is encoded to bytes once and each string decoded
 * from its byte range the first time it is read.
 */

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
    this.bytes = null;
    this.decoded = null;
  }

  /** How many strings there are. */
  get length() {
    return this.ends.length;
  }

  /** String `index`; throws when there is no such string. */
  get(index) {
    if (!(index >= 0 && index < this.ends.length)) {
      throw new RangeError(
        `the fleet names string ${index}, but its text has ${this.ends.length}`,
      );
    }
    const start = index === 0 ? 0 : this.ends[index - 1];
    const end = this.ends[index];
    if (this.ascii) {
      return this.text.slice(start, end);
    }
    return this.decode(index, start, end);
  }

  /** String `index`, `null` when it is string 0 (the empty one: none). */
  optional(index) {
    return index === 0 ? null : this.get(index);
  }

  /** String `index` decoded from the text's bytes, once. */
  decode(index, start, end) {
    if (this.bytes === null) {
      this.bytes = new TextEncoder().encode(this.text);
      this.decoded = new Array(this.ends.length);
      this.decoder = new TextDecoder("utf-8", { fatal: true });
    }
    let text = this.decoded[index];
    if (text === undefined) {
      text = this.decoder.decode(this.bytes.subarray(start, end));
      this.decoded[index] = text;
    }
    return text;
  }
}
