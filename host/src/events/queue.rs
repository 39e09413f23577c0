//! The queue the fleet's events arrive in, as a trait ([`EventQueue`]): a
//! long-polling receive and a batched delete. [`SqsQueue`] does them on
//! SQS; [`MemoryQueue`] in memory, for the tests and the fleet simulation,
//! with SQS's visibility timeout on tokio's clock.
//!
//! Delivery is at least once: a message received and not deleted comes
//! back once its visibility timeout passes, so a reader deletes only what
//! it has written into the snapshot. A body over [`MAX_BODY_BYTES`] is
//! dropped as it is received (a WARN says so) and its message handed on
//! with an empty body, so that its receipt is deleted like any other and a
//! poison message does not come back for ever.
//!
//! Every SQS request has deadlines ([`Deadlines`]), the long poll's wait
//! added to them. A custom endpoint (`[events] endpoint_url`,
//! `AWS_ENDPOINT_URL_SQS`, `AWS_ENDPOINT_URL`) replaces SQS's.

use super::message::MAX_BODY_BYTES;
use crate::inventory::printable;
use crate::settings::QueueUrl;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::Region;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use bytes::Bytes;
#[cfg(any(test, feature = "internals"))]
use std::sync::atomic::{AtomicU64, Ordering};
#[cfg(any(test, feature = "internals"))]
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// The longest long poll SQS allows (`WaitTimeSeconds`).
pub const MAX_WAIT: Duration = Duration::from_secs(20);
/// The most messages one `ReceiveMessage` returns.
pub const MAX_RECEIVE_BATCH: usize = 10;
/// The most receipts one `DeleteMessageBatch` takes.
pub const MAX_DELETE_BATCH: usize = 10;

/// One message received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// What deletes it: valid until its visibility timeout passes.
    pub receipt: String,
    /// The body, at most [`MAX_BODY_BYTES`]; empty when it was larger (and
    /// dropped), or empty to begin with.
    pub body: Bytes,
    /// When the queue took it in, when it says.
    pub sent_at: Option<SystemTime>,
}

/// Why the queue could not be used. Callers branch on the kind: a denial
/// or a missing queue lasts until an operator acts (say so once, refresh
/// by periods meanwhile); anything else may pass.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// The credentials may not use the queue, or were refused.
    #[error("{0}")]
    Denied(String),
    /// There is no such queue.
    #[error("{0}")]
    Missing(String),
    /// Throttled, unreachable, too slow, or a server error.
    #[error("{0}")]
    Transient(String),
}

impl QueueError {
    /// Whether retrying without an operator's change cannot help: a denial
    /// or a missing queue.
    pub fn is_lasting(&self) -> bool {
        matches!(self, QueueError::Denied(_) | QueueError::Missing(_))
    }
}

/// The queue, as the refresh reads it.
#[async_trait::async_trait]
pub trait EventQueue: Send + Sync {
    /// Where the events come from, for people: the queue's URL.
    fn describe(&self) -> String;

    /// Waits up to `wait` (at most [`MAX_WAIT`]) for messages, and returns
    /// those that arrived, at most `max` (and at most [`MAX_RECEIVE_BATCH`]):
    /// one request, empty when none came in time.
    async fn receive(&self, wait: Duration, max: usize) -> Result<Vec<Message>, QueueError>;

    /// Deletes the messages of `receipts`, [`MAX_DELETE_BATCH`] a request;
    /// a receipt that no longer holds a message is no error.
    async fn delete(&self, receipts: &[String]) -> Result<(), QueueError>;
}

/// How long one request to the queue may take; a long poll has its wait
/// on top of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// To establish a connection (`--connect-timeout`).
    pub connect: Duration,
    /// From sending a request to the first byte of its answer, per attempt
    /// (`--attempt-timeout`).
    pub first_byte: Duration,
    /// The whole request, retries included (`--fetch-timeout`).
    pub total: Duration,
}

