//! The fleet's events in `moto_server`: an SQS queue made through the AWS
//! SDK ([`Queue`]), and EventBridge's default bus ([`Bus`]): a rule with an
//! event pattern, the queue as its target, events put on it. EventBridge's
//! three calls go as its JSON API over the kit's HTTP client, with an
//! `Authorization` header whose credential scope names the service and the
//! region (moto routes by it and checks no signature).

use crate::http::post_body;
use crate::servers::Moto;
use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Value, json};

/// An SQS queue in moto.
pub struct Queue {
    pub client: aws_sdk_sqs::Client,
    /// Its URL, as `CreateQueue` gave it.
    pub url: String,
    /// Its ARN, a rule's target.
    pub arn: String,
}

impl Queue {
    /// Creates the queue `name` in `region`.
    pub async fn create(moto: &Moto, region: &str, name: &str) -> Queue {
        let client = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(region.to_owned()))
                .endpoint_url(&moto.endpoint)
                .credentials_provider(Credentials::for_tests())
                .build(),
        );
        let url = client
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("a queue URL");
        let arn = client
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .and_then(|mut attributes| attributes.remove(&QueueAttributeName::QueueArn))
            .expect("the queue's ARN");
        Queue { client, url, arn }
    }

    /// Messages in the queue, received or not, not deleted (as SQS counts
    /// them: visible and in flight).
    pub async fn messages(&self) -> u64 {
        let attributes = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .unwrap_or_default();
        [
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        ]
        .iter()
        .map(|name| {
            attributes
                .get(name)
                .and_then(|count| count.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("{name:?} is a count"))
        })
        .sum()
    }

    /// Sends `body` to the queue as it is.
    pub async fn send(&self, body: &str) {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .expect("send message");
    }
}

/// EventBridge's default event bus in moto, in one region.
pub struct Bus {
    /// moto's `host:port`.
    address: String,
    region: String,
}

impl Bus {
    pub fn new(moto: &Moto, region: &str) -> Bus {
        let address = moto
            .endpoint
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        Bus {
            address,
            region: region.to_owned(),
        }
    }

    /// A rule named `name` with the event pattern `pattern`, sending what
    /// it matches to the target `arn` as the event itself.
    pub fn route(&self, name: &str, pattern: &Value, arn: &str) {
        self.call(
            "PutRule",
            json!({"Name": name, "EventPattern": pattern.to_string(), "State": "ENABLED"}),
        );
        // The whole event, as a target without a transformer gets it from
        // AWS. moto 5.2.5's own default leaves `account` out (its default
        // input template omits it); `<aws.events.event.json>`, the original
        // event as AWS defines it, keeps every field.
        let whole_event = json!({"InputTemplate": "<aws.events.event.json>"});
        let answer = self.call(
            "PutTargets",
            json!({"Rule": name, "Targets": [
                {"Id": "events-queue", "Arn": arn, "InputTransformer": whole_event}
            ]}),
        );
        assert_eq!(answer["FailedEntryCount"], 0, "PutTargets: {answer}");
    }

    /// Puts an event from `source` of `detail_type` with `detail` on the
    /// bus, at `time` (seconds since the epoch) about `resources`.
    pub fn put(
        &self,
        source: &str,
        detail_type: &str,
        detail: &Value,
        time: u64,
        resources: &[&str],
    ) {
        let answer = self.call(
            "PutEvents",
            json!({"Entries": [{
                "Source": source,
                "DetailType": detail_type,
                "Detail": detail.to_string(),
                "Time": time,
                "Resources": resources,
            }]}),
        );
        assert_eq!(answer["FailedEntryCount"], 0, "PutEvents: {answer}");
    }

    /// One call of EventBridge's JSON API: its answer, or a panic saying
    /// what came back.
    fn call(&self, action: &str, request: Value) -> Value {
        let target = format!("AWSEvents.{action}");
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential=testing/20260101/{}/events/aws4_request, \
             SignedHeaders=host;x-amz-target, Signature=0",
            self.region
        );
        let (status, body) = post_body(
            &self.address,
            "/",
            &[
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", &target),
                ("authorization", &authorization),
            ],
            request.to_string().into_bytes(),
        )
        .unwrap_or_else(|| panic!("moto did not answer {action} in time"));
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, 200, "{action}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|_| panic!("{action}: not JSON: {body}"))
    }
}
