//! The fleet's event queue, as settings: the `[events]` table of
//! `rollcall.toml` and `--events-queue`. The SQS queue an EventBridge rule
//! fills with EC2 and Auto Scaling events, so that the fleet's snapshot is
//! refreshed in seconds rather than once a period; events need the
//! snapshot (`source.snapshot`), which they refresh.

// Read by the coordinator's event-driven refresh, built beside this one;
// until it lands, only the tests (with `internals`) use what is here.
#![cfg_attr(not(any(test, feature = "internals")), allow(dead_code))]

use serde::Deserialize;
use std::fmt;

/// The `[events]` table as written; unknown keys are errors.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    /// The SQS queue's URL.
    pub queue: QueueUrl,
    /// Overrides the SQS endpoint (and `AWS_ENDPOINT_URL_SQS`).
    #[serde(default)]
    pub endpoint_url: Option<EndpointUrl>,
}

/// Where the fleet's events arrive, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsSettings {
    /// The SQS queue the EventBridge rule sends to.
    pub queue: QueueUrl,
    /// Overrides the SQS endpoint (and `AWS_ENDPOINT_URL_SQS`), e.g. a VPC
    /// endpoint or a test server.
    pub endpoint_url: Option<String>,
}

impl EventsConfig {
    /// The settings this table gives.
    pub fn settings(&self) -> EventsSettings {
        EventsSettings {
            queue: self.queue.clone(),
            endpoint_url: self.endpoint_url.as_ref().map(|url| url.0.clone()),
        }
    }
}

/// The longest URL taken: SQS queue URLs are far shorter (a queue name is
/// at most 80 characters).
const MAX_URL_LENGTH: usize = 1024;

/// An SQS queue's URL as given: `http` or `https`, a host, and a path
/// naming the queue, e.g.
/// `https://sqs.us-east-1.amazonaws.com/123456789012/rollcall-events`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct QueueUrl(String);

impl QueueUrl {
    /// The URL, as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The region the URL's host names, for AWS's own endpoints
    /// (`sqs.REGION.amazonaws.com`, `sqs.REGION.amazonaws.com.cn`, the
    /// older `REGION.queue.amazonaws.com`); `None` for any other host.
    pub fn region(&self) -> Option<&str> {
        let (_, host, _) = split_url(&self.0)?;
        let region = host
            .strip_prefix("sqs.")
            .and_then(|rest| {
                rest.strip_suffix(".amazonaws.com")
                    .or_else(|| rest.strip_suffix(".amazonaws.com.cn"))
            })
            .or_else(|| host.strip_suffix(".queue.amazonaws.com"))?;
        let valid = !region.is_empty()
            && region
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-');
        valid.then_some(region)
    }
}

impl TryFrom<String> for QueueUrl {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        let expected = "expected an SQS queue URL, e.g. \
                        https://sqs.us-east-1.amazonaws.com/123456789012/rollcall-events";
        let (_, _, path) = checked_url(&text).map_err(|why| format!("{why}; {expected}"))?;
        if path.trim_matches('/').is_empty() {
            return Err(format!(
                "{:?} names no queue (its path is empty); {expected}",
                shown(&text)
            ));
        }
        Ok(QueueUrl(text))
    }
}

impl std::str::FromStr for QueueUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        QueueUrl::try_from(text.to_owned())
    }
}

impl fmt::Display for QueueUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An endpoint's URL: `http` or `https` and a host, a path allowed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct EndpointUrl(String);

impl TryFrom<String> for EndpointUrl {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        checked_url(&text).map_err(|why| {
            format!("{why}; expected an endpoint URL, e.g. https://sqs.us-east-1.amazonaws.com")
        })?;
        Ok(EndpointUrl(text))
    }
}