impl Deadlines {
    /// The SDK's timeouts for a request that waits `wait` before it is
    /// answered.
    fn timeouts(&self, wait: Duration) -> aws_config::timeout::TimeoutConfig {
        aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .read_timeout(self.first_byte.saturating_add(wait))
            .operation_attempt_timeout(self.first_byte.saturating_add(wait))
            .operation_timeout(self.total.saturating_add(wait))
            .build()
    }
}

/// The queue on SQS.
pub struct SqsQueue {
    client: Client,
    url: String,
    /// The URL, and the endpoint when it is not AWS's.
    described: String,
    deadlines: Deadlines,
}

impl SqsQueue {
    /// The queue at `queue` with the credentials, retries and region of
    /// `config` (the region the URL names, when it names one), and
    /// `deadlines`; `endpoint_url` overrides the endpoint. Nothing is sent
    /// yet.
    pub fn new(
        config: &aws_config::SdkConfig,
        queue: &QueueUrl,
        endpoint_url: Option<&str>,
        deadlines: Deadlines,
    ) -> SqsQueue {
        let mut builder = aws_sdk_sqs::config::Builder::from(config)
            .timeout_config(deadlines.timeouts(Duration::ZERO));
        if let Some(region) = queue.region() {
            builder = builder.region(Region::new(region.to_owned()));
        }
        let custom_endpoint = endpoint_url
            .map(str::to_owned)
            .or_else(|| std::env::var("AWS_ENDPOINT_URL_SQS").ok())
            .or_else(|| config.endpoint_url().map(str::to_owned));
        if let Some(endpoint) = &custom_endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        let described = match &custom_endpoint {
            Some(endpoint) => format!("{queue} at {endpoint}"),
            None => queue.to_string(),
        };
        SqsQueue {
            client: Client::from_conf(builder.build()),
            url: queue.to_string(),
            described,
            deadlines,
        }
    }

    /// `request`, or a time-out naming what took too long.
    async fn within<T>(
        &self,
        doing: &str,
        limit: Duration,
        request: impl Future<Output = Result<T, QueueError>>,
    ) -> Result<T, QueueError> {
        tokio::time::timeout(limit, request)
            .await
            .unwrap_or_else(|_| {
                Err(QueueError::Transient(format!(
                    "{doing} {}: no whole answer within {}",
                    self.described,
                    humantime::format_duration(limit)
                )))
            })
    }

    /// What failed, for people, and of which kind.
    fn failure<E>(&self, doing: &str, err: &SdkError<E>) -> QueueError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let SdkError::ServiceError(service) = err else {
            let detail = match err {
                SdkError::TimeoutError(_) => "timed out".to_owned(),
                SdkError::DispatchFailure(failure) if failure.is_io() => {
                    "cannot reach the endpoint".to_owned()
                }
                other => crate::report::error_chain(other),
            };
            // No credentials yet (an instance role not served yet) may pass
            // like any failure to send.
            return QueueError::Transient(format!("{doing} {}: {detail}", self.described));
        };
        let inner = service.err();
        let status = service.raw().status().as_u16();
        let code = printable(inner.code().unwrap_or(""), 100);
        let message = match inner.message() {
            Some(message) => printable(message, 300),
            // Not an SQS error document: what came back, in short.
            None if code.is_empty() => {
                let body = service.raw().body().bytes().unwrap_or_default();
                printable(&String::from_utf8_lossy(body), 300)
            }
            None => String::new(),
        };
        let said = format!(
            "{doing} {}: {}HTTP {status}{}",
            self.described,
            if code.is_empty() {
                String::new()
            } else {
                format!("{code}, ")
            },
            if message.is_empty() {
                String::new()
            } else {
                format!(": {message}")
            }
        );
        match code.as_str() {
            // Forbidden, whatever the body says.
            "" if status == 403 => {
                QueueError::Denied(format!("{said}; the credentials may not use the queue"))
            }
            "AccessDenied" | "AccessDeniedException" | "KMS.AccessDeniedException" => {
                QueueError::Denied(format!(
                    "{said}; a node needs sqs:ReceiveMessage and sqs:DeleteMessage on the queue"
                ))
            }
            "InvalidClientTokenId"
            | "SignatureDoesNotMatch"
            | "UnrecognizedClientException"
            | "InvalidSecurity"
            | "MissingAuthenticationToken" => QueueError::Denied(format!(
                "{said}; the queue's endpoint refused the credentials"
            )),
            "QueueDoesNotExist"
            | "AWS.SimpleQueueService.NonExistentQueue"
            | "AWS.SimpleQueueService.QueueDeletedRecently"
            | "QueueDeletedRecently"
            | "InvalidAddress" => QueueError::Missing(format!(
                "{said}; check [events] queue (the URL CloudFormation's stack outputs)"
            )),
            _ => QueueError::Transient(said),
        }
    }
}

