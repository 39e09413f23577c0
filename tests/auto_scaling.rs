//! Auto Scaling lifecycle states on the listed fleet, end to end against
//! `moto_server`: groups made with the AWS SDK, the EC2 source listing them
//! and asking Auto Scaling about their groups, a recording stub that shows
//! when it is not asked or answers in pages, and a proxy in front of Auto
//! Scaling that goes down.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
use kit::moto_fleet::{Fleet, Groups};
use kit::plugins::ELASTIC_GRID;
use kit::servers::{Moto, Proxy, Reply, Stub};
use kit::{member, rollcall_command, run_within};
use rollcall::Ec2Settings;
use rollcall::inventory::{
    AUTO_SCALING_MAX_PAGES_PER_BATCH, ApiCalls, Ec2Source, Instance, Inventory, InventorySource,
    Lifecycle, LifecycleState,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

const REGION: &str = "us-west-2";

fn credentials() -> Credentials {
    Credentials::new("testing", "testing", None, None, "rollcall-tests")
}

/// The EC2 source on moto at `ec2`, asking Auto Scaling at `auto_scaling`,
/// counting into `calls`; one attempt per call.
async fn source(ec2: &str, auto_scaling: &str, calls: &ApiCalls) -> Ec2Source {
    let config = aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(SharedCredentialsProvider::new(credentials()))
        .endpoint_url(auto_scaling)
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(10))
                .build(),
        )
        .build();
    let settings = Ec2Settings {
        regions: vec![REGION.to_owned()],
        endpoint_url: Some(ec2.to_owned()),
        region_from_imds: false,
        max_attempts: 1,
        ..Ec2Settings::default()
    };
    Ec2Source::from_config(settings, config, calls.clone())
        .await
        .expect("a source")
}

