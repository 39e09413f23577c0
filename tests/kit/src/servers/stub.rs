//! An HTTP/1.1 server on loopback that answers what the test tells it to
//! (IMDS, EC2 faults, bodies of any size), and one that never answers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One canned HTTP answer.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    /// Spaces sent after `body`, made as they are written (never held in
    /// memory): a body of any size.
    pub filler: Option<Filler>,
}

/// `bytes` spaces after the body; with `chunked`, sent in chunks of
/// `Transfer-Encoding: chunked` (no `Content-Length` to refuse it by).
#[derive(Clone, Copy)]
pub struct Filler {
    pub bytes: u64,
    pub chunked: bool,
}

impl Reply {
    pub fn ok(body: &str) -> Reply {
        Reply::with_status(200, body)
    }

    pub fn with_status(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.to_owned(),
            filler: None,
        }
    }

    /// `body` followed by `filler`.
    pub fn huge(body: &str, filler: Filler) -> Reply {
        Reply {
            filler: Some(filler),
            ..Reply::ok(body)
        }
    }

    /// An EC2 error document, as the Query API sends it.
    pub fn ec2_error(status: u16, code: &str, message: &str) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type", "text/xml".to_owned())],
            filler: None,
            body: format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>\
                 <Code>{code}</Code><Message>{message}</Message></Error></Errors>\
                 <RequestID>00000000-0000-0000-0000-000000000000</RequestID></Response>"
            ),
        }
    }
}

/// What the stub was asked.
pub struct Request {
    pub method: String,
    pub path: String,
    /// The body as text (lossy): a DescribeInstances request's form fields.
    pub body: String,
}

impl Request {
    /// The value of a form field of the body (`NextToken`), undecoded.
    pub fn form_field(&self, name: &str) -> Option<&str> {
        self.body
            .split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
    }
}

/// An HTTP/1.1 server on 127.0.0.1 that answers every request with
/// `answer(request)` and counts requests. It runs until the test ends.
pub struct Stub {
    pub endpoint: String,
    requests: Arc<AtomicUsize>,
}

impl Stub {
    pub fn start(answer: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&requests);
        let answer = Arc::new(answer);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let answer = Arc::clone(&answer);
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || serve(stream, &*answer, &counter));
            }
        });
        Stub { endpoint, requests }
    }

    /// A server that accepts connections and never answers.
    pub fn silent() -> (String, TcpListener) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        (endpoint, listener)
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn serve(stream: TcpStream, answer: &dyn Fn(&Request) -> Reply, counter: &AtomicUsize) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(stream) => stream,
        Err(_) => return,
    });
    let mut stream = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = request_line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or("").to_owned(),
            parts.next().unwrap_or("").to_owned(),
        );
        let mut length = 0;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        counter.fetch_add(1, Ordering::SeqCst);
        let request = Request {
            method,
            path,
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        if write_reply(&mut stream, &answer(&request)).is_err() {
            return;
        }
    }
}

pub(super) fn write_reply(stream: &mut TcpStream, reply: &Reply) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} Stub\r\n", reply.status);
    match reply.filler {
        Some(Filler { chunked: true, .. }) => head.push_str("Transfer-Encoding: chunked\r\n"),
        Some(Filler { bytes, .. }) => head.push_str(&format!(
            "Content-Length: {}\r\n",
            reply.body.len() as u64 + bytes
        )),
        None => head.push_str(&format!("Content-Length: {}\r\n", reply.body.len())),
    }
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    let Some(filler) = reply.filler else {
        return stream.write_all(reply.body.as_bytes());
    };
    // Written in pieces until done or the client hangs up.
    let spaces = vec![b' '; 64 * 1024];
    let mut pieces = std::iter::once(reply.body.as_bytes()).chain(
        (0..filler.bytes.div_ceil(spaces.len() as u64)).map(|piece| {
            let left = filler.bytes - piece * spaces.len() as u64;
            &spaces[..left.min(spaces.len() as u64) as usize]
        }),
    );
    pieces.try_for_each(|piece| {
        if !filler.chunked {
            return stream.write_all(piece);
        }
        if piece.is_empty() {
            return Ok(());
        }
        write!(stream, "{:x}\r\n", piece.len())?;
        stream.write_all(piece)?;
        stream.write_all(b"\r\n")
    })?;
    if filler.chunked {
        stream.write_all(b"0\r\n\r\n")?;
    }
    Ok(())
}

/// A loopback port that is held (bound) but never listened on: every
/// connection to it is refused, and no other server can take the port while
/// the test holds it.
pub struct Refusing {
    pub endpoint: String,
    _socket: tokio::net::TcpSocket,
}

impl Refusing {
    pub fn bind() -> Refusing {
        let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
        socket
            .bind(([127, 0, 0, 1], 0).into())
            .expect("bind loopback");
        let address = socket.local_addr().expect("address");
        Refusing {
            endpoint: format!("http://{address}"),
            _socket: socket,
        }
    }
}

