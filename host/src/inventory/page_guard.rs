//! What a DescribeInstances (or DescribeAutoScalingGroups) answer must be
//! before its page counts: an SDK interceptor that caps every response body
//! as it arrives ([`MAX_PAGE_BYTES`]) and requires a 2xx body to be one
//! complete, well-formed document of the operation's answer
//! (`DescribeInstancesResponse`, `DescribeAutoScalingGroupsResponse`).
//!
//! The SDK's XML reader takes the end of its input for the end of the
//! document, so without this check a page cut short reads as a shorter page
//! whose lost `nextToken` ends the listing: a partial fleet taken for the
//! whole one.

use aws_sdk_ec2::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, FinalizerInterceptorContextMut,
};
use aws_sdk_ec2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ec2::error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::OrchestratorError;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

/// The largest DescribeInstances response rollcall reads: 64 MiB. A page of
/// 1,000 instances (the most `--page-size` asks for) is about 2.7 MB in the
/// benchmarks' realistic fleet (27.2 MB for 10 pages, BENCHMARKS.md), so the
/// limit leaves room for 1,000 instances of 64 KiB each.
pub const MAX_PAGE_BYTES: u64 = 64 << 20;

/// The root element of the answer to DescribeInstances.
pub(super) const ROOT: &str = "DescribeInstancesResponse";
/// The root element of the answer to DescribeAutoScalingGroups.
pub(super) const AUTO_SCALING_ROOT: &str = "DescribeAutoScalingGroupsResponse";
/// The root element of the answer to DescribeSecurityGroups.
const SECURITY_GROUPS_ROOT: &str = "DescribeSecurityGroupsResponse";

/// Why a DescribeInstances response was not taken as a page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageFault {
    #[error("the response is larger than the {} a page may be ({})", crate::bounded_read::size_text(*limit),
        match declared {
            Some(length) => format!("Content-Length: {length}"),
            None => "rollcall stopped reading there".to_owned(),
        })]
    TooLarge { limit: u64, declared: Option<u64> },
    #[error(
        "the page is incomplete: the {root} document stops after {received} bytes{}, \
         before its root element closes",
        match open { Some(element) => format!(" inside <{element}>"), None => String::new() }
    )]
    Incomplete {
        root: &'static str,
        received: usize,
        open: Option<String>,
    },
    #[error("the page is not well-formed XML (cut or corrupted on the way?): {detail}")]
    Malformed { detail: String },
    #[error("the response is an EC2 error: {code}: {message}")]
    ErrorDocument { code: String, message: String },
    #[error("the response is not a {} document ({})", .root.trim_end_matches("Response"), excerpt(.body))]
    NotTheAnswer { root: &'static str, body: Vec<u8> },
}

impl PageFault {
    /// The fault as an attempt's outcome: a page cut short or garbled on
    /// the way is retried like any failed response; anything else is not.
    pub(super) fn into_attempt_error<E>(self) -> OrchestratorError<E> {
        if matches!(
            self,
            PageFault::Incomplete { .. } | PageFault::Malformed { .. }
        ) {
            OrchestratorError::response(self.into())
        } else {
            OrchestratorError::other(self)
        }
    }

    fn not_the_answer(root: &'static str, body: &[u8]) -> Self {
        PageFault::NotTheAnswer {
            root,
            body: body[..body.len().min(EXCERPT_BYTES)].to_vec(),
        }
    }
}

/// Caps and checks every response of a client whose answers are `root`
/// documents.
#[derive(Debug)]
pub(super) struct PageGuard {
    root: &'static str,
}

impl PageGuard {
    /// For EC2's DescribeInstances.
    pub(super) const DESCRIBE_INSTANCES: PageGuard = PageGuard { root: ROOT };
    /// For Auto Scaling's DescribeAutoScalingGroups.
    pub(super) const DESCRIBE_AUTO_SCALING_GROUPS: PageGuard = PageGuard {
        root: AUTO_SCALING_ROOT,
    };
    /// For EC2's DescribeSecurityGroups.
    pub(super) const DESCRIBE_SECURITY_GROUPS: PageGuard = PageGuard {
        root: SECURITY_GROUPS_ROOT,
    };
}

