//! A function of the program that embeds rollcall, called with every new
//! answer: the sink of [`crate::watch`].
//!
//! It runs on the sink's own task, as every sink does: a slow callback
//! delays only the answers it is handed (the newest wins while it is busy),
//! never a refresh. A callback that panics is a failed publication, logged
//! and counted; the next answer is handed to it again.

use super::{Publication, Sink};
use crate::changes::ChangeEvent;
use crate::membership::Membership;
use std::sync::Arc;

/// What the embedding program is called with.
type AnswerFn = dyn Fn(&Membership, &[ChangeEvent]) + Send + Sync;

pub struct CallbackSink(Arc<AnswerFn>);

impl CallbackSink {
    pub fn new(call: impl Fn(&Membership, &[ChangeEvent]) + Send + Sync + 'static) -> Self {
        CallbackSink(Arc::new(call))
    }
}

#[async_trait::async_trait]
impl Sink for CallbackSink {
    fn describe(&self) -> String {
        "callback".to_owned()
    }

    async fn publish(&self, publication: &Publication<'_>) -> Result<(), String> {
        let call = Arc::clone(&self.0);
        let membership = publication.membership.clone();
        let changes = publication.changes.to_vec();
        tokio::task::spawn_blocking(move || call(&membership, &changes))
            .await
            .map_err(|err| format!("the callback failed: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::membership::sample;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn the_callback_gets_each_answer_and_a_panic_is_a_failed_publication() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let sink = CallbackSink::new(move |membership, _| {
            counted.fetch_add(1, Ordering::SeqCst);
            assert!(membership.members.len() < 2, "a callback that panics");
        });
        let one = sample(&[("i-1", "monitor")], &[]);
        let two = sample(&[("i-1", "monitor"), ("i-2", "agent")], &[]);
        let publish = |membership| Publication {
            membership,
            changes: &[],
        };
        assert_eq!(sink.publish(&publish(&one)).await, Ok(()));
        let failed = sink.publish(&publish(&two)).await.unwrap_err();
        assert!(failed.contains("the callback failed"), "{failed}");
        assert_eq!(sink.publish(&publish(&one)).await, Ok(()));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }
}
