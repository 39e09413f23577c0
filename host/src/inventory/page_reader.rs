//! One parse per DescribeInstances page: a per-call SDK interceptor that
//! reads each answer into the fleet's columns as its last byte arrives
//! ([`read_page`]) and gives the SDK's deserialiser, in its place, a
//! document holding only the `nextToken`. The SDK still signs, retries,
//! times out and holds the connection; only the body's reading changes.
//!
//! Each attempt reads its own body into the call's slot, so a retried
//! attempt replaces what a failed one left. A body this reader refuses
//! goes to the SDK as it came, for the page guard to name and classify as
//! before; one it refuses that the guard and the SDK would have taken
//! fails the attempt with the reader's fault.

use super::ec2_xml::{Page, read_page};
use super::page_guard::{CappedBody, PageFault};
use aws_sdk_ec2::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, FinalizerInterceptorContextMut,
};
use aws_sdk_ec2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ec2::error::BoxError;
use aws_smithy_types::body::SdkBody;
use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};

/// What the last attempt's body read as.
type Slot = Arc<Mutex<Option<Result<Page, PageFault>>>>;

/// Reads the answers of one `DescribeInstances` call listed in `region`.
#[derive(Debug, Clone)]
pub(super) struct PageReader {
    region: Arc<str>,
    slot: Slot,
}

impl PageReader {
    pub(super) fn new(region: &str) -> PageReader {
        PageReader {
            region: region.into(),
            slot: Slot::default(),
        }
    }

    /// The page the call's last attempt read, or why it was refused;
    /// `None` if no body was read whole.
    pub(super) fn take(&self) -> Option<Result<Page, PageFault>> {
        self.slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

impl Intercept for PageReader {
    fn name(&self) -> &'static str {
        "rollcall::PageReader"
    }

    /// A 2xx body is read as it arrives (capped at
    /// [`MAX_PAGE_BYTES`](super::page_guard::MAX_PAGE_BYTES));
    /// other statuses are the SDK's to read as EC2 errors.
    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let response = context.response_mut();
        if !response.status().is_success() {
            return Ok(());
        }
        let inner = response.take_body();
        *response.body_mut() = SdkBody::from_body_1_x(ReadingBody {
            inner: CappedBody::new(inner),
            received: Received::Nothing,
            done: false,
            region: Arc::clone(&self.region),
            slot: Arc::clone(&self.slot),
        });
        Ok(())
    }

    /// A body the reader refused but the SDK took fails the attempt.
    fn modify_before_attempt_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(result) = context.output_or_error_mut()
            && result.is_ok()
            && let Some(Err(fault)) = slot.as_ref()
        {
            *result = Err(fault.clone().into_attempt_error());
            slot.take();
        }
        Ok(())
    }
}

/// The bytes of a body so far: most answers come in one piece.
enum Received {
    Nothing,
    One(Bytes),
    Many(BytesMut),
}

impl Received {
    fn add(&mut self, data: Bytes) {
        *self = match std::mem::replace(self, Received::Nothing) {
            Received::Nothing => Received::One(data),
            Received::One(first) => {
                let mut all = BytesMut::with_capacity(first.len() + data.len());
                all.extend_from_slice(&first);
                all.extend_from_slice(&data);
                Received::Many(all)
            }
            Received::Many(mut all) => {
                all.extend_from_slice(&data);
                Received::Many(all)
            }
        };
    }

    fn into_bytes(self) -> Bytes {
        match self {
            Received::Nothing => Bytes::new(),
            Received::One(bytes) => bytes,
            Received::Many(all) => all.freeze(),
        }
    }
}

/// A body read whole, then read as a page; what it yields is the short
/// document, or the body as it came if it was refused.
struct ReadingBody {
    inner: CappedBody,
    received: Received,
    done: bool,
    region: Arc<str>,
    slot: Slot,
}

impl Body for ReadingBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        this.received.add(data);
                    }
                }
                Some(Err(err)) => return Poll::Ready(Some(Err(err))),
                None => {
                    this.done = true;
                    let body =
                        std::mem::replace(&mut this.received, Received::Nothing).into_bytes();
                    let read = read_page(&body, &this.region);
                    let passed = match &read {
                        Ok(page) => short_document(page.next_token.as_deref()),
                        Err(_) => body,
                    };
                    *this.slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(read);
                    return Poll::Ready(Some(Ok(Frame::data(passed))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}

/// The answer the SDK deserialises in place of a page read: its
/// `nextToken` alone.
fn short_document(next_token: Option<&str>) -> Bytes {
    let mut document = String::from("<DescribeInstancesResponse>");
    if let Some(token) = next_token {
        document.push_str("<nextToken>");
        for c in token.chars() {
            match c {
                '&' => document.push_str("&amp;"),
                '<' => document.push_str("&lt;"),
                '>' => document.push_str("&gt;"),
                c => document.push(c),
            }
        }
        document.push_str("</nextToken>");
    }
    document.push_str("</DescribeInstancesResponse>");
    Bytes::from(document)
}
