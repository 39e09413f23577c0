//! The reader against the SDK's own reading of the same pages, against
//! the JSON reader on the same fleet, and against the page guard on every
//! page it must refuse.

use super::*;
use crate::inventory::page_guard::check_document;
use crate::inventory::page_reader::PageReader;
use crate::inventory::{Instance, Lifecycle, SecurityGroup, Tag, read_describe_instances};
use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::retry::RetryConfig;
use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput;
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

/// A fleet recorded from moto: two reservations of IPv6 instances, one
/// without, one stopped, one terminated; tags with entities and an empty
/// value. Its JSON twin is what the AWS CLI printed of the same fleet.
const MOTO_XML: &str = include_str!("../../../../tests/fixtures/describe-instances-moto.xml");
const MOTO_JSON: &str = include_str!("../../../../tests/fixtures/describe-instances-moto.json");
/// Every member rollcall reads, given every way the reader must take.
const EVERY_FIELD: &str =
    include_str!("../../../../tests/fixtures/describe-instances-every-field.xml");
const REGION: &str = "eu-west-1";

/// An HTTP connector that answers every request with `body`.
#[derive(Debug)]
struct Answer(bytes::Bytes);

impl HttpConnector for Answer {
    fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
        let status = StatusCode::try_from(200).expect("200 is a status");
        HttpConnectorFuture::ready(Ok(HttpResponse::new(status, SdkBody::from(self.0.clone()))))
    }
}

/// DescribeInstances through the SDK, EC2 answering `body`; through
/// `reader` when given.
async fn describe(body: &str, reader: Option<&PageReader>) -> DescribeInstancesOutput {
    let connector =
        SharedHttpConnector::new(Answer(bytes::Bytes::copy_from_slice(body.as_bytes())));
    let config = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("AKID", "secret", None, None, "test"))
        .http_client(http_client_fn(move |_, _| connector.clone()))
        .retry_config(RetryConfig::disabled())
        .build();
    let call = Client::from_conf(config).describe_instances().customize();
    let call = match reader {
        Some(reader) => call.interceptor(reader.clone()),
        None => call,
    };
    call.send().await.expect("the SDK reads the page")
}

/// What the SDK path made of a page before this reader: the SDK's types,
/// then the host's model (`ec2.rs`'s `from_sdk` as it was).
async fn through_the_sdk(body: &str) -> Vec<Instance> {
    let present = |value: Option<String>| value.filter(|value| !value.is_empty());
    let page = describe(body, None).await;
    let mut instances = Vec::new();
    for reservation in page.reservations.unwrap_or_default() {
        let account = present(reservation.owner_id);
        for instance in reservation.instances.unwrap_or_default() {
            let mut ipv6_addresses: Vec<String> = Vec::new();
            let interfaces = instance
                .network_interfaces
                .unwrap_or_default()
                .into_iter()
                .flat_map(|interface| interface.ipv6_addresses.unwrap_or_default())
                .map(|address| address.ipv6_address);
            for address in std::iter::once(instance.ipv6_address)
                .chain(interfaces)
                .filter_map(present)
            {
                if !ipv6_addresses.contains(&address) {
                    ipv6_addresses.push(address);
                }
            }
            instances.push(Instance {
                id: instance.instance_id.unwrap_or_default(),
                state: instance
                    .state
                    .and_then(|state| state.name)
                    .map(|name| name.as_str().to_owned())
                    .unwrap_or_default(),
                private_ipv4: present(instance.private_ip_address),
                public_ipv4: present(instance.public_ip_address),
                private_dns_name: present(instance.private_dns_name),
                public_dns_name: present(instance.public_dns_name),
                ipv6_addresses,
                security_groups: instance
                    .security_groups
                    .unwrap_or_default()
                    .into_iter()
                    .map(|group| SecurityGroup {
                        id: group.group_id.unwrap_or_default(),
                        name: group.group_name.unwrap_or_default(),
                        owner: account.clone(),
                    })
                    .collect(),
                tags: instance
                    .tags
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|tag| Some(Tag::new(tag.key?, tag.value.unwrap_or_default())))
                    .collect(),
                availability_zone: present(instance.placement.and_then(|p| p.availability_zone)),
                region: Some(REGION.to_owned()),
                vpc_id: present(instance.vpc_id),
                subnet_id: present(instance.subnet_id),
                instance_type: instance.instance_type.map(|kind| kind.as_str().to_owned()),
                image_id: present(instance.image_id),
                launch_time: instance
                    .launch_time
                    .and_then(|at| at.fmt(DateTimeFormat::DateTime).ok()),
                account: account.clone(),
                lifecycle: Lifecycle::default(),
                leaving: None,
            });
        }
    }
    // The model's columns hold an empty text as "not reported".
    Fleet::from_instances(&instances).unwrap().instances()
}

