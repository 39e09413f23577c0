//! The HTTP API's connections: an accept loop that serves a router over
//! HTTP/1.1 with a header-read (and idle) timeout, a cap on open
//! connections, and a deadline on graceful shutdown. The limits are in
//! [`super::limits`].
//!
//! A connection over the cap is closed at once rather than left waiting:
//! the client learns immediately that the daemon is busy, and a queue would
//! make every later client, `/healthz` included, wait behind the timeouts of
//! all the connections before it.

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// How a server treats its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A request head must arrive within this; also the idle timeout.
    pub header_read_timeout: Duration,
    /// Connections open at once; more are closed as soon as accepted.
    pub max_connections: usize,
    /// After shutdown begins, connections get this long to finish.
    pub shutdown_deadline: Duration,
}

/// Wait after an accept error (out of file descriptors, say) before
/// accepting again, so that a persistent error does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` until `shutdown` completes; then stops
/// accepting, asks every connection to finish its request in flight and
/// close, and closes those still open after the shutdown deadline.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stopping, stop) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut full = false;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
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
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            if !full {
                tracing::warn!(
                    max_connections = limits.max_connections,
                    "HTTP connection limit reached; closing new connections until some finish."
                );
            }
            full = true;
            drop(stream);
            continue;
        };
        full = false;
        let router = router.clone();
        let stop = stop.clone();
        connections.spawn(async move {
            serve_connection(stream, router, limits.header_read_timeout, stop).await;
            drop(slot);
        });
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

/// One connection: HTTP/1.1 until the client closes, a timeout, an error, or
/// shutdown (graceful: the request in flight is answered first).
async fn serve_connection(
    stream: TcpStream,
    router: Router,
    header_read_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(router));
    tokio::pin!(connection);
    let finished = tokio::select! {
        outcome = connection.as_mut() => Some(outcome),
        _ = stop.wait_for(|stop| *stop) => None,
    };
    let outcome = match finished {
        Some(outcome) => outcome,
        None => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(err) = outcome {
        tracing::debug!(error = %err, "HTTP connection ended with an error.");
    }
}