impl Intercept for PageGuard {
    fn name(&self) -> &'static str {
        "rollcall::PageGuard"
    }

    /// Refuses a body whose declared length is past the limit before any of
    /// it is read, and caps the rest as it arrives.
    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response_mut();
        let declared = response
            .headers()
            .get("content-length")
            .and_then(|length| length.trim().parse::<u64>().ok());
        if let Some(length) = declared.filter(|&length| length > MAX_PAGE_BYTES) {
            return Err(PageFault::TooLarge {
                limit: MAX_PAGE_BYTES,
                declared: Some(length),
            }
            .into());
        }
        let body = response.take_body();
        *response.body_mut() = SdkBody::from_body_1_x(CappedBody::new(body));
        Ok(())
    }

    /// A 2xx answer counts only if its body is a whole DescribeInstances
    /// document, whatever the SDK made of it; the fault replaces the SDK's
    /// result. Other statuses are the SDK's to read as EC2 errors. A page cut
    /// short or garbled on the way is retried like any failed response;
    /// anything else is not.
    fn modify_before_attempt_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(response) = context.response() else {
            return Ok(());
        };
        if !response.status().is_success() {
            return Ok(());
        }
        // No bytes: the body never arrived in full, and that error stands.
        let Some(Err(fault)) = response
            .body()
            .bytes()
            .map(|body| check_document(body, self.root))
        else {
            return Ok(());
        };
        if let Some(result) = context.output_or_error_mut() {
            *result = Err(fault.into_attempt_error());
        }
        Ok(())
    }
}

/// A response body that fails once more than `limit` bytes have arrived.
pub(super) struct CappedBody {
    inner: SdkBody,
    limit: u64,
    received: u64,
}

impl CappedBody {
    /// `inner`, capped at [`MAX_PAGE_BYTES`].
    pub(super) fn new(inner: SdkBody) -> CappedBody {
        CappedBody {
            inner,
            limit: MAX_PAGE_BYTES,
            received: 0,
        }
    }
}

