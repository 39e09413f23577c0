//! The daemon's read-only HTTP API: the current membership, change events,
//! health and Prometheus metrics.
//!
//! | route | answer |
//! |---|---|
//! | `GET /v1/membership` | the membership document, as `resolve --format json` prints it; 503 before the first answer |
//! | `GET /v1/explain/{instance_id}` | why the policy decided what it did about the instance, as `explain --format json` prints it, on the current fleet; 404 for an instance not in it, 503 before the first answer |
//! | `GET /v1/graph` | the registration graph: `{"self", "nodes": [{"id", "role", "clusters", "address", "port", "flags"}], "edges": [{"from", "to"}], "notes"}`, the policy asked with each member as self (self's edges only above 500 members, as a note says), decided once per answer under the explanations' limit; 503 before the first answer |
//! | `GET /` | a page that draws the graph and follows `/v1/graph` (nothing loaded from elsewhere) |
//! | `GET /v1/prometheus-sd` | the members as Prometheus `http_sd` JSON, as `resolve --format prometheus-file-sd` prints it; 503 before the first answer |
//! | `GET /v1/events?since=N` | `{"events": [...]}`, the change events with a sequence above `N` (default 0) |
//! | `GET /healthz` | 200 `{"status": "ok", ...}` or 503 `{"status": "unhealthy", "reason": ..., ...}` |
//! | `GET /metrics` | the Prometheus text format |
//!
//! Errors are JSON `{"error": "..."}`; other paths are 404, other methods 405.
//! Connections are served by [`super::connections`], under its limits: when
//! every other connection is busy, a reserved one serves `/healthz` and
//! `/metrics` only, and anything else there is 503 with `Retry-After`.
//! Explanations run a few at a time ([`super::explain_limit`]); one that
//! waited too long for its turn is 503 with `Retry-After`.

use super::connections::{self, ConnectionLimits, Routers};
use super::explain_limit::{ExplainLimit, NoExplanation};
use super::graph_api::{self, GraphCache};
use super::limits::BUSY_RETRY_AFTER;
use super::metrics::{self, Metrics};
use super::status::{Health, Status};
use crate::changes::EventLog;
use crate::explain::{ExplainError, explain};
use crate::membership::rfc3339;
use crate::output;
use crate::settings::{Bundled, Format};
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;
use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// What the handlers read. Cloned per request; every field is a cheap handle.
#[derive(Clone)]
pub struct HttpState {
    pub status: watch::Receiver<Status>,
    pub events: Arc<EventLog>,
    pub metrics: Arc<Metrics>,
    pub explanations: ExplainLimit,
    pub graphs: Arc<GraphCache>,
}

/// Serves the API on `listener` until `shutdown` completes, then stops
/// accepting and gives requests in flight until the shutdown deadline in
/// `limits` to finish.
pub async fn serve(
    listener: TcpListener,
    state: HttpState,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let address = listener.local_addr()?;
    tracing::info!(
        %address,
        max_connections = limits.max_connections,
        header_read_timeout = ?limits.header_read_timeout,
        "HTTP API listening."
    );
    let metrics = Arc::clone(&state.metrics);
    let routers = Routers {
        general: router(state.clone()),
        reserved: reserved_router(state),
    };
    connections::serve(listener, routers, limits, metrics, shutdown).await;
    tracing::info!(%address, "HTTP API stopped.");
    Ok(())
}

fn router(state: HttpState) -> Router {
    Router::new()
        .route("/v1/membership", get(membership))
        .route("/v1/prometheus-sd", get(prometheus_sd))
        .route("/v1/explain/{instance_id}", get(explanation))
        .route("/v1/events", get(events))
        .route("/v1/graph", get(graph_api::graph))
        .route("/", get(graph_api::page))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(state)
}

/// What a reserved connection serves, every other one being busy.
fn reserved_router(state: HttpState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(only_health)
        .with_state(state)
}

async fn only_health() -> Response {
    busy("every HTTP connection is busy: only /healthz and /metrics are served now")
}

/// 503 for want of room, with `Retry-After`.
pub(super) fn busy(message: impl Into<String>) -> Response {
    let mut response = error(StatusCode::SERVICE_UNAVAILABLE, message);
    response.headers_mut().insert(
        header::RETRY_AFTER,
        header::HeaderValue::from(BUSY_RETRY_AFTER.as_secs()),
    );
    response
}