#[async_trait::async_trait]
impl EventQueue for SqsQueue {
    fn describe(&self) -> String {
        self.described.clone()
    }

    /// One `ReceiveMessage` of up to 10 messages, waiting up to 20 s.
    async fn receive(&self, wait: Duration, max: usize) -> Result<Vec<Message>, QueueError> {
        let max = max.min(MAX_RECEIVE_BATCH);
        if max == 0 {
            return Ok(Vec::new());
        }
        // SQS waits whole seconds.
        let wait = Duration::from_secs(wait.min(MAX_WAIT).as_secs());
        let request = async {
            let answer = self
                .client
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(max as i32)
                .wait_time_seconds(wait.as_secs() as i32)
                .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
                .customize()
                .config_override(
                    aws_sdk_sqs::config::Builder::default()
                        .timeout_config(self.deadlines.timeouts(wait)),
                )
                .send()
                .await
                .map_err(|err| self.failure("receiving from", &err))?;
            let mut messages = Vec::new();
            for message in answer.messages.unwrap_or_default().into_iter().take(max) {
                // A message without a receipt cannot be deleted, and there
                // is nothing else to do with it.
                let Some(receipt) = message.receipt_handle.filter(|r| !r.is_empty()) else {
                    continue;
                };
                let sent_at = message
                    .attributes
                    .as_ref()
                    .and_then(|attributes| {
                        attributes.get(&MessageSystemAttributeName::SentTimestamp)
                    })
                    .and_then(|millis| millis.parse::<u64>().ok())
                    .and_then(|millis| {
                        SystemTime::UNIX_EPOCH.checked_add(Duration::from_millis(millis))
                    });
                let body = Bytes::from(message.body.unwrap_or_default());
                messages.push(Message {
                    body: bounded(&self.described, body),
                    receipt,
                    sent_at,
                });
            }
            Ok(messages)
        };
        self.within(
            "receiving from",
            self.deadlines.total.saturating_add(wait),
            request,
        )
        .await
    }

