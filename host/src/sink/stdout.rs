//! Change events as JSON lines on stdout, one event a line.
//!
//! A thread of the sink's own does the writing, behind a bounded queue: a
//! reader that stops reading (a stuck log shipper, a paused terminal) blocks
//! that thread, never the daemon. Events that find the queue full are
//! dropped, and the publication says how many (the caller logs and counts
//! it as a sink failure).

use super::{Publication, Sink};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};

/// Publications waiting for the writer before new ones are dropped (one
/// publication is a few lines; a change of thousands of members, a few
/// hundred KB).
const QUEUE: usize = 64;

pub struct StdoutSink {
    queue: SyncSender<String>,
    dropped: Arc<AtomicU64>,
}

impl StdoutSink {
    pub fn new() -> Self {
        Self::writing_to(std::io::stdout(), QUEUE)
    }

    /// A sink whose thread writes to `out`, with `capacity` publications
    /// queued at most.
    fn writing_to(mut out: impl Write + Send + 'static, capacity: usize) -> Self {
        let (queue, lines) = sync_channel::<String>(capacity);
        let spawned = std::thread::Builder::new()
            .name("rollcall-stdout".to_owned())
            .spawn(move || {
                for text in lines {
                    if let Err(err) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                        tracing::warn!(error = %err, "Cannot write change events to stdout.");
                    }
                }
            });
        if let Err(err) = spawned {
            // The queue's receiver is gone with the closure: every
            // publication will say that nothing writes stdout.
            tracing::warn!(error = %err, "Cannot start the stdout writer.");
        }
        StdoutSink {
            queue,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Default for StdoutSink {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait::async_trait]
impl Sink for StdoutSink {
    fn describe(&self) -> String {
        "stdout".to_owned()
    }

    async fn publish(&self, publication: &Publication<'_>) -> Result<(), String> {
        let mut lines = String::new();
        for event in publication.changes {
            lines.push_str(&serde_json::to_string(event).map_err(|err| err.to_string())?);
            lines.push('\n');
        }
        match self.queue.try_send(lines) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                let events = publication.changes.len() as u64;
                let total = self.dropped.fetch_add(events, Ordering::Relaxed) + events;
                Err(format!(
                    "stdout is not being read: {events} change events dropped ({total} in all)"
                ))
            }
            Err(TrySendError::Disconnected(_)) => {
                Err("nothing writes stdout any more; change events are dropped".to_owned())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::{ChangeEvent, ChangeKind};
    use crate::membership::sample;
    use std::sync::Mutex;
    use std::sync::mpsc::{Receiver, Sender, channel};
    use std::time::Duration;

    /// A stdout nobody reads: a write says it has begun, then blocks until
    /// the test ends.
    struct Unread {
        writing: Sender<()>,
        released: Receiver<()>,
    }

    impl Write for Unread {
        fn write(&mut self, _bytes: &[u8]) -> std::io::Result<usize> {
            let _ = self.writing.send(());
            let _ = self.released.recv();
            Err(std::io::ErrorKind::BrokenPipe.into())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A stdout that keeps what it is given.
    #[derive(Clone, Default)]
    struct Kept(Arc<Mutex<Vec<u8>>>);

    impl Write for Kept {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn event(sequence: u64) -> ChangeEvent {
        ChangeEvent {
            sequence,
            at: "t".to_owned(),
            kind: ChangeKind::Joined,
            instance_ids: vec![format!("i-{sequence}")],
        }
    }

    #[tokio::test]
    async fn events_are_written_as_json_lines_in_order() {
        let out = Kept::default();
        let sink = StdoutSink::writing_to(out.clone(), 4);
        let membership = sample(&[], &[]);
        for sequence in 1..=3 {
            let changes = [event(sequence)];
            let publication = Publication {
                membership: &membership,
                changes: &changes,
            };
            sink.publish(&publication).await.unwrap();
        }
        drop(sink);
        let mut written = String::new();
        for _ in 0..500 {
            written = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
            if written.lines().count() == 3 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let sequences: Vec<u64> = written
            .lines()
            .map(|line| {
                serde_json::from_str::<serde_json::Value>(line).unwrap()["sequence"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert_eq!(sequences, [1, 2, 3]);
    }

    #[tokio::test]
    async fn a_reader_that_stops_reading_costs_events_not_the_daemon() {
        let (_release, released) = channel();
        let (writing, began) = channel();
        let sink = StdoutSink::writing_to(Unread { writing, released }, 2);
        let membership = sample(&[], &[]);
        let mut outcomes = Vec::new();
        for sequence in 1..=6 {
            let changes = [event(sequence)];
            let publication = Publication {
                membership: &membership,
                changes: &changes,
            };
            let published =
                tokio::time::timeout(Duration::from_secs(5), sink.publish(&publication))
                    .await
                    .expect("publishing never waits for the reader");
            outcomes.push(published);
            if sequence == 1 {
                began
                    .recv_timeout(Duration::from_secs(5))
                    .expect("the writer takes the first publication");
            }
        }
        // One in the writer's hands, two queued; the other three dropped and
        // counted.
        let dropped: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
        assert_eq!(dropped.len(), 3, "{outcomes:?}");
        assert_eq!(
            dropped[2],
            "stdout is not being read: 1 change events dropped (3 in all)"
        );
    }
}
