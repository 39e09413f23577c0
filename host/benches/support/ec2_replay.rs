//! A loopback EC2-compatible endpoint that replays a describe-instances
//! document as DescribeInstances pages in EC2's XML (the query protocol), so
//! that EC2 clients can be timed without EC2 and without the server being the
//! bottleneck: every page is rendered once, up front, and a request only
//! picks one by the `NextToken` in its form body and writes it out.
//!
//! The XML element names are the ones the EC2 query protocol uses (checked
//! against the aws-sdk-ec2 deserializers, which follow the same service model
//! as botocore): lists are `<fooSet><item>...</item></fooSet>`, and a few
//! members are renamed (`State` is `instanceState`, `PublicDnsName` is
//! `dnsName`, ...).

use serde_json::Value;
use std::borrow::Cow;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Instant;

const NAMESPACE: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

/// The replay server on 127.0.0.1 at a free port. It serves until the
/// process ends.
pub struct Replay {
    /// `http://127.0.0.1:PORT`, for `--endpoint-url`.
    pub endpoint: String,
    /// Pages in the replay.
    pub pages: usize,
    /// Bytes of XML over all pages.
    pub xml_bytes: usize,
    arrivals: Arc<Mutex<Vec<Instant>>>,
}

impl Replay {
    /// Serves the instances of `fleet` (a describe-instances document) in
    /// pages of `page_size` instances, whatever `MaxResults` asks for.
    pub fn start(fleet: &Value, page_size: usize) -> Replay {
        let pages = paginate(fleet, page_size);
        let count = pages.len();
        let bodies: Vec<String> = pages
            .iter()
            .enumerate()
            .map(|(index, reservations)| {
                let next = (index + 1 < count).then(|| token(index + 1));
                render_page(reservations, next.as_deref(), index)
            })
            .collect();
        let xml_bytes = bodies.iter().map(String::len).sum();
        let responses: Arc<Vec<Vec<u8>>> =
            Arc::new(bodies.iter().map(|body| response(200, body)).collect());

        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let endpoint = format!(
            "http://{}",
            listener.local_addr().expect("the replay's address")
        );
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&arrivals);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let responses = Arc::clone(&responses);
                let log = Arc::clone(&log);
                std::thread::spawn(move || serve_connection(stream, &responses, &log));
            }
        });
        Replay {
            endpoint,
            pages: count,
            xml_bytes,
            arrivals,
        }
    }

    /// Requests answered so far (errors included).
    pub fn requests(&self) -> usize {
        self.arrivals.lock().expect("the request log").len()
    }

    /// When each request from the `first`th on had been read in full.
    pub fn arrivals_since(&self, first: usize) -> Vec<Instant> {
        self.arrivals.lock().expect("the request log")[first..].to_vec()
    }
}

/// The `NextToken` that asks for page `index`.
fn token(index: usize) -> String {
    format!("replay-page-{index}")
}

/// Splits the instances into pages of `page_size`, keeping each one in its
/// reservation (a reservation cut by a page boundary continues, with the same
/// id, on the next page).
fn paginate(fleet: &Value, page_size: usize) -> Vec<Vec<Value>> {
    let reservations = fleet["Reservations"]
        .as_array()
        .expect("the fleet has Reservations");
    let mut pages: Vec<Vec<Value>> = vec![Vec::new()];
    let mut on_page = 0;
    for reservation in reservations {
        let instances = reservation["Instances"]
            .as_array()
            .expect("a reservation has Instances");
        let mut rest = &instances[..];
        while !rest.is_empty() {
            if on_page == page_size {
                pages.push(Vec::new());
                on_page = 0;
            }
            let (here, later) = rest.split_at(rest.len().min(page_size - on_page));
            let mut part = reservation.clone();
            part["Instances"] = Value::Array(here.to_vec());
            pages.last_mut().expect("a page").push(part);
            on_page += here.len();
            rest = later;
        }
    }
    pages
}

/// One DescribeInstancesResponse document.
fn render_page(reservations: &[Value], next_token: Option<&str>, index: usize) -> String {
    let mut xml = String::with_capacity(reservations.len() * 8_000);
    xml.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    xml.push_str(&format!(
        "<DescribeInstancesResponse xmlns=\"{NAMESPACE}\">\
         <requestId>00000000-0000-4000-8000-{index:012}</requestId><reservationSet>"
    ));
    for reservation in reservations {
        xml.push_str("<item>");
        render_members(&mut xml, reservation);
        xml.push_str("</item>");
    }
    xml.push_str("</reservationSet>");
    if let Some(token) = next_token {
        xml.push_str(&format!("<nextToken>{token}</nextToken>"));
    }
    xml.push_str("</DescribeInstancesResponse>");
    xml
}

/// The members of a JSON structure as XML elements, in document order.
fn render_members(xml: &mut String, structure: &Value) {
    let Some(members) = structure.as_object() else {
        return;
    };
    for (key, value) in members {
        let name = xml_name(key, value);
        match value {
            Value::Null => {}
            Value::Array(items) if items.is_empty() => xml.push_str(&format!("<{name}/>")),
            Value::Array(items) => {
                xml.push_str(&format!("<{name}>"));
                for item in items {
                    xml.push_str("<item>");
                    match item {
                        Value::Object(_) => render_members(xml, item),
                        scalar => xml.push_str(&escape(&scalar_text(key, scalar))),
                    }
                    xml.push_str("</item>");
                }
                xml.push_str(&format!("</{name}>"));
            }
            Value::Object(_) => {
                xml.push_str(&format!("<{name}>"));
                render_members(xml, value);
                xml.push_str(&format!("</{name}>"));
            }
            Value::String(text) if text.is_empty() => xml.push_str(&format!("<{name}/>")),
            scalar => xml.push_str(&format!(
                "<{name}>{}</{name}>",
                escape(&scalar_text(key, scalar))
            )),
        }
    }
}