impl Body for CappedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        if let Some(Ok(frame)) = &frame
            && let Some(data) = frame.data_ref()
        {
            this.received = this.received.saturating_add(data.len() as u64);
            if this.received > this.limit {
                return Poll::Ready(Some(Err(PageFault::TooLarge {
                    limit: this.limit,
                    declared: None,
                }
                .into())));
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Checks that `body` is one complete, well-formed DescribeInstancesResponse
/// document; says what it is otherwise.
#[cfg(test)]
fn check_page(body: &[u8]) -> Result<(), PageFault> {
    check_document(body, ROOT)
}

/// Checks that `body` is one complete, well-formed `root` document (an
/// EC2 or Auto Scaling error document is named as one); says what it is
/// otherwise.
pub(super) fn check_document(body: &[u8], root_name: &'static str) -> Result<(), PageFault> {
    // A cut may fall inside a multi-byte character: what came before it is
    // still worth reading, to say where the document stops.
    let (text, cut_in_character) = match std::str::from_utf8(body) {
        Ok(text) => (text, false),
        Err(err) if err.error_len().is_none() => {
            let valid = &body[..err.valid_up_to()];
            // Safe by construction: `valid_up_to` bytes are UTF-8.
            (std::str::from_utf8(valid).unwrap_or_default(), true)
        }
        Err(_) => return Err(PageFault::not_the_answer(root_name, body)),
    };
    let mut open: Vec<&str> = Vec::new();
    let mut root: Option<&str> = None;
    let mut error = ErrorFields::default();
    // Bytes of `text` read as whole tokens so far.
    let mut read = 0;
    for token in xmlparser::Tokenizer::from(text) {
        let token = match token {
            Ok(token) => token,
            // A tag that runs into the end of the input was cut there.
            Err(err) if ends_early(&err) || !text[read..].contains('>') => {
                return Err(incomplete_or_other(
                    root_name,
                    root,
                    body,
                    open.last(),
                    &error,
                ));
            }
            Err(err) => {
                return Err(match root {
                    Some(name) if name == root_name => PageFault::Malformed {
                        detail: err.to_string(),
                    },
                    _ => PageFault::not_the_answer(root_name, body),
                });
            }
        };
        read = token.span().end();
        if read == text.len()
            && let xmlparser::Token::ElementStart { local, .. } = token
        {
            // The input stops in a start tag, whose name may be cut: even
            // the root's (`<DescribeInst`).
            if root.is_none() && !root_name.starts_with(local.as_str()) {
                return Err(PageFault::not_the_answer(root_name, body));
            }
            return Err(incomplete_or_other(
                root_name,
                root,
                body,
                open.last(),
                &error,
            ));
        }
        match token {
            xmlparser::Token::ElementStart { local, .. } => {
                let name = local.as_str();
                if root.is_none() {
                    if name != root_name && !matches!(name, "Response" | "Errors" | "ErrorResponse")
                    {
                        return Err(PageFault::not_the_answer(root_name, body));
                    }
                    root = Some(name);
                }
                open.push(name);
            }
            xmlparser::Token::ElementEnd { end, .. } => match end {
                xmlparser::ElementEnd::Open => {}
                xmlparser::ElementEnd::Empty => {
                    open.pop();
                }
                xmlparser::ElementEnd::Close(_, local) => {
                    if open.pop() != Some(local.as_str()) {
                        return Err(PageFault::Malformed {
                            detail: format!("</{}> closes an element it did not open", local),
                        });
                    }
                }
            },
            xmlparser::Token::Text { text } => error.read(&open, text.as_str()),
            _ => {}
        }
    }
    if !open.is_empty() || cut_in_character {
        return Err(incomplete_or_other(
            root_name,
            root,
            body,
            open.last(),
            &error,
        ));
    }
    match root {
        Some(name) if name == root_name => Ok(()),
        Some(_) => Err(error.fault(root_name, body)),
        // Only a prologue (`<?xml ...?>`), or nothing.
        None => Err(incomplete_or_other(root_name, None, body, None, &error)),
    }
}

/// What a body that stops early is: an incomplete page if it was (or may
/// have been going to be) a DescribeInstancesResponse.
fn incomplete_or_other(
    root_name: &'static str,
    root: Option<&str>,
    body: &[u8],
    open: Option<&&str>,
    error: &ErrorFields,
) -> PageFault {
    let answer = root.is_none_or(|name| name == root_name);
    match root {
        _ if answer && body.trim_ascii_start().starts_with(b"<") => PageFault::Incomplete {
            root: root_name,
            received: body.len(),
            open: open.map(|element| (*element).to_owned()),
        },
        _ if answer => PageFault::not_the_answer(root_name, body),
        _ => error.fault(root_name, body),
    }
}

/// Whether the tokenizer stopped because the input ended.
fn ends_early(err: &xmlparser::Error) -> bool {
    use xmlparser::Error::*;
    let cause = match err {
        InvalidDeclaration(cause, _)
        | InvalidComment(cause, _)
        | InvalidPI(cause, _)
        | InvalidDoctype(cause, _)
        | InvalidEntity(cause, _)
        | InvalidElement(cause, _)
        | InvalidAttribute(cause, _)
        | InvalidCdata(cause, _)
        | InvalidCharData(cause, _) => cause,
        UnknownToken(_) => return false,
    };
    matches!(cause, xmlparser::StreamError::UnexpectedEndOfStream)
}

/// The `Code` and `Message` of an EC2 error document
/// (`<Response><Errors><Error><Code>...`).
#[derive(Default)]
struct ErrorFields {
    code: Option<String>,
    message: Option<String>,
}

impl ErrorFields {
    fn read(&mut self, open: &[&str], text: &str) {
        let field = match open {
            [.., "Error", "Code"] => &mut self.code,
            [.., "Error", "Message"] => &mut self.message,
            _ => return,
        };
        if field.is_none() {
            *field = Some(printable(text, 200));
        }
    }

    fn fault(&self, root_name: &'static str, body: &[u8]) -> PageFault {
        match &self.code {
            Some(code) => PageFault::ErrorDocument {
                code: code.clone(),
                message: self.message.clone().unwrap_or_default(),
            },
            None => PageFault::not_the_answer(root_name, body),
        }
    }
}

/// How much of a body a message quotes, at most.
const EXCERPT_BYTES: usize = 240;

/// The start of a body for a message: `it is empty`, or `starts with "..."`
/// with at most 60 printable characters.
pub(super) fn excerpt(body: &[u8]) -> String {
    let start = String::from_utf8_lossy(&body[..body.len().min(EXCERPT_BYTES)]);
    if start.trim().is_empty() {
        return if body.is_empty() {
            "it is empty".to_owned()
        } else {
            "it is blank".to_owned()
        };
    }
    format!("starts with {:?}", printable(start.trim_start(), 60))
}

/// `text` for a message: whitespace runs as one space, other control
/// characters as `?`, cut after `limit` characters (marked with `...`).
pub(crate) fn printable(text: &str, limit: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    let mut last_space = false;
    for c in text.chars() {
        if count == limit {
            out.push_str("...");
            break;
        }
        let c = match c {
            c if c.is_whitespace() => ' ',
            c if c.is_control() => '?',
            c => c,
        };
        if c == ' ' && last_space {
            continue;
        }
        last_space = c == ' ';
        out.push(c);
        count += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
        <DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
        <requestId>r-1</requestId><reservationSet><item><instancesSet><item>\
        <instanceId>i-1</instanceId><tagSet><item><key>Name</key><value>caf\u{e9} &amp; co</value>\
        </item></tagSet><dnsName/></item></instancesSet></item></reservationSet>\
        <nextToken>t-2</nextToken></DescribeInstancesResponse>\n";

    #[test]
    fn a_whole_page_passes() {
        assert_eq!(check_page(PAGE.as_bytes()), Ok(()));
    }

    #[test]
    fn every_cut_of_a_page_is_refused_as_incomplete() {
        let complete = PAGE.trim_end().len();
        for cut in 1..complete {
            match check_page(&PAGE.as_bytes()[..cut]) {
                Err(PageFault::Incomplete { received, .. }) => assert_eq!(received, cut),
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_cut_start_tag_is_not_named_as_an_element() {
        let cut = PAGE.find("<instanceId>").unwrap() + "<instanceI".len();
        assert_eq!(
            check_page(&PAGE.as_bytes()[..cut]),
            Err(PageFault::Incomplete {
                root: ROOT,
                received: cut,
                open: Some("item".to_owned())
            })
        );
        assert!(matches!(
            check_page(b"<htm"),
            Err(PageFault::NotTheAnswer { .. })
        ));
    }

    #[test]
    fn tags_that_do_not_match_are_malformed() {
        let crossed = PAGE.replace("</instanceId>", "</instanceIdX>");
        assert!(matches!(
            check_page(crossed.as_bytes()),
            Err(PageFault::Malformed { .. })
        ));
        let two_roots = format!("{PAGE}<DescribeInstancesResponse/>");
        assert!(check_page(two_roots.as_bytes()).is_err());
    }

    #[test]
    fn an_error_document_is_named_by_its_code_and_message() {
        let body = "<?xml version=\"1.0\"?>\n<Response><Errors><Error><Code>Unavailable</Code>\
                    <Message>try\n\tlater &#x1b;</Message></Error></Errors><RequestID>1</RequestID></Response>";
        let fault = check_page(body.as_bytes()).unwrap_err();
        assert_eq!(
            fault.to_string(),
            "the response is an EC2 error: Unavailable: try later &#x1b;"
        );
    }

    #[test]
    fn anything_else_is_quoted_briefly_and_printably() {
        let cases: [(&[u8], &str); 6] = [
            (b"", "(it is empty)"),
            (b" \r\n", "(it is blank)"),
            (
                b"<!DOCTYPE html>\n<html><body>Bad gateway</body></html>",
                r#"(starts with "<!DOCTYPE html> <html><body>Bad gateway</body></html>")"#,
            ),
            (b"hello\x1b[2J world", r#"(starts with "hello?[2J world")"#),
            (
                b"\xff\xfe garbage",
                "(starts with \"\u{fffd}\u{fffd} garbage\")",
            ),
            (
                b"{\"Reservations\": []}",
                r#"(starts with "{\"Reservations\": []}")"#,
            ),
        ];
        for (body, expected) in cases {
            let fault = check_page(body).unwrap_err();
            assert_eq!(
                fault.to_string(),
                format!("the response is not a DescribeInstances document {expected}"),
                "{body:?}"
            );
        }
        let long = "x".repeat(500);
        let fault = check_page(long.as_bytes()).unwrap_err().to_string();
        assert!(
            fault.ends_with(&format!("\"{}...\")", "x".repeat(60))),
            "{fault}"
        );
    }
}
