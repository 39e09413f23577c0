//! The daemon's fixed limits on HTTP connections and on shutdown, in one
//! place: what a slow, idle or numerous client may hold, and how long a
//! stopping daemon waits for anything. `watch --help` states the two
//! shutdown deadlines: change it with them.

use super::connections::ConnectionLimits;
use std::time::Duration;

/// A connection must deliver a whole request head within this time, or it
/// is closed. hyper's header timer runs whenever the connection waits for a
/// head: on a new connection and on a kept-alive one after each response, so
/// this is also the idle (keep-alive) timeout ([`PRESSURE_KEEP_ALIVE`] when
/// the connections run short). A client on the same network
/// sends a head in milliseconds; ten seconds allows a slow link, and a client
/// that dribbles one header line every few seconds is cut off.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// At most this many HTTP connections are open at once. The API has a few
/// readers (Prometheus, a load balancer, an operator with curl); 512 is far
/// more than they need and far fewer descriptors than a process may open.
pub const MAX_CONNECTIONS: usize = 512;

/// Of the connections, this many are kept for `/healthz` and `/metrics`:
/// when every other one is busy (slow clients, explanations), a load
/// balancer and Prometheus still get their answer.
pub const RESERVED_CONNECTIONS: usize = 4;

/// Once three quarters of the connections are taken, one idle for longer
/// than this is closed: a client that keeps many connections open and idle
/// keeps them only while there is room to spare.
pub const PRESSURE_KEEP_ALIVE: Duration = Duration::from_secs(1);

/// `GET /v1/explain` runs at most this many policy evaluations at once,
/// each with the policy's whole memory limit: an operator's question, not a
/// hot path.
pub const EXPLANATIONS_AT_ONCE: usize = 2;

/// An explanation waits at most this long for its turn; then the API
/// answers 503 with `Retry-After` ([`BUSY_RETRY_AFTER`]).
pub const EXPLANATION_WAIT: Duration = Duration::from_secs(2);

/// What a 503 for want of room (an explanation that found no turn, a route
/// other than `/healthz` and `/metrics` on a reserved connection) says in
/// `Retry-After`.
pub const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

/// An idle connection is closed to make room for a new one only once it
/// has been idle this long: long enough for any client's request to be
/// read (a connection just accepted is never mistaken for an idle one), and
/// a bound on how fast a client that reopens whatever is closed can make
/// the connections turn over.
pub const EVICTION_GRACE: Duration = Duration::from_millis(100);

/// The HTTP API gets at least this many connections, however low the
/// open-file limit.
pub const MIN_CONNECTIONS: usize = 16;

/// Open files kept for the daemon's own work whatever the HTTP API does:
/// EC2 and IMDS connections, the inventory file, the plugin, each sink's file
/// or hook (three pipes each), the file watcher, the logs.
pub const RESERVED_FILES: u64 = 256;

/// After SIGTERM, HTTP requests in flight (or half sent) get this long to
/// finish; then their connections are closed.
pub const HTTP_SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);

/// Once the daemon has stopped, work it abandoned (a file read blocked on a
/// FIFO or a hung mount) gets this long; then the process exits anyway.
pub const RUNTIME_SHUTDOWN_DEADLINE: Duration = Duration::from_secs(2);

/// How many HTTP connections may be open when the process may open
/// `open_file_limit` files: what is left after [`RESERVED_FILES`], within
/// [`MIN_CONNECTIONS`] and [`MAX_CONNECTIONS`].
pub fn connection_cap(open_file_limit: u64) -> usize {
    let left = open_file_limit.saturating_sub(RESERVED_FILES);
    usize::try_from(left)
        .unwrap_or(usize::MAX)
        .clamp(MIN_CONNECTIONS, MAX_CONNECTIONS)
}

/// How the HTTP API treats its connections when the process may open
/// `open_file_limit` files.
pub fn connection_limits(open_file_limit: u64) -> ConnectionLimits {
    ConnectionLimits {
        header_read_timeout: HEADER_READ_TIMEOUT,
        max_connections: connection_cap(open_file_limit),
        reserved_connections: RESERVED_CONNECTIONS,
        pressure_keep_alive: PRESSURE_KEEP_ALIVE,
        eviction_grace: EVICTION_GRACE,
        shutdown_deadline: HTTP_SHUTDOWN_DEADLINE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_for_the_daemon_within_bounds() {
        assert_eq!(connection_cap(1024), 512);
        assert_eq!(connection_cap(524_288), MAX_CONNECTIONS);
        assert_eq!(connection_cap(300), 44);
        assert_eq!(connection_cap(100), MIN_CONNECTIONS);
        assert_eq!(connection_cap(u64::MAX), MAX_CONNECTIONS);
    }
}
