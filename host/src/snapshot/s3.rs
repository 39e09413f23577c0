//! The object store on S3: a conditional GET (`If-None-Match: <etag>`, a 304
//! costs a few bytes), a PUT that is plain, first-writer-wins
//! (`If-None-Match: *`, every later writer gets 412) or compare-and-swap
//! (`If-Match: <etag>`), a ListObjectsV2 of a prefix (paginated, bounded in
//! keys) and a DELETE.
//!
//! Every request has deadlines ([`Deadlines`]): to connect, to the first
//! byte of the answer, and for the whole request, body included, so a store
//! that answers slowly or drips its body costs a bounded time. The body is
//! read under [`MAX_OBJECT_BYTES`] as the chunks arrive, joined only once
//! it is whole.
//!
//! A custom endpoint (`--s3-endpoint-url`, `AWS_ENDPOINT_URL_S3`,
//! `AWS_ENDPOINT_URL`) is addressed path-style, as moto and most
//! S3-compatible servers need.

use super::store::{Condition, Listed, ObjectStore, Read, StoreError, Written};
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// The largest snapshot object read: a 100,000-instance fleet compresses to
/// a few tens of MiB.
pub const MAX_OBJECT_BYTES: u64 = 256 << 20;

/// Keys a ListObjectsV2 page holds at most.
const KEYS_PER_PAGE: usize = 1000;

/// Pages a listing may take beyond the ones its keys need: S3 may answer a
/// page with fewer keys than asked, but a store that keeps paging past
/// these is not listing anything.
const SPARE_LIST_PAGES: usize = 8;

/// How long one request to the store may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// To establish a connection (`--connect-timeout`).
    pub connect: Duration,
    /// From sending a request to the first byte of its answer, per attempt
    /// (`--attempt-timeout`).
    pub first_byte: Duration,
    /// The whole request, retries and body included (`--fetch-timeout`).
    pub total: Duration,
}

pub struct S3Store {
    client: Client,
    bucket: String,
    /// `s3://bucket`, and the endpoint when it is not AWS's.
    described: String,
    total: Duration,
}

impl S3Store {
    /// A store on `bucket` with the credentials, region and retries of
    /// `config`, and `deadlines`; `endpoint_url` overrides the endpoint.
    pub fn new(
        config: &aws_config::SdkConfig,
        bucket: &str,
        endpoint_url: Option<&str>,
        deadlines: Deadlines,
    ) -> Arc<S3Store> {
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(deadlines.connect)
            .read_timeout(deadlines.first_byte)
            .operation_attempt_timeout(deadlines.first_byte)
            .operation_timeout(deadlines.total)
            .build();
        let mut builder = aws_sdk_s3::config::Builder::from(config).timeout_config(timeouts);
        let custom_endpoint = endpoint_url
            .map(str::to_owned)
            .or_else(|| std::env::var("AWS_ENDPOINT_URL_S3").ok())
            .or_else(|| config.endpoint_url().map(str::to_owned));
        if let Some(endpoint) = &custom_endpoint {
            builder = builder.endpoint_url(endpoint).force_path_style(true);
        }
        let described = match &custom_endpoint {
            Some(endpoint) => format!("s3://{bucket} at {endpoint}"),
            None => format!("s3://{bucket}"),
        };
        Arc::new(S3Store {
            client: Client::from_conf(builder.build()),
            bucket: bucket.to_owned(),
            described,
            total: deadlines.total,
        })
    }

    /// `request`, or a time-out naming what took too long.
    async fn within_deadline<T>(
        &self,
        doing: &str,
        key: &str,
        request: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.total, request)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError(format!(
                    "{doing} {}/{key}: no whole answer within {}",
                    self.described,
                    humantime::format_duration(self.total)
                )))
            })
    }

    /// Reads `key` unless its entity tag is `if_none_match`, as long as it
    /// holds at most `limit` bytes.
    async fn get_now(
        &self,
        key: &str,
        if_none_match: Option<&str>,
        limit: u64,
    ) -> Result<Read, StoreError> {
        let answer = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_if_none_match(if_none_match.map(str::to_owned))
            .send()
            .await;
        let output = match answer {
            Ok(output) => output,
            Err(err) => {
                return match status(&err) {
                    Some(304) => Ok(Read::NotModified),
                    Some(404) => Ok(Read::Missing),
                    _ => Err(self.failure("reading", key, &err)),
                };
            }
        };
        let oversized = Read::Oversized { limit };
        let length = output.content_length().unwrap_or(0);
        if u64::try_from(length).is_ok_and(|length| length > limit) {
            return Ok(oversized);
        }
        let etag = output.e_tag().unwrap_or_default().to_owned();
        let mut stream = output.body;
        // The chunks as they arrive, never copied until the whole body is
        // in: a body past the cap costs the cap, whatever length it claims.
        let mut chunks = Vec::new();
        let mut total: u64 = 0;
        while let Some(chunk) = stream.try_next().await.map_err(|err| {
            StoreError(format!(
                "reading {}/{key}: the body was cut: {}",
                self.described,
                crate::report::error_chain(&err)
            ))
        })? {
            total = total.saturating_add(chunk.len() as u64);
            if total > limit {
                return Ok(oversized);
            }
            chunks.push(chunk);
        }
        let body = match chunks.len() {
            1 => chunks.pop().unwrap_or_default(),
            _ => {
                let mut body = bytes::BytesMut::with_capacity(usize::try_from(total).unwrap_or(0));
                for chunk in chunks {
                    body.extend_from_slice(&chunk);
                }
                body.freeze()
            }
        };
        Ok(Read::Found { body, etag })
    }

    /// What failed, for people: the service's code and message, or why the
    /// request did not get an answer.
    fn failure<E>(&self, doing: &str, key: &str, err: &SdkError<E>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let detail = match err {
            SdkError::ServiceError(service) => {
                let inner = service.err();
                let status = service.raw().status().as_u16();
                match (inner.code(), inner.message()) {
                    (Some(code), Some(message)) => format!("{code} (HTTP {status}): {message}"),
                    (Some(code), None) => format!("{code} (HTTP {status})"),
                    _ => format!("HTTP {status}"),
                }
            }
            SdkError::TimeoutError(_) => "timed out".to_owned(),
            SdkError::DispatchFailure(failure) if failure.is_io() => {
                "cannot reach the endpoint".to_owned()
            }
            other => crate::report::error_chain(other),
        };
        StoreError(format!("{doing} {}/{key}: {detail}", self.described))
    }
}

