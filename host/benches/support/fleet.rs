//! Synthetic fleets for benchmarks: describe-instances documents shaped like
//! real AWS output (reservations of varying size, network interfaces with
//! IPv6, block devices, tags, several security groups, some instances not
//! running), deterministic from a seed.

use serde_json::{Value, json};

/// xorshift64*: deterministic and dependency-free.
pub struct Random(u64);

impl Random {
    pub fn new(seed: u64) -> Self {
        Random(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The instance every benchmark resolves for: an agent in cluster blue.
pub const SELF_ID: &str = "i-00000000000000001";

/// A fleet of `count` instances: 1 in 40 a monitor, the rest agents, in
/// three clusters; 1 in 12 not running.
pub fn describe_instances(count: usize, seed: u64) -> Value {
    let mut random = Random::new(seed);
    let mut reservations = Vec::new();
    let mut n = 0;
    while n < count {
        let size = (1 + random.below(8) as usize).min(count - n);
        let instances: Vec<Value> = (n..n + size).map(|i| instance(i, &mut random)).collect();
        reservations.push(json!({
            "Groups": [],
            "OwnerId": "123456789012",
            "ReservationId": format!("r-{:017x}", random.next() >> 4),
            "Instances": instances,
        }));
        n += size;
    }
    json!({"Reservations": reservations})
}

fn instance(i: usize, random: &mut Random) -> Value {
    let id = format!("i-{:017x}", i + 1);
    let monitor = i % 40 == 7;
    let cluster = ["blue", "green", "red"][if i == 0 { 0 } else { random.below(3) as usize }];
    let state = if i != 0 && random.below(12) == 0 {
        ["stopped", "pending", "terminated", "stopping"][random.below(4) as usize]
    } else {
        "running"
    };
    let code = match state {
        "running" => 16,
        "pending" => 0,
        "stopped" => 80,
        "stopping" => 64,
        _ => 48,
    };
    let (a, b, c) = ((i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
    let private_ip = format!("10.{a}.{b}.{c}");
    let role_group = if monitor {
        "eg-monitor"
    } else {
        "eg-cybernode"
    };
    let groups = [
        ("default", "sg-0000000000000001"),
        (
            role_group,
            if monitor {
                "sg-00000000000000a1"
            } else {
                "sg-00000000000000a2"
            },
        ),
        (
            &*format!("cluster-{cluster}"),
            &*format!("sg-0000000000000c{}", cluster.len()),
        ),
        ("ssh", "sg-0000000000000005"),
    ]
    .iter()
    .map(|(name, id)| json!({"GroupName": name, "GroupId": id}))
    .collect::<Vec<_>>();
    let zone = ["us-east-1a", "us-east-1b", "us-east-1c"][random.below(3) as usize];
    let instance_type = ["m5.large", "c5.xlarge", "t3.medium"][random.below(3) as usize];
    let team = ["core", "data", "edge"][random.below(3) as usize];
    json!({
        "AmiLaunchIndex": 0,
        "ImageId": "ami-0abcdef1234567890",
        "InstanceId": id,
        "InstanceType": instance_type,
        "KeyName": "fleet",
        "LaunchTime": "2026-11-20T08:00:00+00:00",
        "Monitoring": {"State": "disabled"},
        "Placement": {"AvailabilityZone": zone, "GroupName": "", "Tenancy": "default"},
        "PrivateDnsName": format!("ip-10-{a}-{b}-{c}.ec2.internal"),
        "PrivateIpAddress": private_ip,
        "ProductCodes": [],
        "PublicDnsName": "",
        "State": {"Code": code, "Name": state},
        "StateTransitionReason": "",
        "SubnetId": "subnet-0a1b2c3d4e5f60001",
        "VpcId": "vpc-0a1b2c3d4e5f60001",
        "Architecture": "x86_64",
        "BlockDeviceMappings": [{
            "DeviceName": "/dev/xvda",
            "Ebs": {"AttachTime": "2026-11-20T08:00:01+00:00", "DeleteOnTermination": true,
                    "Status": "attached", "VolumeId": format!("vol-{:017x}", random.next() >> 4)}
        }],
        "ClientToken": "",
        "EbsOptimized": false,
        "EnaSupport": true,
        "Hypervisor": "xen",
        "NetworkInterfaces": [{
            "Attachment": {"AttachTime": "2026-11-20T08:00:00+00:00", "AttachmentId": format!("eni-attach-{:017x}", random.next() >> 4),
                           "DeleteOnTermination": true, "DeviceIndex": 0, "Status": "attached"},
            "Description": "",
            "Groups": [],
            "Ipv6Addresses": [{"Ipv6Address": format!("2600:1f18:abcd:{b:x}00::{c:x}")}],
            "MacAddress": "0a:00:00:00:00:01",
            "NetworkInterfaceId": format!("eni-{:017x}", random.next() >> 4),
            "OwnerId": "123456789012",
            "PrivateDnsName": format!("ip-10-{a}-{b}-{c}.ec2.internal"),
            "PrivateIpAddress": private_ip,
            "PrivateIpAddresses": [{"Primary": true, "PrivateIpAddress": private_ip}],
            "SourceDestCheck": true,
            "Status": "in-use",
            "SubnetId": "subnet-0a1b2c3d4e5f60001",
            "VpcId": "vpc-0a1b2c3d4e5f60001",
        }],
        "RootDeviceName": "/dev/xvda",
        "RootDeviceType": "ebs",
        "SecurityGroups": groups,
        "SourceDestCheck": true,
        "Tags": [
            {"Key": "Name", "Value": format!("node-{i}")},
            {"Key": "env", "Value": "prod"},
            {"Key": "team", "Value": team},
        ],
        "VirtualizationType": "hvm",
    })
}
