//! A fleet in `moto_server`, launched and changed through the AWS SDK: its
//! instances ([`Fleet`]), its Auto Scaling groups ([`Groups`]) and the S3
//! bucket of its snapshot ([`Bucket`]).

use crate::servers::Moto;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
use serde_json::Value;

/// Launches instances into a moto region through the SDK.
pub struct Fleet {
    pub client: Client,
}

impl Fleet {
    /// Launches into moto's default account.
    pub fn new(moto: &Moto, region: &str) -> Fleet {
        Fleet::with_credentials(moto, region, Credentials::for_tests())
    }

    /// Launches into `account` (12 digits): as a role assumed there, whose
    /// credentials moto gives that account's own backend.
    pub async fn in_account(moto: &Moto, region: &str, account: &str) -> Fleet {
        let credentials =
            assume_role(moto, &format!("arn:aws:iam::{account}:role/fleet-maker")).await;
        Fleet::with_credentials(moto, region, credentials)
    }

    fn with_credentials(moto: &Moto, region: &str, credentials: Credentials) -> Fleet {
        let config = aws_sdk_ec2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .endpoint_url(&moto.endpoint)
            .credentials_provider(credentials)
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

/// The credentials of `role_arn`, assumed in moto with the test
/// credentials (moto makes no role exist first, and checks no trust).
pub async fn assume_role(moto: &Moto, role_arn: &str) -> Credentials {
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&moto.endpoint)
            .credentials_provider(Credentials::for_tests())
            .build(),
    );
    let assumed = sts
        .assume_role()
        .role_arn(role_arn)
        .role_session_name("rollcall-test-kit")
        .send()
        .await
        .expect("moto assumes the role")
        .credentials
        .expect("the assumed role's credentials");
    Credentials::new(
        assumed.access_key_id,
        assumed.secret_access_key,
        Some(assumed.session_token),
        None,
        "moto-assumed-role",
    )
}

/// Auto Scaling in moto, through the SDK.
pub struct Groups {
    pub client: aws_sdk_autoscaling::Client,
}

impl Groups {
    pub fn new(moto: &Moto, region: &str) -> Groups {
        let config = aws_sdk_autoscaling::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .endpoint_url(&moto.endpoint)
            .credentials_provider(Credentials::for_tests())
            .build();
        Groups {
            client: aws_sdk_autoscaling::Client::from_conf(config),
        }
    }

    /// A group of `size` instances; their ids, sorted.
    pub async fn create(&self, name: &str, size: i32) -> Vec<String> {
        self.create_in(name, size, &[]).await
    }

    /// A group of `size` instances in the security groups `security_groups`
    /// (ids: moto gives a launch configuration's groups to the instances it
    /// launches); their ids, sorted.
    pub async fn create_in(
        &self,
        name: &str,
        size: i32,
        security_groups: &[String],
    ) -> Vec<String> {
        self.client
            .create_launch_configuration()
            .launch_configuration_name(name)
            .image_id("ami-12c6146b")
            .instance_type("t3.micro")
            .set_security_groups(Some(security_groups.to_vec()))
            .send()
            .await
            .expect("create launch configuration");
        let zone = {
            let region = self.client.config().region().expect("a region");
            format!("{region}a")
        };
        self.client
            .create_auto_scaling_group()
            .auto_scaling_group_name(name)
            .launch_configuration_name(name)
            .min_size(0)
            .max_size(size + 1)
            .desired_capacity(size)
            .availability_zones(zone)
            .send()
            .await
            .expect("create auto scaling group");
        let described = self
            .client
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .expect("describe auto scaling group");
        let mut ids: Vec<String> = described.auto_scaling_groups()[0]
            .instances()
            .iter()
            .filter_map(|instance| instance.instance_id.clone())
            .collect();
        ids.sort();
        assert_eq!(ids.len(), size as usize, "moto launched the group");
        ids
    }

    /// Puts `id` of `group` in standby (`enter`, the group's desired
    /// capacity decremented: no replacement) or back in service.
    pub async fn standby(&self, group: &str, id: &str, enter: bool) {
        if enter {
            self.client
                .enter_standby()
                .auto_scaling_group_name(group)
                .instance_ids(id)
                .should_decrement_desired_capacity(true)
                .send()
                .await
                .expect("enter standby");
        } else {
            self.client
                .exit_standby()
                .auto_scaling_group_name(group)
                .instance_ids(id)
                .send()
                .await
                .expect("exit standby");
        }
    }
}

/// An S3 bucket in moto, for the fleet's snapshot and leave markers.
pub struct Bucket {
    pub client: aws_sdk_s3::Client,
    pub name: String,
}

impl Bucket {
    /// Creates the bucket `name`.
    pub async fn create(moto: &Moto, region: &str, name: &str) -> Bucket {
        let client = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(region.to_owned()))
                .endpoint_url(&moto.endpoint)
                .force_path_style(true)
                .credentials_provider(Credentials::for_tests())
                .build(),
        );
        client
            .create_bucket()
            .bucket(name)
            .send()
            .await
            .expect("bucket");
        Bucket {
            client,
            name: name.to_owned(),
        }
    }

    /// The leave marker of `instance_id` under the snapshot prefix
    /// `prefix`, once one is written and holds JSON.
    pub async fn leave_marker(&self, prefix: &str, instance_id: &str) -> Option<Value> {
        let object = self
            .client
            .get_object()
            .bucket(&self.name)
            .key(format!("{prefix}/leaving/{instance_id}"))
            .send()
            .await
            .ok()?;
        let body = object.body.collect().await.ok()?.into_bytes();
        serde_json::from_slice(&body).ok()
    }
}
