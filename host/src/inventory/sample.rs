//! A made-up instance shaped as EC2 describes one of a grid's, for the
//! tests, the simulation and the benchmarks that measure sizes: addresses,
//! names, two groups, a few tags, placement, type, image and launch time.

use super::{Instance, SecurityGroup, Tag};

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