pub(super) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let message: String = message.into();
    (status, axum::Json(json!({ "error": message }))).into_response()
}

async fn membership(State(state): State<HttpState>) -> Response {
    let current = state.status.borrow().membership.clone();
    let Some(current) = current else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no membership yet: the first refresh has not succeeded",
        );
    };
    match output::render(&current, Format::Json) {
        Ok(document) => ([(header::CONTENT_TYPE, "application/json")], document).into_response(),
        Err(cause) => {
            tracing::error!(error = %cause, "Could not serialize the membership.");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("could not serialize the membership: {cause}"),
            )
        }
    }
}

/// The current members as Prometheus `http_sd` targets.
async fn prometheus_sd(State(state): State<HttpState>) -> Response {
    let current = state.status.borrow().membership.clone();
    let Some(current) = current else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no membership yet: the first refresh has not succeeded",
        );
    };
    match output::render(&current, Format::Bundled(Bundled::PrometheusFileSd)) {
        Ok(groups) => ([(header::CONTENT_TYPE, "application/json")], groups).into_response(),
        Err(cause) => {
            tracing::error!(error = %cause, "Could not write the Prometheus targets.");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("could not write the Prometheus targets: {cause}"),
            )
        }
    }
}

/// The current policy, asked again on the current fleet to explain one
/// instance: costs one evaluation, when it gets its turn.
async fn explanation(State(state): State<HttpState>, Path(instance_id): Path<String>) -> Response {
    let decided = state.status.borrow().decided.clone();
    let Some(decided) = decided else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "nothing to explain yet: the first refresh has not succeeded",
        );
    };
    let explaining = explain(decided.inventory, decided.policy, decided.own, instance_id);
    match state.explanations.run(&state.metrics, explaining).await {
        Ok(Ok(explanation)) => axum::Json(explanation).into_response(),
        Ok(Err(err @ ExplainError::InstanceNotFound { .. })) => {
            error(StatusCode::NOT_FOUND, err.to_string())
        }
        Ok(Err(err)) => error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
        Err(err @ NoExplanation::Busy { .. }) => busy(err.to_string()),
        Err(err @ NoExplanation::Stopped(_)) => {
            error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string())
        }
    }
}

#[derive(Deserialize)]
struct EventsQuery {
    since: Option<u64>,
}

async fn events(
    State(state): State<HttpState>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Response {
    let since = match query {
        Ok(Query(query)) => query.since.unwrap_or(0),
        Err(rejection) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("since must be a non-negative integer: {rejection}"),
            );
        }
    };
    axum::Json(json!({ "events": state.events.since(since) })).into_response()
}

