//! A fleet in `moto_server`, launched and changed through the AWS SDK.

use crate::servers::Moto;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};

/// Launches instances into a moto region through the SDK.
pub struct Fleet {
    pub client: Client,
}

impl Fleet {
    pub fn new(moto: &Moto, region: &str) -> Fleet {
        let config = aws_sdk_ec2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .endpoint_url(&moto.endpoint)
            .credentials_provider(Credentials::for_tests())
            .build();
        Fleet {
            client: Client::from_conf(config),
        }
    }

    pub async fn group(&self, name: &str) -> String {
        self.client
            .create_security_group()
            .group_name(name)
            .description(format!("rollcall test group {name}"))
            .send()
            .await
            .expect("create security group")
            .group_id
            .expect("group id")
    }

    /// One reservation of `count` instances in `groups`, tagged.
    pub async fn launch(&self, groups: &[&str], count: i32, tags: &[(&str, &str)]) -> Vec<String> {
        let mut request = self
            .client
            .run_instances()
            .image_id("ami-12c6146b")
            .instance_type("t3.micro".into())
            .min_count(count)
            .max_count(count)
            .set_security_group_ids(Some(groups.iter().map(|id| (*id).to_owned()).collect()));
        if !tags.is_empty() {
            let mut spec = TagSpecification::builder().resource_type(ResourceType::Instance);
            for (key, value) in tags {
                spec = spec.tags(Tag::builder().key(*key).value(*value).build());
            }
            request = request.tag_specifications(spec.build());
        }
        let reservation = request.send().await.expect("run instances");
        reservation
            .instances
            .unwrap_or_default()
            .into_iter()
            .filter_map(|instance| instance.instance_id)
            .collect()
    }

    pub async fn stop(&self, id: &str) {
        self.client
            .stop_instances()
            .instance_ids(id)
            .send()
            .await
            .expect("stop");
    }

    pub async fn terminate(&self, id: &str) {
        self.client
            .terminate_instances()
            .instance_ids(id)
            .send()
            .await
            .expect("terminate");
    }

    pub async fn private_ip(&self, id: &str) -> String {
        let output = self
            .client
            .describe_instances()
            .instance_ids(id)
            .send()
            .await
            .expect("describe");
        output.reservations()[0].instances()[0]
            .private_ip_address()
            .expect("private ip")
            .to_owned()
    }
}
