//! The HTTP API's connections: an accept loop that serves routers over
//! HTTP/1.1 with a header-read (and idle) timeout, a cap on open
//! connections shared out by [`super::slots`], and a deadline on graceful
//! shutdown. The limits are in [`super::limits`].
//!
//! At the cap, idle connections make room for newcomers. While no room can
//! be made (every connection busy, or idle only for a moment), newcomers
//! wait in the listen backlog, not in a queue of ours: they are accepted as
//! soon as a connection ends, finishes a request or has idled past the
//! eviction grace, so nobody waits behind the timeouts of the connections
//! before it, and a client that reopens whatever is closed waits its turn
//! instead of churning the slots.

use super::metrics::Metrics;
use super::slots::{Admission, Busy, Kind, Shares, Slot, Slots};
use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How a server treats its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A request head must arrive within this; also the idle timeout.
    pub header_read_timeout: Duration,
    /// Connections open at once, the reserved ones included.
    pub max_connections: usize,
    /// Of those, kept for `/healthz` and `/metrics` when the others are busy
    /// (at most half of them).
    pub reserved_connections: usize,
    /// Once three quarters of the other slots are taken, connections idle
    /// for longer than this are closed.
    pub pressure_keep_alive: Duration,
    /// A connection is closed to make room only once idle this long.
    pub eviction_grace: Duration,
    /// After shutdown begins, connections get this long to finish.
    pub shutdown_deadline: Duration,
}

impl ConnectionLimits {
    fn shares(&self) -> Shares {
        let reserved = self.reserved_connections.min(self.max_connections / 2);
        Shares {
            general: self.max_connections - reserved,
            reserved,
            pressure_keep_alive: self.pressure_keep_alive,
            eviction_grace: self.eviction_grace,
        }
    }
}

/// What the server serves: every route on a general slot, and what a
/// reserved slot serves (`/healthz`, `/metrics`) when the others are busy.
#[derive(Clone)]
pub struct Routers {
    pub general: Router,
    pub reserved: Router,
}

/// After a connection is asked to make room, it gets this long to finish
/// sending a response it has (the client may be slow to read it); then it
/// is closed. One that has served nothing has nothing to send.
const CLOSE_GRACE: Duration = Duration::from_millis(100);

/// While there is no room, how often to look again for a connection that
/// has idled past the eviction grace.
const ROOM_RECHECK: Duration = Duration::from_millis(20);

/// Wait after an accept error (out of file descriptors, say) before
/// accepting again, so that a persistent error does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Serves `routers` on `listener` until `shutdown` completes; then stops
/// accepting, asks every connection to finish its request in flight and
/// close, and closes those still open after the shutdown deadline.
pub async fn serve(
    listener: TcpListener,
    routers: Routers,
    limits: ConnectionLimits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let slots = Slots::new(limits.shares());
    let (stopping, stop) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut full = false;
    tokio::pin!(shutdown);
    loop {
        let room = slots.has_room(tokio::time::Instant::now());
        if !room && !full {
            warn_limit_reached(limits.max_connections);
            full = true;
        }
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept(), if room => accepted,
            () = slots.changed(), if !room => continue,
            () = tokio::time::sleep(ROOM_RECHECK), if !room => continue,
            // Reap finished connections so the set stays small.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) => {
                tracing::warn!(error = %err, "Cannot accept an HTTP connection.");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let Admission { slot, closed_idle } = slots.admit(tokio::time::Instant::now());
        metrics.http_connection(slot.as_ref().map(Slot::kind), closed_idle);
        let at_cap = closed_idle > 0
            || slot
                .as_ref()
                .is_none_or(|slot| slot.kind() == Kind::Reserved);
        if at_cap && !full {
            warn_limit_reached(limits.max_connections);
        }
        full = at_cap;
        let Some(slot) = slot else {
            tracing::debug!("Every HTTP connection is busy; closing a new one.");
            drop(stream);
            continue;
        };
        let router = match slot.kind() {
            Kind::General => routers.general.clone(),
            Kind::Reserved => routers.reserved.clone(),
        };
        let stop = stop.clone();
        connections.spawn(serve_connection(
            stream,
            router,
            slot,
            limits.header_read_timeout,
            stop,
        ));
    }

    let _ = stopping.send(true);
    drop(listener);
    let open = connections.len();
    let drained = tokio::time::timeout(limits.shutdown_deadline, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open,
            still_open = connections.len(),
            deadline = ?limits.shutdown_deadline,
            "HTTP connections did not finish before the shutdown deadline; closing them."
        );
        connections.shutdown().await;
    }
}

/// Logs, once per episode, that the connections ran short.
fn warn_limit_reached(max_connections: usize) {
    tracing::warn!(
        max_connections,
        "HTTP connection limit reached; idle connections make room, when every connection is \
         busy only /healthz and /metrics are served, and new ones wait until one of them is free."
    );
}

/// Why a connection stopped being served as usual.
enum Ending {
    Shutdown,
    MakeRoom,
}

/// One connection: HTTP/1.1 until the client closes, a timeout, an error,
/// shutdown, or a request to make room (both graceful: the request in flight
/// is answered first). A reserved slot serves one request.
async fn serve_connection(
    stream: TcpStream,
    router: Router,
    slot: Slot,
    header_read_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let slot = Arc::new(slot);
    let service = Tracked {
        inner: TowerToHyperService::new(router),
        slot: Arc::clone(&slot),
    };
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .keep_alive(slot.kind() == Kind::General)
        .serve_connection(TokioIo::new(slot.watch(stream)), service);
    tokio::pin!(connection);
    let ending = tokio::select! {
        outcome = connection.as_mut() => {
            log_end(outcome);
            return;
        }
        _ = stop.wait_for(|stop| *stop) => Ending::Shutdown,
        () = slot.close_requested() => Ending::MakeRoom,
    };
    connection.as_mut().graceful_shutdown();
    let (busy, served) = slot.state();
    match ending {
        Ending::MakeRoom if !busy && !served => {
            tracing::debug!("Closed an idle HTTP connection to make room.");
        }
        Ending::MakeRoom if !busy => {
            if let Ok(outcome) = tokio::time::timeout(CLOSE_GRACE, connection).await {
                log_end(outcome);
            }
        }
        Ending::MakeRoom | Ending::Shutdown => log_end(connection.await),
    }
}

fn log_end(outcome: Result<(), hyper::Error>) {
    if let Err(err) = outcome {
        tracing::debug!(error = %err, "HTTP connection ended with an error.");
    }
}

/// The router's service, marking its connection busy from each request
/// until hyper has taken the whole response body.
struct Tracked {
    inner: TowerToHyperService<Router>,
    slot: Arc<Slot>,
}

type Responding = Pin<Box<dyn Future<Output = Result<Response<TrackedBody>, Infallible>> + Send>>;

impl Service<Request<Incoming>> for Tracked {
    type Response = Response<TrackedBody>;
    type Error = Infallible;
    type Future = Responding;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let busy = self.slot.busy();
        let responding = self.inner.call(request);
        Box::pin(async move {
            let response = responding.await?;
            Ok(response.map(|body| TrackedBody { body, _busy: busy }))
        })
    }
}

/// A response body that keeps its connection busy until dropped.
struct TrackedBody {
    body: Body,
    _busy: Busy,
}

impl HttpBody for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(context)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