/// `text` split into scheme, host (with its port) and path, if it is an
/// `http` or `https` URL with a host, no query or fragment, nothing a
/// terminal or a request line would mangle, and at most [`MAX_URL_LENGTH`]
/// bytes; why not, otherwise.
fn checked_url(text: &str) -> Result<(&str, &str, &str), String> {
    if text.len() > MAX_URL_LENGTH {
        return Err(format!(
            "the URL is {} bytes long, more than {MAX_URL_LENGTH}",
            text.len()
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        return Err(format!(
            "{:?} holds whitespace, a backslash or a control character",
            shown(text)
        ));
    }
    if text.contains(['?', '#']) {
        return Err(format!(
            "{:?} has a query or a fragment, which no queue URL has",
            shown(text)
        ));
    }
    let Some((scheme, host, path)) = split_url(text) else {
        return Err(format!(
            "{:?} is not an http:// or https:// URL",
            shown(text)
        ));
    };
    // A port, when given, is digits after the last colon.
    let host_name = match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let valid_host = !host_name.is_empty()
        && !host.contains('@')
        && host_name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b".-[]:".contains(&byte));
    if !valid_host {
        return Err(format!("{:?} has no usable host", shown(text)));
    }
    Ok((scheme, host, path))
}

/// `http(s)://HOST/PATH` as its three parts; the path keeps its leading
/// slash and may be empty.
fn split_url(text: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = text
        .strip_prefix("https://")
        .map(|rest| ("https", rest))
        .or_else(|| text.strip_prefix("http://").map(|rest| ("http", rest)))?;
    let (host, path) = rest.find('/').map_or((rest, ""), |at| rest.split_at(at));
    Some((scheme, host, path))
}

/// At most the first 200 characters of `text`, to show in an error.
fn shown(text: &str) -> String {
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_urls_are_read_with_their_region() {
        for (text, region) in [
            (
                "https://sqs.us-east-1.amazonaws.com/123456789012/rollcall-events",
                Some("us-east-1"),
            ),
            (
                "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q",
                Some("cn-north-1"),
            ),
            (
                "https://eu-west-1.queue.amazonaws.com/123456789012/q",
                Some("eu-west-1"),
            ),
            ("http://127.0.0.1:4566/123456789012/q", None),
            ("http://[::1]:4566/123456789012/q", None),
            ("https://vpce-1.sqs.us-east-1.vpce.amazonaws.com/1/q", None),
        ] {
            let url: QueueUrl = text.parse().unwrap_or_else(|err| panic!("{text}: {err}"));
            assert_eq!(url.as_str(), text);
            assert_eq!(url.to_string(), text);
            assert_eq!(url.region(), region, "{text}");
        }
    }

    #[test]
    fn bad_queue_urls_say_what_is_wrong() {
        for (text, says) in [
            (
                "sqs.us-east-1.amazonaws.com/1/q",
                "is not an http:// or https:// URL",
            ),
            ("ftp://host/1/q", "is not an http:// or https:// URL"),
            ("https:///1/q", "has no usable host"),
            ("https://user@host/1/q", "has no usable host"),
            ("https://ho st/1/q", "holds whitespace"),
            ("https://host/1/q\n", "holds whitespace"),
            ("https://host/1/q?x=1", "has a query or a fragment"),
            ("https://sqs.us-east-1.amazonaws.com", "names no queue"),
            ("https://sqs.us-east-1.amazonaws.com//", "names no queue"),
            ("", "is not an http:// or https:// URL"),
        ] {
            let err = text.parse::<QueueUrl>().unwrap_err();
            assert!(err.contains(says), "{text:?}: {err}");
            assert!(err.contains("expected an SQS queue URL"), "{text:?}: {err}");
        }
        let long = format!("https://host/{}", "q".repeat(MAX_URL_LENGTH));
        let err = long.parse::<QueueUrl>().unwrap_err();
        assert!(err.contains("more than 1024"), "{err}");
    }

    #[test]
    fn endpoints_need_no_path() {
        assert!(EndpointUrl::try_from("http://127.0.0.1:5000".to_owned()).is_ok());
        assert!(EndpointUrl::try_from("https://sqs.us-east-1.amazonaws.com/".to_owned()).is_ok());
        let err = EndpointUrl::try_from("127.0.0.1:5000".to_owned()).unwrap_err();
        assert!(err.contains("expected an endpoint URL"), "{err}");
    }
}