    async fn delete(&self, receipts: &[String]) -> Result<(), QueueError> {
        for batch in receipts.chunks(MAX_DELETE_BATCH) {
            let request = async {
                let entries = batch
                    .iter()
                    .enumerate()
                    .map(|(index, receipt)| {
                        DeleteMessageBatchRequestEntry::builder()
                            .id(index.to_string())
                            .receipt_handle(receipt)
                            .build()
                            .map_err(|err| {
                                QueueError::Transient(format!(
                                    "deleting from {}: {err}",
                                    self.described
                                ))
                            })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let answer = self
                    .client
                    .delete_message_batch()
                    .queue_url(&self.url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|err| self.failure("deleting from", &err))?;
                // A receipt whose message is gone already (deleted, or its
                // visibility over and received again) cannot fail the rest.
                let failed: Vec<_> = answer
                    .failed()
                    .iter()
                    .filter(|entry| entry.code() != "ReceiptHandleIsInvalid")
                    .collect();
                match failed.first() {
                    None => Ok(()),
                    Some(first) => Err(QueueError::Transient(format!(
                        "deleting from {}: {} of {} messages were not deleted ({}: {})",
                        self.described,
                        failed.len(),
                        batch.len(),
                        printable(first.code(), 100),
                        printable(first.message().unwrap_or(""), 300)
                    ))),
                }
            };
            self.within("deleting from", self.deadlines.total, request)
                .await?;
        }
        Ok(())
    }
}

/// `body`, or nothing if it is larger than an event may be (said once, as
/// a WARN).
fn bounded(queue: &str, body: Bytes) -> Bytes {
    if body.len() <= MAX_BODY_BYTES {
        return body;
    }
    tracing::warn!(
        queue,
        bytes = body.len(),
        limit = MAX_BODY_BYTES,
        "A message larger than an event may be was dropped unread; it is deleted with the others."
    );
    Bytes::new()
}

/// The requests a [`MemoryQueue`] answered.
#[cfg(any(test, feature = "internals"))]
#[derive(Debug, Default)]
pub struct QueueCounts {
    /// Receive requests.
    pub receives: AtomicU64,
    /// Messages handed out, counting each time a message came back.
    pub received: AtomicU64,
    /// Delete requests (one per [`MAX_DELETE_BATCH`] receipts).
    pub deletes: AtomicU64,
    /// Messages deleted.
    pub deleted: AtomicU64,
    /// Requests that failed on purpose ([`MemoryQueue::fail_with`]).
    pub failed: AtomicU64,
}

/// A queue in memory, with SQS's visibility timeout on tokio's clock (so
/// `tokio::time::pause()` makes at-least-once delivery testable); it can be
/// made to fail, and counts its requests.
#[cfg(any(test, feature = "internals"))]
pub struct MemoryQueue {
    shelf: Mutex<Shelf>,
    arrived: tokio::sync::Notify,
    visibility: Duration,
    failure: Mutex<Option<QueueError>>,
    pub counts: QueueCounts,
}

#[cfg(any(test, feature = "internals"))]
#[derive(Default)]
struct Shelf {
    next_id: u64,
    /// Not deleted yet, oldest first.
    held: Vec<Held>,
}

#[cfg(any(test, feature = "internals"))]
struct Held {
    id: u64,
    body: Bytes,
    sent_at: SystemTime,
    /// Hidden from receives until then.
    visible_at: tokio::time::Instant,
    /// The receipt of its latest receive: the only one that deletes it.
    receipt: Option<String>,
    receives: u64,
}

#[cfg(any(test, feature = "internals"))]
impl MemoryQueue {
    /// SQS's default visibility timeout.
    pub const DEFAULT_VISIBILITY: Duration = Duration::from_secs(30);

    /// An empty queue whose received messages stay hidden for
    /// `visibility`.
    pub fn new(visibility: Duration) -> MemoryQueue {
        MemoryQueue {
            shelf: Mutex::new(Shelf::default()),
            arrived: tokio::sync::Notify::new(),
            visibility,
            failure: Mutex::new(None),
            counts: QueueCounts::default(),
        }
    }

    /// Adds a message, visible at once; wakes a receive waiting for one.
    pub fn push(&self, body: impl Into<Bytes>) {
        {
            let mut shelf = self.shelf();
            let id = shelf.next_id;
            shelf.next_id += 1;
            shelf.held.push(Held {
                id,
                body: body.into(),
                sent_at: SystemTime::now(),
                visible_at: tokio::time::Instant::now(),
                receipt: None,
                receives: 0,
            });
        }
        self.arrived.notify_waiters();
    }

    /// Messages not deleted yet, hidden ones included.
    pub fn len(&self) -> usize {
        self.shelf().held.len()
    }

    /// Whether every message was deleted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes every request fail with `failure` (`None`: work again).
    pub fn fail_with(&self, failure: Option<QueueError>) {
        *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = failure;
    }

    fn shelf(&self) -> std::sync::MutexGuard<'_, Shelf> {
        self.shelf.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn check(&self) -> Result<(), QueueError> {
        match &*self.failure.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(failure) => {
                self.counts.failed.fetch_add(1, Ordering::Relaxed);
                Err(failure.clone())
            }
            None => Ok(()),
        }
    }

    /// Up to `max` visible messages, hidden from now on; and when the next
    /// hidden one shows again.
    fn take(&self, max: usize) -> (Vec<Message>, Option<tokio::time::Instant>) {
        let now = tokio::time::Instant::now();
        let mut shelf = self.shelf();
        let mut taken = Vec::new();
        for held in shelf.held.iter_mut() {
            if taken.len() == max {
                break;
            }
            if held.visible_at > now {
                continue;
            }
            held.receives += 1;
            held.visible_at = now + self.visibility;
            let receipt = format!("memory-{}-{}", held.id, held.receives);
            held.receipt = Some(receipt.clone());
            taken.push(Message {
                receipt,
                body: bounded("memory", held.body.clone()),
                sent_at: Some(held.sent_at),
            });
        }
        let next = shelf
            .held
            .iter()
            .map(|held| held.visible_at)
            .filter(|at| *at > now)
            .min();
        self.counts
            .received
            .fetch_add(taken.len() as u64, Ordering::Relaxed);
        (taken, next)
    }
}

#[cfg(any(test, feature = "internals"))]
#[async_trait::async_trait]
impl EventQueue for MemoryQueue {
    fn describe(&self) -> String {
        "memory".to_owned()
    }

