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
    latest: Mutex<Option<(Arc<Membership>, Arc<OnceCell<Arc<Graph>>>)>>,
}

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

    #[test]
    fn the_page_has_its_style_and_script_and_names_no_other_origin() {
        assert!(PAGE.contains("function draw("), "the script is in");
        assert!(PAGE.contains(".edge {"), "the style is in");
        assert!(!PAGE.contains("/* graph.js */") && !PAGE.contains("/* graph.css */"));
        for outside in ["http://", "https://", "//cdn", "@import", "url("] {
            let allowed = PAGE.matches("http://www.w3.org/2000/svg").count();
            let found = PAGE.matches(outside).count();
            let expected = if outside == "http://" { allowed } else { 0 };
            assert_eq!(found, expected, "{outside} in the page");
        }
    }
}
