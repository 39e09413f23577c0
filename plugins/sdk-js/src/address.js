/**
 * Which of an instance's addresses peers should use: the `address` setting
 * (`private-ip`, `public-ip`, `private-dns`, `public-dns` or `ipv6`, the
 * instance's first IPv6 address; `private-ip` by default), and the address
 * values a member carries (`{tag: 'own', val: 'private-ipv4'}` and
 * `{tag: 'other', val: text}`, the WIT `address` as componentize-js lowers
 * it).
 */

/** One kind of address EC2 reports for an instance. */
class Kind {
  /**
   * `read` reads the address of an `Instance`; `column` is the fleet's
   * column of them (an optional string per instance), or `present` says
   * whether instance `index` has one.
   */
  constructor(name, wit, read, { column = null, present = (columns, index) => columns[column][index] !== 0 }) {
    /** The name settings use, e.g. `private-ip`. */
    this.name = name;
    /** The WIT `address-kind`, e.g. `private-ipv4`. */
    this.wit = wit;
    this.reader = read;
    this.column = column;
    this.present = present;
    /** The member's address, one object for every member (read only). */
    this.own = Object.freeze({ tag: "own", val: wit });
    Object.freeze(this);
  }

  /** The instance's address of this kind, `null` when EC2 reported none. */
  read(instance) {
    return this.reader(instance);
  }

  /**
   * The instance's address of this kind as a member's address (the host
   * reads it from the fleet, nothing crosses back), `null` when EC2
   * reported none.
   */
  of(instance) {
    return this.at(instance.fleet, instance.index);
  }

  /** `of` for instance `index` of `fleet`, without making the instance or the address. */
  at(fleet, index) {
    return this.present(fleet.columns, index) ? this.own : null;
  }

  /**
   * `at` for every instance of `fleet`, by index: one call for the whole
   * fleet costs less than one per instance.
   */
  ofEach(fleet) {
    const addresses = new Array(fleet.length);
    const { own } = this;
    if (this.column === null) {
      const { columns } = fleet;
      for (let index = 0; index < addresses.length; index++) {
        addresses[index] = this.present(columns, index) ? own : null;
      }
    } else {
      const column = fleet.columns[this.column];
      for (let index = 0; index < addresses.length; index++) {
        addresses[index] = column[index] !== 0 ? own : null;
      }
    }
    return addresses;
  }

  toString() {
    return this.name;
  }
}

const KINDS = [
  new Kind("private-ip", "private-ipv4", (instance) => instance.privateIpv4, { column: "privateIpv4s" }),
  new Kind("public-ip", "public-ipv4", (instance) => instance.publicIpv4, { column: "publicIpv4s" }),
  new Kind("private-dns", "private-dns-name", (instance) => instance.privateDnsName, { column: "privateDnsNames" }),
  new Kind("public-dns", "public-dns-name", (instance) => instance.publicDnsName, { column: "publicDnsNames" }),
  new Kind("ipv6", "ipv6", (instance) => instance.ipv6Addresses[0] ?? null, {
    // The instance has one when its run of addresses is not empty.
    present: (columns, index) => (index === 0 ? 0 : columns.ipv6Ends[index - 1]) < columns.ipv6Ends[index],
  }),
];

/** The five kinds, and `parse` for the setting's names. */
export const AddressKind = Object.freeze({
  PRIVATE_IP: KINDS[0],
  PUBLIC_IP: KINDS[1],
  PRIVATE_DNS: KINDS[2],
  PUBLIC_DNS: KINDS[3],
  IPV6: KINDS[4],
  /** Every kind, in the order above. */
  ALL: Object.freeze([...KINDS]),

  /**
   * The kind a setting names, e.g. `private-ip`; an error in serde's words
   * (`unknown variant ...`) for anything else.
   */
  parse(name) {
    const kind = KINDS.find((kind) => kind.name === name);
    if (kind !== undefined) {
      return kind;
    }
    const expected = KINDS.map((kind) => `\`${kind.name}\``).join(", ");
    if (typeof name !== "string") {
      throw new Error(`expected one of ${expected}, not ${describeValue(name)}`);
    }
    throw new Error(`unknown variant \`${name}\`, expected one of ${expected}`);
  },

  /** The kind of a WIT `address-kind`, e.g. `private-ipv4`, or `undefined`. */
  fromWit(wit) {
    return KINDS.find((kind) => kind.wit === wit);
  },
});

/** A member's address that is not one of its own, e.g. a name from a tag. */
export function otherAddress(text) {
  return { tag: "other", val: String(text) };
}

/** A JSON value described for an error message. */
function describeValue(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  return `${typeof value === "object" ? "an object" : `the ${typeof value} ${JSON.stringify(value)}`}`;
}