async fn healthz(State(state): State<HttpState>) -> Response {
    let (health, last_success, refresh_error, reload_error, sink_errors) = {
        let status = state.status.borrow();
        let sink_errors: serde_json::Map<String, serde_json::Value> = status
            .sink_failures
            .iter()
            .map(|(sink, failure)| (sink.clone(), json!(failure.error)))
            .collect();
        (
            status.health(SystemTime::now()),
            status.last_success,
            status.refresh_failure.as_ref().map(|f| f.error.clone()),
            status.reload_failure.as_ref().map(|f| f.error.clone()),
            sink_errors,
        )
    };
    let mut body = json!({
        "status": "ok",
        "last_success": last_success.map(rfc3339),
        "refresh_error": refresh_error,
        "reload_error": reload_error,
        "sink_errors": sink_errors,
    });
    let code = match health {
        Health::Healthy => StatusCode::OK,
        Health::Unhealthy(reason) => {
            body["status"] = json!("unhealthy");
            body["reason"] = json!(reason);
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    (code, axum::Json(body)).into_response()
}

async fn metrics(State(state): State<HttpState>) -> Response {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        state.metrics.render(),
    )
        .into_response()
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "no such resource")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::ChangeKind;
    use crate::daemon::status::Decided;
    use crate::daemon::status::Failure;
    use crate::inventory::{Instance, Inventory};
    use crate::membership::{InventorySummary, Membership, Target};
    use crate::policy::{Decision, Member, Policy, PolicyError, PolicyIdentity};
    use serde_json::Value;
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Condvar, Mutex};
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::sync::{Barrier, oneshot};
    use tokio::task::{JoinHandle, JoinSet};
    use tower::ServiceExt;

    const LIMITS: ConnectionLimits = ConnectionLimits {
        header_read_timeout: Duration::from_secs(10),
        max_connections: 32,
        reserved_connections: 4,
        pressure_keep_alive: Duration::from_secs(1),
        eviction_grace: Duration::from_millis(100),
        shutdown_deadline: Duration::from_secs(5),
    };

    /// Two explanations at once; the others wait up to 10 s.
    fn explain_limit() -> ExplainLimit {
        ExplainLimit::new(2, Duration::from_secs(10))
    }

    /// The API's state with the handles a test changes it by; requests go
    /// through the router in-process (`oneshot`), no socket.
    struct Api {
        state: HttpState,
        status: watch::Sender<Status>,
        events: Arc<EventLog>,
        metrics: Arc<Metrics>,
    }

    impl Api {
        fn new() -> Api {
            Api::with(explain_limit())
        }

        fn with(explanations: ExplainLimit) -> Api {
            let (status, receiver) = watch::channel(Status::new(Duration::from_secs(60)));
            let events = Arc::new(EventLog::new(10));
            let metrics = Arc::new(Metrics::new());
            let state = HttpState {
                status: receiver,
                events: events.clone(),
                metrics: metrics.clone(),
                explanations,
                graphs: Default::default(),
            };
            Api {
                state,
                status,
                events,
                metrics,
            }
        }

        async fn request(&self, method: &str, target: &str) -> Reply {
            ask(self.state.clone(), method, target).await
        }

        async fn get(&self, target: &str) -> Reply {
            self.request("GET", target).await
        }
    }

    /// `METHOD target` through the general router on `state`.
    async fn ask(state: HttpState, method: &str, target: &str) -> Reply {
        let request = axum::http::Request::builder()
            .method(method)
            .uri(target)
            .body(axum::body::Body::empty())
            .unwrap();
        let response = router(state).oneshot(request).await.unwrap();
        Reply::from_response(response).await
    }

    /// The API served on a loopback socket, for what happens to
    /// connections; [`Api`] for the rest.
    struct Server {
        api: Api,
        address: SocketAddr,
        stop: Option<oneshot::Sender<()>>,
        task: JoinHandle<std::io::Result<()>>,
    }

    impl std::ops::Deref for Server {
        type Target = Api;

        fn deref(&self) -> &Api {
            &self.api
        }
    }

    impl Server {
        async fn start() -> Server {
            let api = Api::new();
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(serve(listener, api.state.clone(), LIMITS, async {
                let _ = stopped.await;
            }));
            Server {
                api,
                address,
                stop: Some(stop),
                task,
            }
        }
    }

    #[derive(Debug)]
    struct Reply {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    }

    impl Reply {
        /// A `Connection: close` response; axum sends fixed-length bodies
        /// here, so the body is everything after the head.
        fn parse(raw: &str) -> Reply {
            let (head, body) = raw.split_once("\r\n\r\n").unwrap();
            let mut lines = head.lines();
            let status = lines
                .next()
                .unwrap()
                .split(' ')
                .nth(1)
                .unwrap()
                .parse()
                .unwrap();
            let headers = lines
                .map(|line| {
                    let (name, value) = line.split_once(':').unwrap();
                    (name.trim().to_ascii_lowercase(), value.trim().to_owned())
                })
                .collect();
            Reply {
                status,
                headers,
                body: body.to_owned(),
            }
        }

        async fn from_response(response: Response) -> Reply {
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(name, value)| (name.as_str().to_owned(), value.to_str().unwrap().to_owned()))
                .collect();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            Reply {
                status,
                headers,
                body: String::from_utf8(body.to_vec()).unwrap(),
            }
        }

        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        }

        fn json(&self) -> Value {
            assert_eq!(self.header("content-type"), Some("application/json"));
            serde_json::from_str(&self.body).unwrap()
        }
    }

    fn membership() -> Membership {
        Membership {
            own: None,
            register_with: vec![Target {
                instance_id: "i-a".to_owned(),
                role: "monitor".to_owned(),
                address: "10.0.0.1".to_owned(),
                port: Some(7070),
            }],
            members: [("i-a", "monitor"), ("i-b", "agent")]
                .iter()
                .map(|(id, role)| Member {
                    instance_id: (*id).to_owned(),
                    role: (*role).to_owned(),
                    clusters: Vec::new(),
                    address: Some("10.0.0.1".to_owned()),
                    port: None,
                    labels: Default::default(),
                    status: Default::default(),
                })
                .collect(),
            policy: PolicyIdentity {
                path: "p.wasm".into(),
                sha256: "abc".to_owned(),
            },
            inventory: InventorySummary {
                source: "test".to_owned(),
                instances: 2,
                fetched_at: "2024-01-01T00:00:00Z".to_owned(),
                stale: false,
                stale_for_seconds: None,
                error: None,
                snapshot: None,
                stale_parts: Vec::new(),
            },
        }
    }

    #[tokio::test]
    async fn membership_is_503_until_there_is_an_answer_then_the_json_document() {
        let api = Api::new();
        let reply = api.get("/v1/membership").await;
        assert_eq!(reply.status, 503);
        assert!(
            reply.json()["error"]
                .as_str()
                .unwrap()
                .contains("no membership yet")
        );

        let document = membership();
        api.status.send_modify(|status| {
            status.membership = Some(Arc::new(document.clone()));
            status.last_success = Some(SystemTime::now());
        });
        let reply = api.get("/v1/membership").await;
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.body,
            output::render(&document, Format::Json).unwrap(),
            "byte for byte what resolve --format json prints"
        );
        let parsed: Membership = serde_json::from_value(reply.json()).unwrap();
        assert_eq!(parsed, document);
    }

    #[tokio::test]
    async fn prometheus_sd_is_503_until_there_is_an_answer_then_the_file_sd_json() {
        let api = Api::new();
        let reply = api.get("/v1/prometheus-sd").await;
        assert_eq!(reply.status, 503);

        let document = membership();
        api.status.send_modify(|status| {
            status.membership = Some(Arc::new(document.clone()));
            status.last_success = Some(SystemTime::now());
        });
        let reply = api.get("/v1/prometheus-sd").await;
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.body,
            output::render(&document, Format::Bundled(Bundled::PrometheusFileSd)).unwrap(),
            "what resolve --format prometheus-file-sd prints"
        );
        let groups = reply.json();
        assert_eq!(groups.as_array().unwrap().len(), 2);
        assert_eq!(groups[1]["targets"], json!(["10.0.0.1"]));
        assert_eq!(groups[1]["labels"]["__meta_rollcall_instance_id"], "i-b");
    }

    #[tokio::test]
    async fn events_since_a_sequence() {
        let api = Api::new();
        assert_eq!(api.get("/v1/events").await.json(), json!({ "events": [] }));

        api.events
            .record("t1".into(), ChangeKind::Joined, vec!["i-a".into()]);
        api.events
            .record("t2".into(), ChangeKind::Left, vec!["i-b".into()]);
        let all = api.get("/v1/events").await;
        assert_eq!(all.status, 200);
        assert_eq!(
            all.json(),
            json!({ "events": [
                { "sequence": 1, "at": "t1", "kind": "joined", "instance_ids": ["i-a"] },
                { "sequence": 2, "at": "t2", "kind": "left", "instance_ids": ["i-b"] },
            ]})
        );
        let later = api.get("/v1/events?since=1").await.json();
        assert_eq!(later["events"].as_array().unwrap().len(), 1);
        assert_eq!(later["events"][0]["sequence"], 2);
        assert_eq!(
            api.get("/v1/events?since=2").await.json(),
            json!({ "events": [] })
        );

        let bad = api.get("/v1/events?since=yesterday").await;
        assert_eq!(bad.status, 400);
        assert!(
            bad.json()["error"]
                .as_str()
                .unwrap()
                .starts_with("since must be")
        );
    }

    #[tokio::test]
    async fn healthz_is_503_before_the_first_success_with_the_refresh_error() {
        let api = Api::new();
        let reply = api.get("/healthz").await;
        assert_eq!(reply.status, 503);
        assert_eq!(
            reply.json(),
            json!({
                "status": "unhealthy",
                "reason": "no refresh has finished yet",
                "last_success": null,
                "refresh_error": null,
                "reload_error": null,
                "sink_errors": {},
            })
        );

        api.status.send_modify(|status| {
            status.refresh_failure = Some(Failure {
                at: SystemTime::now(),
                error: "endpoint down".into(),
            });
        });
        let body = api.get("/healthz").await.json();
        assert_eq!(body["reason"], "no successful refresh yet: endpoint down");
        assert_eq!(body["refresh_error"], "endpoint down");
    }

    #[tokio::test]
    async fn healthz_is_ok_when_fresh_and_shows_a_failed_reload() {
        let api = Api::new();
        let now = SystemTime::now();
        api.status.send_modify(|status| {
            status.membership = Some(Arc::new(membership()));
            status.last_success = Some(now);
            status.reload_failure = Some(Failure {
                at: now,
                error: "policy.wasm: failed to compile".into(),
            });
            status.sink_failures.insert(
                "exec on-change".into(),
                Failure {
                    at: now,
                    error: "on-change exited with exit status: 3".into(),
                },
            );
        });
        let reply = api.get("/healthz").await;
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.json(),
            json!({
                "status": "ok",
                "last_success": rfc3339(now),
                "refresh_error": null,
                "reload_error": "policy.wasm: failed to compile",
                "sink_errors": {"exec on-change": "on-change exited with exit status: 3"},
            })
        );
    }

    #[tokio::test]
    async fn healthz_is_503_when_the_answer_is_stale() {
        let api = Api::new();
        let long_ago = SystemTime::now() - Duration::from_secs(3600);
        api.status.send_modify(|status| {
            status.membership = Some(Arc::new(membership()));
            status.last_success = Some(long_ago);
            status.refresh_failure = Some(Failure {
                at: SystemTime::now(),
                error: "throttled".into(),
            });
        });
        let reply = api.get("/healthz").await;
        assert_eq!(reply.status, 503);
        let body = reply.json();
        assert_eq!(body["status"], "unhealthy");
        let reason = body["reason"].as_str().unwrap();
        assert!(reason.contains("older than 1m: throttled"), "{reason}");
        assert_eq!(body["last_success"], rfc3339(long_ago));
        assert_eq!(body["refresh_error"], "throttled");
        assert_eq!(body["reload_error"], Value::Null);
        // The last good answer is still served while unhealthy.
        assert_eq!(api.get("/v1/membership").await.status, 200);
    }

    #[tokio::test]
    async fn metrics_are_the_prometheus_text_format() {
        let api = Api::new();
        api.metrics.reload(metrics::Reloaded::RolledBack);
        let reply = api.get("/metrics").await;
        assert_eq!(reply.status, 200);
        assert!(
            reply
                .header("content-type")
                .unwrap()
                .starts_with("text/plain; version=0.0.4")
        );
        assert!(
            reply
                .body
                .lines()
                .any(|line| line == r#"rollcall_reloads_total{outcome="rolled_back"} 1"#),
            "{}",
            reply.body
        );
    }

    #[tokio::test]
    async fn unknown_paths_are_404_and_other_methods_405() {
        let api = Api::new();
        let reply = api.get("/v1/nothing").await;
        assert_eq!(reply.status, 404);
        assert_eq!(reply.json(), json!({ "error": "no such resource" }));
        assert_eq!(api.get("/v1").await.status, 404);
        assert_eq!(api.request("POST", "/v1/membership").await.status, 405);
        assert_eq!(api.request("DELETE", "/healthz").await.status, 405);
    }

    #[tokio::test]
    async fn shutdown_finishes_the_request_in_flight_and_stops_accepting() {
        let mut server = Server::start().await;
        // A request whose head is still arriving when shutdown begins.
        let mut slow = TcpStream::connect(server.address).await.unwrap();
        slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let accepted = r#"rollcall_http_connections_total{outcome="general"}"#;
        let accepting = async {
            while server.metric(accepted) != Some(1.0) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), accepting)
            .await
            .expect("the server accepts the connection");

        let _ = server.stop.take().unwrap().send(());
        let stopping = tokio::time::timeout(Duration::from_millis(50), &mut server.task).await;
        assert!(stopping.is_err(), "waits for the connection");

        slow.write_all(b"Connection: close\r\n\r\n").await.unwrap();
        let mut raw = Vec::new();
        slow.read_to_end(&mut raw).await.unwrap();
        assert_eq!(Reply::parse(&String::from_utf8(raw).unwrap()).status, 503);

        tokio::time::timeout(Duration::from_secs(5), &mut server.task)
            .await
            .expect("the server stops once the connection closed")
            .unwrap()
            .unwrap();
        assert!(TcpStream::connect(server.address).await.is_err());
    }

    impl Api {
        /// A fresh answer, so that `/healthz` says 200.
        fn serve_an_answer(&self) {
            self.status.send_modify(|status| {
                status.membership = Some(Arc::new(membership()));
                status.last_success = Some(SystemTime::now());
            });
        }

        /// Explanations of the fleet `i-a`, `i-b` are decided by `gate`.
        fn explain_through(&self, gate: &Arc<Gate>) {
            let inventory = Inventory {
                instances: vec![Instance::running("i-a"), Instance::running("i-b")].into(),
                source: "test".to_owned(),
                fetched_at: SystemTime::now(),
                snapshot: None,
                unconfirmed: Vec::new(),
                stale_parts: Vec::new(),
            };
            let policy = Gated {
                identity: PolicyIdentity {
                    path: "gated.wasm".into(),
                    sha256: "0".repeat(64),
                },
                gate: Arc::clone(gate),
            };
            self.status.send_modify(|status| {
                status.decided = Some(Decided {
                    inventory: Arc::new(inventory),
                    policy: Arc::new(policy),
                    own: None,
                });
            });
        }

        /// The value of the metric sample `name` (with its labels).
        fn metric(&self, name: &str) -> Option<f64> {
            self.metrics.render().lines().find_map(|line| {
                let value = line.strip_prefix(name)?.strip_prefix(' ')?;
                value.parse().ok()
            })
        }
    }

    /// Where every decision of a [`Gated`] policy waits until the test opens
    /// it (or 10 s pass), counting how many wait at once.
    #[derive(Default)]
    struct Gate {
        open: Mutex<bool>,
        opened: Condvar,
        inside: AtomicUsize,
        most: AtomicUsize,
    }

    impl Gate {
        fn open(&self) {
            *self.open.lock().unwrap() = true;
            self.opened.notify_all();
        }

        fn most(&self) -> usize {
            self.most.load(Ordering::SeqCst)
        }
    }

    /// Opens the gate when the test ends, passed or failed, so that no
    /// blocking thread outlives it.
    struct OpenOnDrop(Arc<Gate>);

    impl Drop for OpenOnDrop {
        fn drop(&mut self) {
            self.0.open();
        }
    }

    /// Every instance an agent, once the gate opens.
    struct Gated {
        identity: PolicyIdentity,
        gate: Arc<Gate>,
    }

    impl Policy for Gated {
        fn identity(&self) -> &PolicyIdentity {
            &self.identity
        }

        fn decide(
            &self,
            fleet: &crate::inventory::Fleet,
            _self_id: Option<&str>,
            _explain: Option<&str>,
        ) -> Result<Decision, PolicyError> {
            let instances = &fleet.instances();
            let inside = self.gate.inside.fetch_add(1, Ordering::SeqCst) + 1;
            self.gate.most.fetch_max(inside, Ordering::SeqCst);
            let open = self.gate.open.lock().unwrap();
            let waited =
                self.gate
                    .opened
                    .wait_timeout_while(open, Duration::from_secs(10), |open| !*open);
            drop(waited);
            self.gate.inside.fetch_sub(1, Ordering::SeqCst);
            Ok(Decision {
                members: instances
                    .iter()
                    .map(|instance| Member {
                        instance_id: instance.id.clone(),
                        role: "agent".to_owned(),
                        clusters: Vec::new(),
                        address: None,
                        port: None,
                        labels: Default::default(),
                        status: Default::default(),
                    })
                    .collect(),
                register_with: Vec::new(),
                notes: Vec::new(),
            })
        }
    }

    /// Reads one response (its head and `Content-Length` body); `None` when
    /// the server closed the connection first.
    async fn read_response(stream: &mut TcpStream) -> Option<Reply> {
        let mut raw = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = raw.windows(4).position(|window| window == b"\r\n\r\n") {
                let head = Reply::parse(&String::from_utf8_lossy(&raw[..end + 4]));
                let length: usize = head.header("content-length")?.parse().ok()?;
                if raw.len() >= end + 4 + length {
                    return Some(Reply::parse(&String::from_utf8_lossy(
                        &raw[..end + 4 + length],
                    )));
                }
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(read) => raw.extend_from_slice(&chunk[..read]),
            }
        }
    }

    /// Sends `GET target` on `stream` (kept alive unless `close`).
    async fn send(stream: &mut TcpStream, target: &str, close: bool) -> std::io::Result<()> {
        let connection = if close { "Connection: close\r\n" } else { "" };
        let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\n{connection}\r\n");
        stream.write_all(request.as_bytes()).await
    }

    /// `GET target` on a new connection, answered within a second.
    async fn within_a_second(address: SocketAddr, target: &str) -> Result<Reply, String> {
        let asking = async {
            let mut stream = TcpStream::connect(address)
                .await
                .map_err(|err| err.to_string())?;
            send(&mut stream, target, true)
                .await
                .map_err(|err| err.to_string())?;
            read_response(&mut stream)
                .await
                .ok_or_else(|| "closed without an answer".to_owned())
        };
        tokio::time::timeout(Duration::from_secs(1), asking)
            .await
            .map_err(|_| "no answer within 1 s".to_owned())?
    }

    /// A client that sends one request on a kept-alive connection, reads the
    /// answer and leaves the connection idle; `None` if it was closed.
    async fn idle_after_one_request(address: SocketAddr) -> Option<TcpStream> {
        let mut stream = TcpStream::connect(address).await.ok()?;
        send(&mut stream, "/v1/events", false).await.ok()?;
        read_response(&mut stream).await?;
        Some(stream)
    }

    /// A client that opens a connection, sends nothing, and opens another as
    /// soon as the server closes it: at most `rounds` times, until `stop`.
    /// It meets the others at `started` once its first connection is open.
    /// Returns how many connections it opened.
    async fn reopening(
        address: SocketAddr,
        started: Arc<Barrier>,
        mut stop: watch::Receiver<bool>,
        rounds: usize,
    ) -> usize {
        let mut opened = 0;
        while opened < rounds && !*stop.borrow() {
            let Ok(mut stream) = TcpStream::connect(address).await else {
                break;
            };
            opened += 1;
            if opened == 1 {
                started.wait().await;
            }
            let mut byte = [0u8; 1];
            tokio::select! {
                _ = stream.read(&mut byte) => {}
                _ = stop.changed() => break,
            }
        }
        opened
    }

    /// Probes `/healthz` `count` times, each on a new connection; every one
    /// must be answered 200 within a second.
    async fn healthz_answers(server: &Server, count: usize) {
        for probe in 0..count {
            let reply = within_a_second(server.address, "/healthz").await;
            assert_eq!(
                reply.map(|reply| reply.status),
                Ok(200),
                "probe {probe} of /healthz; {:?}",
                server
                    .metrics
                    .render()
                    .lines()
                    .filter(|line| line.starts_with("rollcall_http"))
                    .collect::<Vec<_>>()
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn healthz_answers_within_a_second_while_idle_keep_alive_clients_hold_every_slot() {
        let server = Server::start().await;
        server.serve_an_answer();
        // Twice as many clients as connections, each idle after a request.
        let mut idle = Vec::new();
        for _ in 0..LIMITS.max_connections * 2 {
            idle.extend(idle_after_one_request(server.address).await);
        }
        assert!(idle.len() >= LIMITS.max_connections, "every slot was taken");
        healthz_answers(&server, 20).await;
        // Any route: idle connections make room once past their grace.
        for probe in 0..5 {
            let reply = within_a_second(server.address, "/v1/membership").await;
            assert_eq!(reply.map(|reply| reply.status), Ok(200), "probe {probe}");
        }
        let closed = server.metric("rollcall_http_idle_connections_closed_total");
        assert!(closed >= Some(5.0), "{closed:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn healthz_answers_within_a_second_while_clients_reopen_every_closed_connection() {
        let server = Server::start().await;
        server.serve_an_answer();
        let clients = LIMITS.max_connections;
        let started = Arc::new(Barrier::new(clients + 1));
        let (stop, stopping) = watch::channel(false);
        let reopening: Vec<_> = (0..clients)
            .map(|_| {
                let started = Arc::clone(&started);
                tokio::spawn(reopening(server.address, started, stopping.clone(), 200))
            })
            .collect();
        // Every client has a connection open: every slot is taken.
        tokio::time::timeout(Duration::from_secs(10), started.wait())
            .await
            .expect("every client connected");
        healthz_answers(&server, 20).await;
        stop.send(true).unwrap();
        let mut opened = 0;
        for client in reopening {
            opened += client.await.unwrap();
        }
        assert!(opened > clients, "the clients were closed and came back");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn healthz_answers_on_a_reserved_connection_while_every_other_one_is_busy() {
        let server = Server::start().await;
        server.serve_an_answer();
        let gate = Arc::new(Gate::default());
        let _open = OpenOnDrop(Arc::clone(&gate));
        server.explain_through(&gate);
        // Explanations busy on every general connection: two decide, the
        // others wait for their turn.
        let general = LIMITS.max_connections - LIMITS.reserved_connections;
        let mut busy = Vec::new();
        for _ in 0..general {
            let mut stream = TcpStream::connect(server.address).await.unwrap();
            send(&mut stream, "/v1/explain/i-a", false).await.unwrap();
            busy.push(stream);
        }
        let waiting = format!("{}", general - 2);
        let queued = async {
            while server.metric("rollcall_explanations_waiting") != waiting.parse().ok() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        // Not fatal: the test is about what follows.
        let _ = tokio::time::timeout(Duration::from_secs(5), queued).await;
        // More explanations: a reserved connection does not serve them.
        for _ in 0..LIMITS.reserved_connections {
            let reply = within_a_second(server.address, "/v1/explain/i-a")
                .await
                .unwrap();
            assert_eq!(reply.status, 503);
            assert_eq!(reply.header("retry-after"), Some("1"));
            assert!(
                reply.body.contains("only /healthz and /metrics"),
                "{reply:?}"
            );
        }
        healthz_answers(&server, 10).await;
        let metrics = within_a_second(server.address, "/metrics").await.unwrap();
        assert_eq!(metrics.status, 200);
        assert_eq!(
            server.metric(r#"rollcall_http_connections_total{outcome="refused"}"#),
            Some(0.0)
        );

        // The busy connections all get their explanation in the end.
        gate.open();
        for stream in &mut busy {
            let reply = tokio::time::timeout(Duration::from_secs(10), read_response(stream))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(reply.status, 200, "{reply:?}");
        }
        assert_eq!(gate.most(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn explanations_run_two_at_once_and_those_that_wait_too_long_get_503() {
        let api = Api::with(ExplainLimit::new(2, Duration::from_millis(200)));
        api.serve_an_answer();
        let gate = Arc::new(Gate::default());
        let _open = OpenOnDrop(Arc::clone(&gate));
        api.explain_through(&gate);
        let mut asking = JoinSet::new();
        for _ in 0..10 {
            asking.spawn(ask(api.state.clone(), "GET", "/v1/explain/i-b"));
        }
        // Eight answers come while the gate is shut: refusals.
        for _ in 0..8 {
            let reply = tokio::time::timeout(Duration::from_secs(5), asking.join_next())
                .await
                .expect("an answer while two explanations run")
                .unwrap()
                .unwrap();
            assert_eq!(reply.status, 503, "{reply:?}");
            assert_eq!(reply.header("retry-after"), Some("1"));
            assert!(
                reply.json()["error"]
                    .as_str()
                    .unwrap()
                    .starts_with("2 explanations are running already"),
                "{reply:?}"
            );
        }
        assert_eq!(gate.most(), 2, "evaluations at once");
        assert_eq!(api.metric("rollcall_explanations_running"), Some(2.0));
        gate.open();
        while let Some(reply) = asking.join_next().await {
            assert_eq!(reply.unwrap().status, 200);
        }
        assert_eq!(gate.most(), 2);
        assert_eq!(
            api.metric(r#"rollcall_explanations_total{outcome="refused"}"#),
            Some(8.0)
        );
        assert_eq!(
            api.metric(r#"rollcall_explanations_total{outcome="run"}"#),
            Some(2.0)
        );
        assert_eq!(api.metric("rollcall_explanations_running"), Some(0.0));
    }
}
