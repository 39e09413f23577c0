//! Test data shared by the unit tests of this crate.

use crate::Instance;

/// An instance with an id and a state and nothing else: no address, group or
/// tag. Tests fill in what they look at.
pub fn instance(id: &str, state: &str) -> Instance {
    Instance {
        id: id.to_owned(),
        state: state.to_owned(),
        private_ipv4: None,
        public_ipv4: None,
        private_dns_name: None,
        public_dns_name: None,
        ipv6_addresses: Vec::new(),
        security_groups: Vec::new(),
        tags: Vec::new(),
        availability_zone: None,
        region: None,
        vpc_id: None,
        subnet_id: None,
        instance_type: None,
        image_id: None,
        launch_time: None,
    }
}
