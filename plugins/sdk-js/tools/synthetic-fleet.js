#!/usr/bin/env node
/**
 * Writes a synthetic fleet as a describe-instances JSON document (what
 * `rollcall resolve --inventory` reads), to compare policies with `rollcall
 * plugin diff` and to time them on big fleets:
 *
 *     node tools/synthetic-fleet.js COUNT > fleet.json
 *
 * Deterministic (a seeded generator): monitors, agents, instances in both
 * groups or in neither, clusters (`cluster-*` groups, some instances in
 * two), every EC2 state, missing addresses, IPv6, `fleet`/`owner` tags and
 * non-ASCII names (`Zürich`, `東京`, an emoji).
 */

const count = Number(process.argv[2] ?? 100);
if (!Number.isInteger(count) || count < 1) {
  console.error("usage: synthetic-fleet.js COUNT");
  process.exit(2);
}

/** A small seeded generator (mulberry32): the same fleet every run. */
let seed = 0x5eed;
function random() {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (items) => items[Math.floor(random() * items.length)];
const chance = (p) => random() < p;

const STATES = ["running", "running", "running", "running", "running", "running",
  "pending", "stopped", "stopping", "shutting-down", "terminated", "rebooting"];
const CLUSTERS = ["blue", "green", "red", "Zürich", "東京", "🦀", "alpha", "beta"];
const ZONES = ["us-east-1a", "us-east-1b", "eu-west-1a"];

function group(name) {
  return { GroupName: name, GroupId: `sg-${Buffer.from(name).toString("hex").slice(0, 16)}` };
}

const instances = [];
for (let n = 0; n < count; n++) {
  const id = `i-${n.toString(16).padStart(17, "0")}`;
  const ip = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
  const groups = [group("default")];
  const role = random();
  if (role < 0.1) groups.push(group("eg-monitor"));
  else if (role < 0.85) groups.push(group("eg-cybernode"));
  else if (role < 0.9) groups.push(group("eg-cybernode"), group("eg-monitor"));
  else groups.push(group("web"));
  if (chance(0.7)) groups.push(group(`cluster-${pick(CLUSTERS)}`));
  if (chance(0.15)) groups.push(group(`cluster-${pick(CLUSTERS)}`));
  if (chance(0.02)) groups.push(group("cluster-"));
  const tags = [{ Key: "Name", Value: `node ${n} in ${pick(CLUSTERS)}` }];
  if (chance(0.9)) tags.push({ Key: "fleet", Value: chance(0.8) ? "blue" : pick(["green", "Blue", "blue ", "bl\"ue"]) });
  if (chance(0.8)) tags.push({ Key: "owner", Value: pick(["ops", "", "équipe"]) });
  const instance = {
    InstanceId: id,
    State: { Name: pick(STATES) },
    SecurityGroups: groups,
    Tags: tags,
    Placement: { AvailabilityZone: pick(ZONES) },
    InstanceType: pick(["m5.large", "t3.micro"]),
    ImageId: "ami-0123456789abcdef0",
    LaunchTime: "2026-11-26T17:13:50+00:00",
    VpcId: "vpc-1a2b3c4d",
    SubnetId: "subnet-1a2b3c4d",
  };
  if (chance(0.97)) {
    instance.PrivateIpAddress = ip;
    instance.PrivateDnsName = `ip-${ip.replaceAll(".", "-")}.ec2.internal`;
  }
  if (chance(0.5)) {
    instance.PublicIpAddress = `54.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
    instance.PublicDnsName = `ec2-${n}.compute-1.amazonaws.com`;
  }
  if (chance(0.6)) {
    instance.NetworkInterfaces = [{ Ipv6Addresses: [{ Ipv6Address: `2600:1f18::${n.toString(16)}` }] }];
  }
  instances.push(instance);
}

process.stdout.write(JSON.stringify({ Reservations: [{ Instances: instances }] }));