fn read_instances(body: &str) -> Vec<Instance> {
    read_page(body.as_bytes(), REGION)
        .unwrap()
        .fleet
        .instances()
}

#[tokio::test]
async fn a_page_recorded_from_moto_reads_as_the_sdk_read_it() {
    let read = read_instances(MOTO_XML);
    assert_eq!(read.len(), 5);
    assert!(
        read.iter()
            .any(|instance| instance.ipv6_addresses.len() == 2)
    );
    assert_eq!(read, through_the_sdk(MOTO_XML).await);
}

#[tokio::test]
async fn every_field_of_a_hand_written_page_reads_as_the_sdk_read_it() {
    let read = read_instances(EVERY_FIELD);
    assert_eq!(read, through_the_sdk(EVERY_FIELD).await);
    // What the comparison covers, said once by hand.
    let ids: Vec<&str> = read.iter().map(|instance| instance.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "i-0000000000000000a",
            "i-0000000000000000b",
            "i-0000000000000000c",
            "i-0000000000000000d"
        ]
    );
    let first = &read[0];
    assert_eq!(first.ipv6_addresses, ["2600::1", "2600::2", "2600::3"]);
    assert_eq!(first.tags[0].value, "a <b> \"c\" 'd' \u{2603}");
    assert_eq!(first.security_groups[1].name, "caf\u{e9} & co");
    assert_eq!(
        first.security_groups[1].owner.as_deref(),
        Some("111122223333")
    );
    assert_eq!(first.launch_time.as_deref(), Some("2026-12-07T23:24:03Z"));
    assert_eq!(read[1].tags, [Tag::new("Name", "given again")]);
    assert_eq!(read[1].image_id.as_deref(), Some("ami-2"));
    assert_eq!(
        read[1].launch_time.as_deref(),
        Some("2026-01-02T01:04:05.5Z")
    );
    // The owner comes after the reservation's instances.
    assert_eq!(read[2].account.as_deref(), Some("444455556666"));
    assert_eq!(
        read[2].security_groups[0].owner.as_deref(),
        Some("444455556666")
    );
    assert_eq!(read[3].account, None);
    let page = read_page(EVERY_FIELD.as_bytes(), REGION).unwrap();
    assert_eq!(page.next_token.as_deref(), Some("next & page"));
}

#[test]
fn cdata_and_text_split_by_comments_read_as_xml_means() {
    let page = EVERY_FIELD.replace(
        "<value>first</value>",
        "<value>a<![CDATA[<b> & ]]>c<!-- no -->&amp;d</value>",
    );
    let page = page.replace(
        "<tagSet><item><key>Name</key><value>given again</value></item></tagSet>",
        "",
    );
    assert_eq!(
        read_instances(&page)[1].tags,
        [Tag::new("Name", "a<b> & c&d")]
    );
}

/// The drift test: what the AWS CLI printed of a fleet (JSON), read by
/// `resolve --inventory`'s reader, and what EC2 answered (XML), read by
/// the live path's, are the same fleet, every field of every instance.
#[test]
fn the_json_and_xml_readers_give_the_same_fleet() {
    let xml = read_page(MOTO_XML.as_bytes(), REGION).unwrap().fleet;
    let json = read_describe_instances(MOTO_JSON.as_bytes()).unwrap();
    assert_eq!(xml.len(), 5);
    assert_eq!(json.len(), 5);
    let xml = xml.instances();
    let mut json = json.instances();
    for instance in &mut json {
        // The AWS CLI prints no region; rollcall's recordings add it.
        instance.region = Some(REGION.to_owned());
        // The AWS CLI prints `+00:00` where the SDK wrote `Z`: the same
        // instant.
        if let Some(at) = &instance.launch_time {
            let mut scratch = String::new();
            let text = launch_time(Text::Body(at), &mut scratch).unwrap();
            instance.launch_time = text.get(&scratch).map(str::to_owned);
        }
    }
    assert_eq!(xml, json);
}