    async fn receive(&self, wait: Duration, max: usize) -> Result<Vec<Message>, QueueError> {
        let max = max.min(MAX_RECEIVE_BATCH);
        if max == 0 {
            return Ok(Vec::new());
        }
        self.check()?;
        self.counts.receives.fetch_add(1, Ordering::Relaxed);
        let deadline = tokio::time::Instant::now() + wait.min(MAX_WAIT);
        loop {
            // Registered before looking, so that a push in between wakes it.
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let (taken, next_visible) = self.take(max);
            if !taken.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(taken);
            }
            let until = next_visible.map_or(deadline, |at| at.min(deadline));
            tokio::select! {
                _ = arrived => {}
                _ = tokio::time::sleep_until(until) => {}
            }
        }
    }

    async fn delete(&self, receipts: &[String]) -> Result<(), QueueError> {
        for batch in receipts.chunks(MAX_DELETE_BATCH) {
            self.check()?;
            self.counts.deletes.fetch_add(1, Ordering::Relaxed);
            let mut shelf = self.shelf();
            let before = shelf.held.len();
            shelf
                .held
                .retain(|held| !held.receipt.as_ref().is_some_and(|r| batch.contains(r)));
            let deleted = before - shelf.held.len();
            self.counts
                .deleted
                .fetch_add(deleted as u64, Ordering::Relaxed);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipts(messages: &[Message]) -> Vec<String> {
        messages.iter().map(|m| m.receipt.clone()).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_received_message_comes_back_after_its_visibility_unless_deleted() {
        let queue = MemoryQueue::new(Duration::from_secs(30));
        queue.push("one");
        let first = queue.receive(Duration::ZERO, 10).await.unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].body, "one");
        // Hidden while it is being handled.
        let started = tokio::time::Instant::now();
        assert!(
            queue
                .receive(Duration::from_secs(20), 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(started.elapsed(), Duration::from_secs(20));
        // Back after 30 s, under a new receipt: the old one deletes nothing.
        let again = queue.receive(Duration::from_secs(20), 10).await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(30));
        assert_eq!(again.len(), 1);
        assert_ne!(again[0].receipt, first[0].receipt);
        queue.delete(&receipts(&first)).await.unwrap();
        assert_eq!(queue.len(), 1, "a stale receipt deleted the message");
        queue.delete(&receipts(&again)).await.unwrap();
        assert!(queue.is_empty());
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(queue.receive(Duration::ZERO, 10).await.unwrap().is_empty());
        assert_eq!(queue.counts.received.load(Ordering::Relaxed), 2);
        assert_eq!(queue.counts.deleted.load(Ordering::Relaxed), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_poll_returns_when_a_message_arrives() {
        let queue = std::sync::Arc::new(MemoryQueue::new(MemoryQueue::DEFAULT_VISIBILITY));
        let pusher = queue.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            pusher.push("late");
        });
        let started = tokio::time::Instant::now();
        let messages = queue.receive(Duration::from_secs(20), 10).await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(3));
        assert_eq!(messages.len(), 1);
        // A wait past SQS's is SQS's.
        let started = tokio::time::Instant::now();
        assert!(
            queue
                .receive(Duration::from_secs(3600), 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(started.elapsed(), MAX_WAIT);
    }

    #[tokio::test(start_paused = true)]
    async fn receives_take_ten_at_most_and_deletes_go_ten_a_request() {
        let queue = MemoryQueue::new(MemoryQueue::DEFAULT_VISIBILITY);
        for n in 0..25 {
            queue.push(format!("{n}"));
        }
        assert!(queue.receive(Duration::ZERO, 0).await.unwrap().is_empty());
        assert_eq!(queue.counts.receives.load(Ordering::Relaxed), 0);
        let mut all = Vec::new();
        for _ in 0..3 {
            all.extend(queue.receive(Duration::ZERO, 100).await.unwrap());
        }
        let bodies: Vec<_> = all.iter().map(|m| m.body.clone()).collect();
        let expected: Vec<Bytes> = (0..25).map(|n| Bytes::from(format!("{n}"))).collect();
        assert_eq!(bodies, expected, "oldest first, ten a receive");
        queue.delete(&receipts(&all)).await.unwrap();
        assert_eq!(queue.counts.deletes.load(Ordering::Relaxed), 3);
        assert!(queue.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn an_oversized_body_arrives_empty_and_is_deleted_by_its_receipt() {
        let queue = MemoryQueue::new(MemoryQueue::DEFAULT_VISIBILITY);
        queue.push(vec![b'x'; MAX_BODY_BYTES + 1]);
        queue.push(vec![b'y'; MAX_BODY_BYTES]);
        let messages = queue.receive(Duration::ZERO, 10).await.unwrap();
        assert_eq!(messages[0].body, Bytes::new());
        assert_eq!(messages[1].body.len(), MAX_BODY_BYTES);
        assert!(crate::events::parse_event(&messages[0].body).is_err());
        queue.delete(&receipts(&messages)).await.unwrap();
        assert!(queue.is_empty(), "the poison message stays");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_queue_says_whether_it_lasts() {
        let queue = MemoryQueue::new(MemoryQueue::DEFAULT_VISIBILITY);
        queue.push("kept");
        queue.fail_with(Some(QueueError::Denied("AccessDenied".into())));
        let err = queue.receive(Duration::ZERO, 10).await.unwrap_err();
        assert!(err.is_lasting());
        queue.fail_with(Some(QueueError::Transient("throttled".into())));
        assert!(
            !queue
                .receive(Duration::ZERO, 10)
                .await
                .unwrap_err()
                .is_lasting()
        );
        assert!(QueueError::Missing("gone".into()).is_lasting());
        queue.fail_with(None);
        assert_eq!(queue.receive(Duration::ZERO, 10).await.unwrap().len(), 1);
        assert_eq!(queue.counts.failed.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_long_poll_gets_its_wait_on_top_of_each_deadline() {
        let deadlines = Deadlines {
            connect: Duration::from_secs(3),
            first_byte: Duration::from_secs(10),
            total: Duration::from_secs(120),
        };
        let timeouts = deadlines.timeouts(Duration::from_secs(20));
        assert_eq!(timeouts.connect_timeout(), Some(Duration::from_secs(3)));
        assert_eq!(timeouts.read_timeout(), Some(Duration::from_secs(30)));
        assert_eq!(
            timeouts.operation_attempt_timeout(),
            Some(Duration::from_secs(30))
        );
        assert_eq!(timeouts.operation_timeout(), Some(Duration::from_secs(140)));
    }
}
