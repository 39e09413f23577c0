//! `GET /v1/graph` and `GET /`: the registration graph of the current
//! answer, and the page that draws it. The graph costs a policy evaluation
//! per member, so it is decided once per answer, when first asked for,
//! under the explanations' limit ([`super::explain_limit`]), and kept for
//! every later request until the next answer. The page (HTML, script and
//! style) is built into the binary and asks for nothing but `/v1/graph`.

use super::explain_limit::NoExplanation;
use super::http::{HttpState, busy, error};
use crate::graph::{Graph, MAX_GRAPH_MEMBERS};
use crate::membership::Membership;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use tokio::sync::OnceCell;

/// The graph of the latest answer asked about: decided by the first
/// request for it, which the others wait for.
#[derive(Default)]
pub struct GraphCache {
    latest: Mutex<Option<Cached>>,
}

/// An answer, and its graph once decided.
type Cached = (Arc<Membership>, Arc<OnceCell<Arc<Graph>>>);

/// Why there is no graph to serve.
#[derive(Debug, thiserror::Error)]
enum NoGraph {
    #[error("no graph yet: the first refresh has not succeeded")]
    NoAnswer,
    #[error(transparent)]
    Limit(#[from] NoExplanation),
    #[error("{0}")]
    Failed(String),
}

impl GraphCache {
    /// The graph of the answer `state` serves now.
    async fn graph(&self, state: &HttpState) -> Result<Arc<Graph>, NoGraph> {
        let (membership, decided) = {
            let status = state.status.borrow();
            (status.membership.clone(), status.decided.clone())
        };
        let membership = membership.ok_or(NoGraph::NoAnswer)?;
        // The answer held with its cell: its address names no other answer
        // while the cell is kept.
        let cell = {
            let mut latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
            match &*latest {
                Some((answer, cell)) if Arc::ptr_eq(answer, &membership) => Arc::clone(cell),
                _ => {
                    let cell = Arc::new(OnceCell::new());
                    *latest = Some((Arc::clone(&membership), Arc::clone(&cell)));
                    cell
                }
            }
        };
        let deciding = || async {
            let Some(decided) = decided else {
                return Ok(Arc::new(Graph::of_answer(&membership)));
            };
            let deciding = Graph::decide_off_loop(
                Arc::clone(&membership),
                decided.inventory,
                decided.policy,
                MAX_GRAPH_MEMBERS,
            );
            let graph = state
                .explanations
                .run(&state.metrics, deciding)
                .await?
                .map_err(NoGraph::Failed)?;
            tracing::debug!(
                nodes = graph.nodes.len(),
                edges = graph.edges.len(),
                "Registration graph decided."
            );
            Ok(Arc::new(graph))
        };
        cell.get_or_try_init(deciding).await.cloned()
    }
}

/// `GET /v1/graph`.
pub async fn graph(State(state): State<HttpState>) -> Response {
    match state.graphs.graph(&state).await {
        Ok(graph) => axum::Json(&*graph).into_response(),
        Err(err @ NoGraph::NoAnswer) => error(StatusCode::SERVICE_UNAVAILABLE, err.to_string()),
        Err(NoGraph::Limit(err @ NoExplanation::Busy { .. })) => busy(err.to_string()),
        Err(err) => error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
    }
}

/// The page: `index.html` with the style and the script put in its
/// place, once.
static PAGE: LazyLock<String> = LazyLock::new(|| {
    include_str!("page/index.html")
        .replacen("/* graph.css */", include_str!("page/graph.css"), 1)
        .replacen("/* graph.js */", include_str!("page/graph.js"), 1)
});

/// What the page may load: nothing but itself and `/v1/graph`.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; connect-src 'self'; \
     script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// `GET /`.
pub async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE.as_str(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::EventLog;
    use crate::daemon::explain_limit::ExplainLimit;
    use crate::daemon::metrics::Metrics;
    use crate::daemon::status::{Decided, Status};
    use crate::inventory::{Instance, Inventory};
    use crate::membership::{InventorySummary, SelfEntry};
    use crate::policy::{Decision, Member, Policy, PolicyError, PolicyIdentity};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    use tokio::sync::watch;

    /// Every instance an agent registering with `i-0`; counts evaluations.
    struct Counting {
        identity: PolicyIdentity,
        evaluations: AtomicUsize,
    }

    impl Policy for Counting {
        fn identity(&self) -> &PolicyIdentity {
            &self.identity
        }

        fn decide(
            &self,
            fleet: &crate::inventory::Fleet,
            self_id: Option<&str>,
            _explain: Option<&str>,
        ) -> Result<Decision, PolicyError> {
            let instances = &fleet.instances();
            self.evaluations.fetch_add(1, Ordering::SeqCst);
            let members = instances
                .iter()
                .map(|instance| member(&instance.id))
                .collect();
            let register_with = (self_id != Some("i-0"))
                .then(|| "i-0".to_owned())
                .into_iter()
                .collect();
            Ok(Decision {
                members,
                register_with,
                notes: Vec::new(),
            })
        }
    }

    fn member(id: &str) -> Member {
        Member {
            instance_id: id.to_owned(),
            role: "agent".to_owned(),
            clusters: Vec::new(),
            address: Some("10.0.0.1".to_owned()),
            port: None,
            labels: Default::default(),
            status: Default::default(),
        }
    }

    /// An answer on the fleet `i-0` .. `i-{count - 1}`, self `i-0`.
    fn answer(count: usize, policy: &Arc<Counting>) -> (Arc<Membership>, Decided) {
        let ids: Vec<String> = (0..count).map(|n| format!("i-{n}")).collect();
        let inventory = Inventory {
            instances: ids.iter().map(|id| Instance::running(id)).collect(),
            source: "test".to_owned(),
            fetched_at: std::time::UNIX_EPOCH,
            snapshot: None,
            unconfirmed: Vec::new(),
            stale_parts: Vec::new(),
        };
        let membership = Membership {
            own: Some(SelfEntry {
                instance_id: "i-0".to_owned(),
                role: Some("agent".to_owned()),
                clusters: Vec::new(),
                leaving: None,
            }),
            register_with: Vec::new(),
            members: ids.iter().map(|id| member(id)).collect(),
            policy: policy.identity.clone(),
            inventory: InventorySummary {
                source: "test".to_owned(),
                instances: count,
                fetched_at: "1970-01-01T00:00:00Z".to_owned(),
                stale: false,
                stale_for_seconds: None,
                error: None,
                snapshot: None,
                stale_parts: Vec::new(),
            },
        };
        let decided = Decided {
            inventory: Arc::new(inventory),
            policy: Arc::clone(policy) as Arc<dyn Policy>,
            own: Some("i-0".to_owned()),
        };
        (Arc::new(membership), decided)
    }

    #[tokio::test]
    async fn the_graph_is_decided_once_per_answer_however_many_ask() {
        let policy = Arc::new(Counting {
            identity: PolicyIdentity {
                path: "counting.wasm".into(),
                sha256: "0".repeat(64),
            },
            evaluations: AtomicUsize::new(0),
        });
        let (status, receiver) = watch::channel(Status::new(Duration::from_secs(60)));
        let state = HttpState {
            status: receiver,
            events: Arc::new(EventLog::new(10)),
            metrics: Arc::new(Metrics::new()),
            explanations: ExplainLimit::new(2, Duration::from_secs(10)),
            graphs: Default::default(),
        };
        let serve = |count: usize| {
            let (membership, decided) = answer(count, &policy);
            status.send_modify(|status| {
                status.membership = Some(membership);
                status.decided = Some(decided);
            });
        };
        assert!(matches!(
            state.graphs.graph(&state).await,
            Err(NoGraph::NoAnswer)
        ));
        serve(4);
        let asking = (0..10).map(|_| state.graphs.graph(&state));
        let graphs = futures::future::join_all(asking).await;
        // Self's edges are the answer's: three members asked as self, once.
        assert_eq!(policy.evaluations.load(Ordering::SeqCst), 3);
        for graph in graphs {
            assert_eq!(graph.unwrap().edges.len(), 3);
        }
        // A new answer, even an equal one, is decided again, once.
        serve(4);
        state.graphs.graph(&state).await.unwrap();
        state.graphs.graph(&state).await.unwrap();
        assert_eq!(policy.evaluations.load(Ordering::SeqCst), 6);
    }

    #[test]
    fn the_page_has_its_style_and_script_and_names_no_other_origin() {
        assert!(PAGE.contains("function draw("), "the script is in");
        assert!(PAGE.contains(".edge {"), "the style is in");
        assert!(!PAGE.contains("/* graph.js */") && !PAGE.contains("/* graph.css */"));
        // The SVG namespace is a name, not a request; `url(#arrow)` is
        // the page's own marker.
        let page = PAGE
            .replace("\"http://www.w3.org/2000/svg\"", "")
            .replace("url(#arrow)", "");
        for outside in ["http:", "https:", "://", "@import", "url(", "src=", "href="] {
            let lines: Vec<&str> = page.lines().filter(|line| line.contains(outside)).collect();
            assert!(lines.is_empty(), "{outside} in the page: {lines:?}");
        }
    }
}