#[test]
fn launch_times_are_written_as_the_sdk_wrote_them() {
    for given in [
        "2026-12-07T23:24:03Z",
        "2026-12-07T23:24:03.000Z",
        "2026-12-07T23:24:03.5Z",
        "2026-12-07T23:24:03.123456789Z",
        "2026-12-07T23:24:03.000001Z",
        "2026-12-07T23:24:03+00:00",
        "2026-12-07T01:24:03-05:30",
        "2026-12-07t23:24:03z",
    ] {
        let sdk = DateTime::from_str(given, DateTimeFormat::DateTimeWithOffset)
            .unwrap()
            .fmt(DateTimeFormat::DateTime)
            .unwrap();
        let mut scratch = String::new();
        let text = launch_time(Text::Body(given), &mut scratch).unwrap();
        assert_eq!(text.get(&scratch), Some(sdk.as_str()), "{given}");
    }
    for refused in [
        "",
        "yesterday",
        "2026-12-07 23:24:03Z",
        "2026-13-07T23:24:03Z",
    ] {
        assert!(
            launch_time(Text::Body(refused), &mut String::new()).is_err(),
            "{refused}"
        );
    }
}

#[tokio::test]
async fn the_sdk_deserialises_only_the_next_token() {
    let reader = PageReader::new(REGION);
    let output = describe(EVERY_FIELD, Some(&reader)).await;
    assert_eq!(output.reservations, None);
    assert_eq!(output.next_token.as_deref(), Some("next & page"));
    let page = reader.take().unwrap().unwrap();
    assert_eq!(page.fleet.instances(), read_instances(EVERY_FIELD));
}

/// What the page guard says of `body`, which the reader must say too.
fn guard(body: &[u8]) -> PageFault {
    check_document(body, ROOT).expect_err("the guard refuses the body")
}

#[test]
fn every_cut_of_a_page_is_refused_as_the_guard_refuses_it() {
    for page in [EVERY_FIELD, MOTO_XML] {
        let whole = page.trim_end().as_bytes();
        for cut in 1..whole.len() {
            let body = &whole[..cut];
            match read_page(body, REGION) {
                Err(fault) => assert_eq!(fault, guard(body), "cut at {cut}"),
                Ok(page) => panic!("cut at {cut} read as {} instances", page.fleet.len()),
            }
        }
    }
}

#[test]
fn tags_that_do_not_match_are_refused() {
    for garbled in [
        EVERY_FIELD.replace("</instanceId>", "</instanceIdX>"),
        EVERY_FIELD.replacen("</item>", "</ITEM>", 3),
        EVERY_FIELD.replace("<vpcId>vpc-1</vpcId>", "<vpcId>vpc-1</subnetId>"),
        format!("{EVERY_FIELD}<DescribeInstancesResponse/>"),
        format!("{EVERY_FIELD}</DescribeInstancesResponse>"),
        format!("{EVERY_FIELD}trailing"),
    ] {
        let fault = read_page(garbled.as_bytes(), REGION).unwrap_err();
        match check_document(garbled.as_bytes(), ROOT) {
            Err(guarded) => assert_eq!(fault, guarded),
            Ok(()) => assert!(matches!(fault, PageFault::Malformed { .. }), "{fault}"),
        }
    }
}

#[test]
fn what_is_not_a_page_is_named_as_the_guard_names_it() {
    let bodies: [&[u8]; 7] = [
        b"",
        b" \r\n",
        b"<!DOCTYPE html>\n<html><body>Bad gateway</body></html>",
        b"{\"Reservations\": []}",
        b"\xff\xfe garbage",
        b"<?xml version=\"1.0\"?>\n<Response><Errors><Error><Code>Unavailable</Code>\
          <Message>try later</Message></Error></Errors></Response>",
        b"<DescribeInstancesResponse><nextToken>&bogus;</nextToken></DescribeInstancesResponse>",
    ];
    for body in bodies {
        let fault = read_page(body, REGION).unwrap_err();
        match check_document(body, ROOT) {
            Err(guarded) => assert_eq!(fault, guarded, "{body:?}"),
            Ok(()) => assert!(matches!(fault, PageFault::Malformed { .. }), "{body:?}"),
        }
    }
    assert!(matches!(
        read_page(bodies[5], REGION),
        Err(PageFault::ErrorDocument { .. })
    ));
}

#[test]
fn an_empty_page_has_no_instances_and_its_token() {
    let page = read_page(
        b"<DescribeInstancesResponse><reservationSet/><nextToken>t</nextToken>\
          </DescribeInstancesResponse>",
        REGION,
    )
    .unwrap();
    assert!(page.fleet.is_empty());
    assert_eq!(page.next_token.as_deref(), Some("t"));
    let last = read_page(b"<DescribeInstancesResponse/>", REGION).unwrap();
    assert_eq!((last.fleet.len(), last.next_token), (0, None));
}