fn instance<'f>(fleet: &'f Inventory, id: &str) -> &'f Instance {
    fleet
        .instances
        .iter()
        .find(|instance| instance.id == id)
        .unwrap_or_else(|| panic!("{id} is listed"))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_in_standby_is_listed_standby_with_its_group() {
    let moto = Moto::start();
    let groups = Groups::new(&moto, REGION);
    let web = groups.create("web", 2).await;
    groups.standby("web", &web[0], true).await;
    let loose = Fleet::new(&moto, REGION)
        .launch(&[], 1, &[])
        .await
        .remove(0);
    let calls = ApiCalls::default();

    let fleet = source(&moto.endpoint, &moto.endpoint, &calls)
        .await
        .fetch()
        .await
        .expect("the fleet");

    assert_eq!(fleet.instances.len(), 3);
    assert_eq!(
        instance(&fleet, &web[0]).lifecycle,
        Lifecycle::in_group("web", LifecycleState::Standby)
    );
    assert_eq!(
        instance(&fleet, &web[1]).lifecycle,
        Lifecycle::in_group("web", LifecycleState::InService)
    );
    assert_eq!(instance(&fleet, &loose).lifecycle, Lifecycle::default());
    assert!(fleet.instances.iter().all(|i| i.leaving.is_none()));
    assert_eq!(calls.auto_scaling.answered.get(), 1, "one batch, one page");
    assert_eq!(calls.auto_scaling.failed.get(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_without_the_group_tag_makes_no_auto_scaling_call() {
    let moto = Moto::start();
    Fleet::new(&moto, REGION).launch(&[], 3, &[]).await;
    let recording = Stub::start(|_| Reply::with_status(500, "not for this fleet"));
    let calls = ApiCalls::default();

    let fleet = source(&moto.endpoint, &recording.endpoint, &calls)
        .await
        .fetch()
        .await
        .expect("the fleet");

    assert_eq!(fleet.instances.len(), 3);
    assert_eq!(recording.requests(), 0, "Auto Scaling was asked");
    assert_eq!(calls.auto_scaling.total(), 0);
    assert_eq!(calls.ec2.answered.get(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_auto_scaling_call_keeps_the_last_lifecycle_and_the_whole_fleet() {
    let moto = Moto::start();
    let groups = Groups::new(&moto, REGION);
    let web = groups.create("web", 2).await;
    groups.standby("web", &web[0], true).await;
    let proxy = Proxy::start(&moto.endpoint);
    let calls = ApiCalls::default();
    let source = source(&moto.endpoint, &proxy.endpoint, &calls).await;
    let standby = Lifecycle::in_group("web", LifecycleState::Standby);

    let first = source.fetch().await.expect("the first fleet");
    assert_eq!(instance(&first, &web[0]).lifecycle, standby);

    // Auto Scaling goes away, and what it would say changes meanwhile.
    proxy.set_up(false);
    groups.standby("web", &web[0], false).await;
    let second = source
        .fetch()
        .await
        .expect("the fleet, without Auto Scaling");

    assert_eq!(second.instances.len(), first.instances.len());
    assert_eq!(instance(&second, &web[0]).lifecycle, standby, "kept");
    assert_eq!(
        instance(&second, &web[1]).lifecycle,
        Lifecycle::in_group("web", LifecycleState::InService)
    );
    assert!(
        calls.auto_scaling.failed.get() >= 1,
        "the failure is counted"
    );

    proxy.set_up(true);
    let third = source.fetch().await.expect("the fleet, Auto Scaling back");
    assert_eq!(
        instance(&third, &web[0]).lifecycle,
        Lifecycle::in_group("web", LifecycleState::InService)
    );
}

/// A `DescribeAutoScalingGroups` answer: group `web` holding `members`
/// (instance id, lifecycle state), and `next` when there is another page.
fn groups_page(members: &[(&str, &str)], next: Option<&str>) -> Reply {
    let instances: String = members
        .iter()
        .map(|(id, state)| {
            format!(
                "<member><InstanceId>{id}</InstanceId>\
                 <AvailabilityZone>{REGION}a</AvailabilityZone>\
                 <LifecycleState>{state}</LifecycleState><HealthStatus>Healthy</HealthStatus>\
                 <ProtectedFromScaleIn>false</ProtectedFromScaleIn></member>"
            )
        })
        .collect();
    let next = next.map_or(String::new(), |token| {
        format!("<NextToken>{token}</NextToken>")
    });
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <DescribeAutoScalingGroupsResponse \
         xmlns=\"http://autoscaling.amazonaws.com/doc/2011-01-01/\">\
         <DescribeAutoScalingGroupsResult><AutoScalingGroups><member>\
         <AutoScalingGroupName>web</AutoScalingGroupName><MinSize>0</MinSize>\
         <MaxSize>3</MaxSize><DesiredCapacity>2</DesiredCapacity>\
         <DefaultCooldown>300</DefaultCooldown>\
         <AvailabilityZones><member>{REGION}a</member></AvailabilityZones>\
         <HealthCheckType>EC2</HealthCheckType>\
         <CreatedTime>2026-01-01T00:00:00Z</CreatedTime>\
         <Instances>{instances}</Instances></member></AutoScalingGroups>{next}\
         </DescribeAutoScalingGroupsResult><ResponseMetadata>\
         <RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata>\
         </DescribeAutoScalingGroupsResponse>"
    );
    Reply {
        headers: vec![("Content-Type", "text/xml".to_owned())],
        ..Reply::ok(&body)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_page_of_auto_scaling_groups_is_read() {
    let moto = Moto::start();
    let web = Groups::new(&moto, REGION).create("web", 2).await;
    let (first, second) = (web[0].clone(), web[1].clone());
    let auto_scaling = Stub::start(move |request| match request.form_field("NextToken") {
        None => groups_page(&[(&first, "InService")], Some("page-2")),
        Some("page-2") => groups_page(&[(&second, "Standby")], None),
        Some(other) => Reply::with_status(400, &format!("no page {other}")),
    });
    let calls = ApiCalls::default();

    let fleet = source(&moto.endpoint, &auto_scaling.endpoint, &calls)
        .await
        .fetch()
        .await
        .expect("the fleet");

    assert_eq!(
        instance(&fleet, &web[0]).lifecycle,
        Lifecycle::in_group("web", LifecycleState::InService)
    );
    assert_eq!(
        instance(&fleet, &web[1]).lifecycle,
        Lifecycle::in_group("web", LifecycleState::Standby),
        "from the second page"
    );
    assert_eq!(auto_scaling.requests(), 2);
    assert_eq!(calls.auto_scaling.answered.get(), 2, "both pages counted");
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_scaling_paging_without_end_is_cut_off_and_the_last_lifecycle_kept() {
    let moto = Moto::start();
    let web = Groups::new(&moto, REGION).create("web", 2).await;
    let endless = Arc::new(AtomicBool::new(false));
    let pages = AtomicUsize::new(0);
    let (first, paging) = (web[0].clone(), Arc::clone(&endless));
    let auto_scaling = Stub::start(move |_| {
        if paging.load(Ordering::SeqCst) {
            // A new token every time: only the page cap stops it.
            let token = format!("page-{}", pages.fetch_add(1, Ordering::SeqCst));
            groups_page(&[], Some(&token))
        } else {
            groups_page(&[(&first, "Standby")], None)
        }
    });
    let calls = ApiCalls::default();
    let source = source(&moto.endpoint, &auto_scaling.endpoint, &calls).await;
    let standby = Lifecycle::in_group("web", LifecycleState::Standby);
    let before = source.fetch().await.expect("the first fleet");
    assert_eq!(instance(&before, &web[0]).lifecycle, standby);

    endless.store(true, Ordering::SeqCst);
    let fleet = source
        .fetch()
        .await
        .expect("the fleet, Auto Scaling paging on");

    assert_eq!(fleet.instances.len(), 2);
    assert_eq!(instance(&fleet, &web[0]).lifecycle, standby, "kept");
    assert_eq!(
        auto_scaling.requests(),
        1 + AUTO_SCALING_MAX_PAGES_PER_BATCH,
        "pages asked for before giving up"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn resolve_asks_auto_scaling_where_the_environment_says_and_members_carry_the_lifecycle() {
    let moto = Moto::start();
    let monitors = Fleet::new(&moto, REGION).group("eg-monitor").await;
    let groups = Groups::new(&moto, REGION);
    let web = groups.create_in("web", 2, &[monitors]).await;
    groups.standby("web", &web[0], true).await;

    // EC2 at --endpoint-url alone; Auto Scaling where the SDK's
    // environment says, as in production.
    let mut resolve = rollcall_command(None);
    resolve
        .arg("resolve")
        .args(["--region", REGION, "--endpoint-url", &moto.endpoint])
        .args(["--plugin", ELASTIC_GRID, "--self", &web[1]])
        .envs(kit::CREDENTIALS)
        .env("AWS_ENDPOINT_URL_AUTO_SCALING", &moto.endpoint);
    let answer = run_within(Duration::from_secs(60), resolve).json();
    let serving = member(&answer, &web[1]);
    assert_eq!(serving["lifecycle"], "in-service", "{serving}");
    assert_eq!(serving["auto_scaling_group"], "web", "{serving}");
    assert_eq!(member(&answer, &web[0])["lifecycle"], "standby", "{answer}");
}