/// The query protocol's name for a member of the describe-instances JSON:
/// lowerCamelCase, except where EC2's XML says otherwise.
fn xml_name<'a>(key: &'a str, value: &Value) -> Cow<'a, str> {
    let renamed = match key {
        "Instances" => "instancesSet",
        "Groups" | "SecurityGroups" => "groupSet",
        "Tags" => "tagSet",
        "BlockDeviceMappings" => "blockDeviceMapping",
        "NetworkInterfaces" => "networkInterfaceSet",
        "Ipv6Addresses" => "ipv6AddressesSet",
        "PrivateIpAddresses" => "privateIpAddressesSet",
        "PublicDnsName" => "dnsName",
        "PublicIpAddress" => "ipAddress",
        "StateTransitionReason" => "reason",
        // The instance's state; `Monitoring.State` is a plain `state`.
        "State" if value.is_object() => "instanceState",
        _ => {
            let mut chars = key.chars();
            let first = chars.next().map(|c| c.to_ascii_lowercase());
            return Cow::Owned(first.into_iter().chain(chars).collect());
        }
    };
    Cow::Borrowed(renamed)
}

/// A scalar as EC2 writes it; timestamps in EC2's own form
/// (`2026-11-20T08:00:00.000Z`, not the CLI's `+00:00`).
fn scalar_text(key: &str, scalar: &Value) -> String {
    match scalar {
        Value::String(text) if key.ends_with("Time") => match text.strip_suffix("+00:00") {
            Some(utc) if !utc.contains('.') => format!("{utc}.000Z"),
            Some(utc) => format!("{utc}Z"),
            None => text.clone(),
        },
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn escape(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&apos;"),
    )
}

/// A whole HTTP/1.1 response with an XML body.
fn response(status: u16, body: &str) -> Vec<u8> {
    let reason = if status == 200 { "OK" } else { "Bad Request" };
    let mut bytes = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/xml;charset=UTF-8\r\n\
         Content-Length: {}\r\nServer: AmazonEC2\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    bytes
}

/// An EC2 error response, as the query protocol sends it.
fn error_response(code: &str, message: &str) -> Vec<u8> {
    response(
        400,
        &format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>\
             <Code>{code}</Code><Message>{}</Message></Error></Errors>\
             <RequestID>00000000-0000-4000-8000-ffffffffffff</RequestID></Response>",
            escape(message)
        ),
    )
}

/// Answers the requests of one keep-alive connection until the client
/// closes it.
fn serve_connection(stream: TcpStream, responses: &[Vec<u8>], arrivals: &Mutex<Vec<Instant>>) {
    let _ = stream.set_nodelay(true);
    let Ok(reader) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(reader);
    let mut writer = stream;
    while let Some(request) = read_request(&mut reader, &mut writer) {
        arrivals
            .lock()
            .expect("the request log")
            .push(Instant::now());
        let answer = answer(&request.body, responses);
        let written = match &answer {
            Answer::Page(index) => writer.write_all(&responses[*index]),
            Answer::Error(bytes) => writer.write_all(bytes),
        };
        if written.is_err() || request.close {
            return;
        }
    }
}

enum Answer {
    Page(usize),
    Error(Vec<u8>),
}

/// The page a DescribeInstances form body asks for.
fn answer(body: &[u8], responses: &[Vec<u8>]) -> Answer {
    let body = String::from_utf8_lossy(body);
    let field = |name: &str| {
        body.split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_owned)
    };
    if field("Action").as_deref() != Some("DescribeInstances") {
        return Answer::Error(error_response(
            "InvalidAction",
            &format!("this replay answers DescribeInstances only, not: {body}"),
        ));
    }
    let index = match field("NextToken") {
        None => Some(0),
        Some(asked) => (1..responses.len()).find(|&index| token(index) == asked),
    };
    match index {
        Some(index) => Answer::Page(index),
        None => Answer::Error(error_response("InvalidParameterValue", "unknown NextToken")),
    }
}

struct Request {
    body: Vec<u8>,
    close: bool,
}

/// Reads one request (head and body, by `Content-Length` or chunked);
/// `None` once the client has closed the connection or sent garbage.
fn read_request(reader: &mut BufReader<TcpStream>, writer: &mut TcpStream) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let (mut length, mut chunked, mut close, mut expect_continue) = (0, false, false, false);
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse().ok()?,
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "connection" => close = value.eq_ignore_ascii_case("close"),
            "expect" => expect_continue = value.eq_ignore_ascii_case("100-continue"),
            _ => {}
        }
    }
    if expect_continue {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").ok()?;
    }
    let body = if chunked {
        read_chunked(reader)?
    } else {
        let mut body = vec![0; length];
        reader.read_exact(&mut body).ok()?;
        body
    };
    Some(Request { body, close })
}

/// A chunked body: hex-sized chunks up to the zero chunk, then trailers.
fn read_chunked(reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let size = line.trim_end().split(';').next()?.trim();
        let size = usize::from_str_radix(size, 16).ok()?;
        if size == 0 {
            break;
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..]).ok()?;
        let mut crlf = [0; 2];
        reader.read_exact(&mut crlf).ok()?;
    }
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 || line.trim_end().is_empty() {
            return Some(body);
        }
    }
}
