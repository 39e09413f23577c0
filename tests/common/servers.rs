//! Loopback servers the EC2 tests talk to: a real `moto_server`, and a stub
//! HTTP server that answers what a test tells it to (IMDS, faults).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A `moto_server` on 127.0.0.1 at a free port, stopped on drop.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Moto {
        Moto::start_with(&[])
    }

    /// Starts with extra environment, e.g. `INITIAL_NO_AUTH_ACTION_COUNT=0`
    /// to make it check credentials.
    pub fn start_with(env: &[(&str, &str)]) -> Moto {
        let program = std::env::var_os("ROLLCALL_MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| super::workspace().join(".venv/bin/moto_server"));
        assert!(
            program.exists(),
            "{} is missing: scripts/test installs moto[server] into .venv \
             (or set ROLLCALL_MOTO_SERVER)",
            program.display()
        );
        let port = free_port();
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        wait_until_listening(port, Duration::from_secs(30));
        moto
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}

fn wait_until_listening(port: u16, limit: Duration) {
    let started = Instant::now();
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
        assert!(
            started.elapsed() < limit,
            "nothing listens on {address} after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

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

fn write_reply(stream: &mut TcpStream, reply: &Reply) -> std::io::Result<()> {
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

/// A TCP proxy on 127.0.0.1 to `target` that can be taken down and brought
/// back: down, it accepts connections and closes them at once, as a dead
/// endpoint behind a load balancer would.
pub struct Proxy {
    pub endpoint: String,
    up: Arc<std::sync::atomic::AtomicBool>,
    /// The client side of every connection piped so far.
    clients: Arc<std::sync::Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    pub fn start(target: &str) -> Proxy {
        let target = target
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let clients = Arc::new(std::sync::Mutex::new(Vec::new()));
        let serving = Arc::clone(&up);
        let piped = Arc::clone(&clients);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !serving.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                if let Ok(kept) = client.try_clone() {
                    piped.lock().unwrap().push(kept);
                }
                pipe(client, server);
            }
        });
        Proxy {
            endpoint,
            up,
            clients,
        }
    }

    /// Down: new connections are closed at once and open ones are cut, so
    /// kept-alive connections fail too. Up: connections are piped again.
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
        if !up {
            for client in self.clients.lock().unwrap().drain(..) {
                let _ = client.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

fn pipe(client: TcpStream, server: TcpStream) {
    let (Ok(mut client_reader), Ok(mut server_writer)) = (client.try_clone(), server.try_clone())
    else {
        return;
    };
    let (mut server_reader, mut client_writer) = (server, client);
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_reader, &mut server_writer);
        let _ = server_writer.shutdown(std::net::Shutdown::Write);
    });
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut server_reader, &mut client_writer);
        let _ = client_writer.shutdown(std::net::Shutdown::Write);
    });
}

/// `GET path` on `address` (host:port): the status code and the body.
pub fn http_get(address: &str, path: &str) -> Option<(u16, String)> {
    http_request("GET", address, path)
}

/// An empty `POST` to `path`; its status.
pub fn http_post(address: &str, path: &str) -> Option<u16> {
    http_request("POST", address, path).map(|(status, _)| status)
}

fn http_request(method: &str, address: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Some((status, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// Polls `check` until it gives a value or `limit` passes.
pub fn eventually<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
