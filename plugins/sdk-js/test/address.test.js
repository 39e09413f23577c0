/** Address kinds: their setting names, and which address each reads. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { AddressKind, Fleet } from "../src/native.js";

test("every kind is read by its name", () => {
  for (const kind of AddressKind.ALL) {
    assert.equal(AddressKind.parse(kind.name), kind);
  }
  assert.deepEqual(
    AddressKind.ALL.map((kind) => kind.name),
    ["private-ip", "public-ip", "private-dns", "public-dns", "ipv6"],
  );
});

test("other names are rejected in serde's words", () => {
  for (const name of ["ipv9", "PrivateIp", "private_ip", "IPv6"]) {
    assert.throws(() => AddressKind.parse(name), {
      message: `unknown variant \`${name}\`, expected one of \`private-ip\`, \`public-ip\`, \`private-dns\`, \`public-dns\`, \`ipv6\``,
    });
  }
  assert.throws(() => AddressKind.parse(1), /expected one of `private-ip`/);
});

test("each kind picks its address, and ipv6 the first", () => {
  const fleet = Fleet.fromRecords([
    {
      id: "i-1",
      privateIpv4: "10.0.0.1",
      publicIpv4: "54.0.0.1",
      privateDnsName: "ip-10-0-0-1.ec2.internal",
      ipv6Addresses: ["2600:1f18::1", "2600:1f18::2"],
    },
  ]);
  const instance = fleet.instance(0);
  assert.deepEqual(
    AddressKind.ALL.map((kind) => kind.read(instance)),
    ["10.0.0.1", "54.0.0.1", "ip-10-0-0-1.ec2.internal", null, "2600:1f18::1"],
  );
  assert.deepEqual(AddressKind.IPV6.of(instance), { tag: "own", val: "ipv6" });
  assert.deepEqual(AddressKind.PRIVATE_DNS.of(instance), { tag: "own", val: "private-dns-name" });
  assert.equal(AddressKind.PUBLIC_DNS.of(instance), null);
});

test("by index, each kind answers as for the instance, with one shared address", () => {
  const fleet = Fleet.fromRecords([
    { id: "i-1", privateIpv4: "10.0.0.1", ipv6Addresses: ["2600:1f18::1"] },
    { id: "i-2", publicDnsName: "ec2-2.compute-1.amazonaws.com" },
    { id: "i-3" },
  ]);
  for (const kind of AddressKind.ALL) {
    for (const instance of fleet.instances()) {
      assert.deepEqual(kind.at(fleet, instance.index), kind.read(instance) === null ? null : { tag: "own", val: kind.wit });
      assert.equal(kind.at(fleet, instance.index), kind.of(instance));
    }
  }
  for (const kind of AddressKind.ALL) {
    assert.deepEqual(kind.ofEach(fleet), fleet.instances().map((instance) => kind.of(instance)));
  }
  assert.equal(AddressKind.PRIVATE_IP.at(fleet, 0), AddressKind.PRIVATE_IP.own);
  assert.ok(Object.isFrozen(AddressKind.PRIVATE_IP.own));
});