/// An IMDSv2 on 127.0.0.1 whose answers the test sets and changes while
/// the daemon runs: a token for `PUT /latest/api/token`, the body set for a
/// path (`/latest/meta-data/...`), 404 for a path not set. Self's lifecycle
/// paths ([`Imds::TARGET_LIFECYCLE_STATE`], [`Imds::SPOT_INSTANCE_ACTION`],
/// [`Imds::REBALANCE`], [`Imds::MAINTENANCE`]) are set like any other.
pub struct Imds {
    pub endpoint: String,
    answers: Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>,
    stub: Stub,
}

impl Imds {
    pub const INSTANCE_ID: &'static str = "/latest/meta-data/instance-id";
    pub const REGION: &'static str = "/latest/meta-data/placement/region";
    pub const TARGET_LIFECYCLE_STATE: &'static str =
        "/latest/meta-data/autoscaling/target-lifecycle-state";
    pub const SPOT_INSTANCE_ACTION: &'static str = "/latest/meta-data/spot/instance-action";
    pub const REBALANCE: &'static str = "/latest/meta-data/events/recommendations/rebalance";
    pub const MAINTENANCE: &'static str = "/latest/meta-data/events/maintenance/scheduled";
    pub const GROUP_TAG: &'static str = "/latest/meta-data/tags/instance/aws:autoscaling:groupName";

    /// An IMDS that says this is `instance_id` in `region`, and nothing
    /// else yet.
    pub fn start(instance_id: &str, region: &str) -> Imds {
        let answers: Arc<std::sync::Mutex<std::collections::HashMap<String, String>>> =
            Arc::default();
        let serving = Arc::clone(&answers);
        let stub = Stub::start(move |request| {
            if request.method == "PUT" && request.path == "/latest/api/token" {
                return Reply {
                    headers: vec![("x-aws-ec2-metadata-token-ttl-seconds", "21600".to_owned())],
                    ..Reply::ok("token")
                };
            }
            let answers = serving
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match answers.get(&request.path) {
                Some(body) if request.method == "GET" => Reply::ok(body.as_str()),
                _ => Reply::with_status(404, "Not Found"),
            }
        });
        let imds = Imds {
            endpoint: stub.endpoint.clone(),
            answers,
            stub,
        };
        imds.set(Imds::INSTANCE_ID, instance_id);
        imds.set(Imds::REGION, region);
        imds
    }

    /// `path` answers `body` from now on.
    pub fn set(&self, path: &str, body: &str) {
        self.answers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(path.to_owned(), body.to_owned());
    }

    /// Requests answered so far (tokens included): how often it was asked.
    pub fn requests(&self) -> usize {
        self.stub.requests()
    }

    /// The environment that points the AWS SDK (and rollcall) at this IMDS.
    pub fn environment(&self) -> [(&'static str, &str); 2] {
        [
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", self.endpoint.as_str()),
            ("AWS_EC2_METADATA_DISABLED", "false"),
        ]
    }
}

/// The Auto Scaling query API on 127.0.0.1, as far as a leaving node uses
/// it (moto lacks a lifecycle hook's `Terminating:Wait`, and what
/// completing it does): `RecordLifecycleActionHeartbeat` and
/// `CompleteLifecycleAction` are answered with their small XML documents
/// and recorded, every other action refused.
pub struct AutoScaling {
    pub endpoint: String,
    calls: Arc<std::sync::Mutex<Vec<Request>>>,
    _stub: Stub,
}

impl AutoScaling {
    pub fn start() -> AutoScaling {
        let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
        let recording = Arc::clone(&calls);
        let stub = Stub::start(move |request| {
            let action = request.form_field("Action").unwrap_or_default().to_owned();
            recording
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(Request {
                    method: request.method.clone(),
                    path: request.path.clone(),
                    body: request.body.clone(),
                });
            match action.as_str() {
                "RecordLifecycleActionHeartbeat" | "CompleteLifecycleAction" => Reply {
                    headers: vec![("Content-Type", "text/xml".to_owned())],
                    ..Reply::ok(&format!(
                        "<{action}Response xmlns=\"http://autoscaling.amazonaws.com/doc/2011-01-01/\">\
                         <{action}Result/><ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000\
                         </RequestId></ResponseMetadata></{action}Response>"
                    ))
                },
                _ => Reply::ec2_error(
                    400,
                    "InvalidAction",
                    "not served by the test's Auto Scaling",
                ),
            }
        });
        AutoScaling {
            endpoint: stub.endpoint.clone(),
            calls,
            _stub: stub,
        }
    }

    /// The calls of `action` so far, each as its form fields (undecoded).
    pub fn calls(&self, action: &str) -> Vec<Vec<(String, String)>> {
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|request| request.form_field("Action") == Some(action))
            .map(|request| {
                request
                    .body
                    .split('&')
                    .filter_map(|pair| pair.split_once('='))
                    .map(|(name, value)| (name.to_owned(), value.to_owned()))
                    .collect()
            })
            .collect()
    }
}
