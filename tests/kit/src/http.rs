//! The one HTTP client of the tests and benchmarks: hyper's HTTP/1.1 client
//! over a loopback connection. Every call is synchronous and bounded in time;
//! the requests run on a small runtime of the kit's own, so that plain tests
//! and `#[tokio::test]`s call it alike.

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request, header};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

/// How long one request may take, connecting to the last byte of the body.
pub const ANSWER_LIMIT: Duration = Duration::from_secs(5);

/// `GET path` on `address` (host:port): the status and the body (lossy
/// UTF-8); `None` when nothing answered in time.
pub fn get(address: &str, path: &str) -> Option<(u16, String)> {
    let (status, body) = once(Method::GET, address, path)?;
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

/// An empty `POST` to `path` on `address`: the status.
pub fn post(address: &str, path: &str) -> Option<u16> {
    once(Method::POST, address, path).map(|(status, _)| status)
}

/// A `POST` of `body` to `path` on `address`, with `headers`, on a
/// connection of its own: the status and the body; `None` when nothing
/// answered in time.
pub fn post_body(
    address: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Option<(u16, Vec<u8>)> {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::HOST, address);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(body)))
        .expect("a request of a method, a path, headers and a body");
    let address = address.to_owned();
    on_runtime(async move {
        let answering = async {
            let stream = TcpStream::connect(&address).await.ok()?;
            let (mut sender, connection) = http1::handshake(TokioIo::new(stream)).await.ok()?;
            tokio::spawn(connection);
            let response = sender.send_request(request).await.ok()?;
            let status = response.status().as_u16();
            let body = response.into_body().collect().await.ok()?.to_bytes();
            Some((status, body.to_vec()))
        };
        tokio::time::timeout(ANSWER_LIMIT, answering).await.ok()?
    })
}

/// One request on a connection of its own, closed after it.
fn once(method: Method, address: &str, path: &str) -> Option<(u16, Vec<u8>)> {
    let (address, path) = (address.to_owned(), path.to_owned());
    on_runtime(async move {
        let mut sender = connect(&address).await?;
        ask(&mut sender, method, &address, &path).await
    })
}

/// `GET`s on one kept-alive connection, opened again when the server has
/// closed it (or was not listening yet).
pub struct Connection {
    address: String,
    sender: Option<SendRequest<Empty<Bytes>>>,
}

impl Connection {
    pub fn new(address: &str) -> Connection {
        Connection {
            address: address.to_owned(),
            sender: None,
        }
    }

    /// `GET path`: the status and the body; `None` when nothing answered
    /// in time.
    pub fn get(&mut self, path: &str) -> Option<(u16, Vec<u8>)> {
        let (address, path) = (self.address.clone(), path.to_owned());
        let kept = self.sender.take().filter(|sender| !sender.is_closed());
        let (sender, answer) = on_runtime(async move {
            let mut sender = match kept {
                Some(sender) => sender,
                None => match connect(&address).await {
                    Some(sender) => sender,
                    None => return (None, None),
                },
            };
            let answer = ask(&mut sender, Method::GET, &address, &path).await;
            (Some(sender), answer)
        });
        if answer.is_some() {
            self.sender = sender;
        }
        answer
    }
}

/// An HTTP/1.1 connection to `address`, driven on the kit's runtime.
async fn connect(address: &str) -> Option<SendRequest<Empty<Bytes>>> {
    let connecting = TcpStream::connect(address);
    let stream = tokio::time::timeout(ANSWER_LIMIT, connecting)
        .await
        .ok()?
        .ok()?;
    stream.set_nodelay(true).ok()?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.ok()?;
    tokio::spawn(connection);
    Some(sender)
}

async fn ask(
    sender: &mut SendRequest<Empty<Bytes>>,
    method: Method,
    address: &str,
    path: &str,
) -> Option<(u16, Vec<u8>)> {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, address)
        .body(Empty::new())
        .expect("a request of a method, a path and a host");
    let answering = async {
        sender.ready().await.ok()?;
        let response = sender.send_request(request).await.ok()?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.ok()?.to_bytes();
        Some((status, body.to_vec()))
    };
    tokio::time::timeout(ANSWER_LIMIT, answering).await.ok()?
}

/// Runs `work` on the kit's runtime and waits for its result.
fn on_runtime<T: Send + 'static>(work: impl Future<Output = T> + Send + 'static) -> T {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("kit-http")
            .enable_all()
            .build()
            .expect("the HTTP client's runtime starts")
    });
    let (done, result) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = done.send(work.await);
    });
    result.recv().expect("an HTTP request panicked")
}