/// The HTTP status of a failed request that got an answer.
fn status<E, R>(err: &SdkError<E, R>) -> Option<u16>
where
    R: HasStatus,
{
    err.raw_response().map(HasStatus::status)
}

/// The status of a raw SDK response.
trait HasStatus {
    fn status(&self) -> u16;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }
}

#[async_trait::async_trait]
impl ObjectStore for S3Store {
    fn describe(&self) -> String {
        self.described.clone()
    }

    async fn get(&self, key: &str, if_none_match: Option<&str>) -> Result<Read, StoreError> {
        self.within_deadline(
            "reading",
            key,
            self.get_now(key, if_none_match, MAX_OBJECT_BYTES),
        )
        .await
    }

    async fn get_within(
        &self,
        key: &str,
        if_none_match: Option<&str>,
        limit: u64,
    ) -> Result<Read, StoreError> {
        self.within_deadline("reading", key, self.get_now(key, if_none_match, limit))
            .await
    }

    /// ListObjectsV2, a page of at most 1,000 keys at a time, until `limit`
    /// keys or the last page; a continuation token seen before, or more
    /// pages than the keys need (plus [`SPARE_LIST_PAGES`]), is an error.
    async fn list(&self, prefix: &str, limit: usize) -> Result<Vec<Listed>, StoreError> {
        let request =
            async {
                let mut listed = Vec::new();
                let mut tokens = HashSet::new();
                let mut token: Option<String> = None;
                let max_pages = limit.div_ceil(KEYS_PER_PAGE) + SPARE_LIST_PAGES;
                let mut pages = 0;
                while listed.len() < limit {
                    pages += 1;
                    if pages > max_pages {
                        return Err(StoreError(format!(
                            "listing {}/{prefix}: still paging after {max_pages} pages",
                            self.described
                        )));
                    }
                    let page_size = (limit - listed.len()).min(KEYS_PER_PAGE);
                    let page = self
                        .client
                        .list_objects_v2()
                        .bucket(&self.bucket)
                        .prefix(prefix)
                        .max_keys(i32::try_from(page_size).unwrap_or(1000))
                        .set_continuation_token(token.take())
                        .send()
                        .await
                        .map_err(|err| self.failure("listing", prefix, &err))?;
                    listed.extend(page.contents.unwrap_or_default().into_iter().filter_map(
                        |object| {
                            Some(Listed {
                                key: object.key?,
                                etag: object.e_tag.unwrap_or_default(),
                                // Unknown: the read's own cap still holds.
                                size: object
                                    .size
                                    .and_then(|size| u64::try_from(size).ok())
                                    .unwrap_or(0),
                                modified: object
                                    .last_modified
                                    .and_then(|at| std::time::SystemTime::try_from(at).ok()),
                            })
                        },
                    ));
                    match page
                        .next_continuation_token
                        .filter(|_| page.is_truncated == Some(true))
                    {
                        None => break,
                        Some(next) if !tokens.insert(next.clone()) => {
                            return Err(StoreError(format!(
                                "listing {}/{prefix}: the same continuation token came twice",
                                self.described
                            )));
                        }
                        Some(next) => token = Some(next),
                    }
                }
                listed.truncate(limit);
                Ok(listed)
            };
        self.within_deadline("listing", prefix, request).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let request = async {
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .map(|_| ())
                .map_err(|err| self.failure("deleting", key, &err))
        };
        self.within_deadline("deleting", key, request).await
    }

    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        when: Condition<'_>,
    ) -> Result<Written, StoreError> {
        let (if_none_match, if_match) = match when {
            Condition::Always => (None, None),
            Condition::IfAbsent => (Some("*".to_owned()), None),
            Condition::IfMatch(etag) => (None, Some(etag.to_owned())),
        };
        let conditional = when != Condition::Always;
        let request = async {
            let answer = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .body(ByteStream::from(body))
                .set_if_none_match(if_none_match)
                .set_if_match(if_match)
                .send()
                .await;
            match answer {
                Ok(output) => Ok(Written::Stored { etag: output.e_tag }),
                // 409: another conditional write of the key is in flight;
                // 404: `If-Match` on an object that is gone.
                Err(err)
                    if conditional && matches!(status(&err), Some(412 | 409))
                        || matches!(when, Condition::IfMatch(_)) && status(&err) == Some(404) =>
                {
                    Ok(Written::Refused)
                }
                Err(err) => Err(self.failure("writing", key, &err)),
            }
        };
        self.within_deadline("writing", key, request).await
    }
}
