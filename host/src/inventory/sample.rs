//! A made-up instance shaped as EC2 describes one of a grid's, for the
//! tests, the simulation and the benchmarks that measure sizes: addresses,
//! names, two groups, a few tags, placement, type, image and launch time.

use super::{Instance, LeaveReason, Leaving, Lifecycle, LifecycleState, SecurityGroup, Tag};

/// The account that owns every made-up instance and its groups.
const ACCOUNT: &str = "123456789012";

/// An instance as EC2 describes one of a grid's: addresses, names,
/// two groups, a few tags, placement, type, image and launch time.
pub fn described(n: usize) -> Instance {
    let mut instance = Instance::running(&format!("i-{:017x}", n.wrapping_mul(0x9e37_79b9)));
    let ip = format!("10.{}.{}.{}", n / 65_536 % 256, n / 256 % 256, n % 256);
    instance.private_dns_name = Some(format!("ip-{}.ec2.internal", ip.replace('.', "-")));
    instance.private_ipv4 = Some(ip);
    let role = if n.is_multiple_of(20) {
        "eg-monitor"
    } else {
        "eg-cybernode"
    };
    instance.security_groups = vec![
        SecurityGroup {
            id: format!("sg-{:017x}", n % 20 / 19),
            name: role.to_owned(),
            owner: Some(ACCOUNT.to_owned()),
        },
        SecurityGroup {
            id: format!("sg-{:017x}", 100 + n % 8),
            name: format!("cluster-{}", n % 8),
            owner: Some(ACCOUNT.to_owned()),
        },
    ];
    for (key, value) in [
        ("Name", format!("grid-{n}")),
        ("team", "search".to_owned()),
        ("aws:autoscaling:groupName", format!("grid-asg-{}", n % 8)),
    ] {
        instance.tags.push(Tag {
            key: key.to_owned(),
            value,
        });
    }
    instance.availability_zone = Some(format!("us-east-1{}", ["a", "b", "c"][n % 3]));
    instance.region = Some("us-east-1".to_owned());
    instance.vpc_id = Some("vpc-0a1b2c3d4e5f60718".to_owned());
    instance.subnet_id = Some(format!("subnet-{:017x}", n % 3));
    instance.instance_type = Some("m5.large".to_owned());
    instance.image_id = Some("ami-0abcdef1234567890".to_owned());
    instance.launch_time = Some(format!(
        "2026-11-{:02}T{:02}:{:02}:00Z",
        1 + n % 28,
        n % 24,
        n % 60
    ));
    instance.account = Some(ACCOUNT.to_owned());
    instance
}

/// An instance with every field set, each to a value of its own. No
/// `..`: a new field of the model must be added here.
pub fn every_field(n: u32, state: &str) -> Instance {
    let text = |field: &str| Some(format!("{field}-{n}"));
    Instance {
        id: format!("i-{n}"),
        state: state.to_owned(),
        private_ipv4: text("private-ipv4"),
        public_ipv4: text("public-ipv4"),
        private_dns_name: text("private-dns"),
        public_dns_name: text("public-dns"),
        ipv6_addresses: vec![format!("2600::{n}:1"), format!("2600::{n}:2")],
        security_groups: vec![
            SecurityGroup {
                id: "sg-shared".to_owned(),
                name: "shared".to_owned(),
                owner: Some("111111111111".to_owned()),
            },
            // Owned or of an unknown owner, in turn.
            SecurityGroup {
                id: format!("sg-{n}"),
                name: format!("own-{n}"),
                owner: n.is_multiple_of(2).then(|| format!("owner-{n}")),
            },
        ],
        tags: vec![Tag::new("Name", format!("node-{n}")), Tag::new("env", "")],
        availability_zone: text("zone"),
        region: text("region"),
        vpc_id: text("vpc"),
        subnet_id: text("subnet"),
        instance_type: text("type"),
        image_id: text("image"),
        launch_time: text("launch"),
        account: text("account"),
        lifecycle: Lifecycle {
            state: LifecycleState::ALL[n as usize % LifecycleState::ALL.len()],
            group: text("group"),
        },
        // Every reason, with and without a deadline; some not leaving.
        leaving: (n % 4 != 3).then(|| Leaving {
            reason: LeaveReason::ALL[n as usize % LeaveReason::ALL.len()],
            deadline: n.is_multiple_of(2).then(|| format!("deadline-{n}")),
        }),
    }
}
