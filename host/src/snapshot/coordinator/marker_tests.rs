//! Leave markers through the coordinator, under tokio's paused clock,
//! against an in-memory bucket: the lister folds them into the snapshot it
//! writes, and its readers see them.

use super::*;
use crate::inventory::{LeaveReason, Leaving};
use crate::snapshot::leaving::{MAX_MARKER_BYTES, Marker, marker_key};
use crate::snapshot::store::MemoryStore;
use std::sync::atomic::Ordering;

const REFRESH: Duration = Duration::from_secs(30);
const PREFIX: &str = "fleet/prod";
const WRITER: &str = "i-writer";
const READER: &str = "i-reader";
const DEADLINE: &str = "2026-11-29T00:02:00Z";

/// EC2 with the writer, the reader, `i-1`, `i-2` and a terminated `i-3`.
struct Fixed;

#[async_trait::async_trait]
impl Lister for Fixed {
    fn scope(&self) -> Scope {
        Scope::new(vec!["us-east-1".to_owned()], Vec::new())
    }

    fn page_size(&self) -> u32 {
        1000
    }

    async fn list(&self) -> Result<Listing, ListFailure> {
        let mut instances: Vec<Instance> = [WRITER, READER, "i-1", "i-2", "i-3"]
            .into_iter()
            .map(Instance::running)
            .collect();
        instances[4].state = "terminated".to_owned();
        Ok(Listing::whole(instances, 1))
    }
}

fn node(store: &Arc<MemoryStore>, id: &str, write: bool) -> Coordinator {
    let settings = Coordination {
        refresh: REFRESH,
        fresh_for: REFRESH - Duration::from_secs(3),
        max_age: REFRESH * 5,
        ec2_budget: 2.0,
        writer: Some(id.to_owned()),
        mode: Mode::Daemon,
        clock_skew: Duration::from_secs(5),
        max_shrink: None,
        write,
    };
    let clock = Clock::starting_at(UNIX_EPOCH + Duration::from_millis(1_764_374_400_000));
    Coordinator::new(store.clone(), Arc::new(Fixed), PREFIX, settings, clock, 7)
}

fn mark(store: &MemoryStore, id: &str, body: Vec<u8>) {
    store.insert(&marker_key(PREFIX, id), body);
}

fn spot() -> Leaving {
    Leaving::new(LeaveReason::SpotInterruption, Some(DEADLINE.to_owned()))
}

fn leaving_of(fleet: &Fleet, id: &str) -> Option<Leaving> {
    fleet
        .instances
        .iter()
        .find(|instance| instance.id == id)
        .and_then(|instance| instance.leaving.clone())
}

fn markers(store: &MemoryStore) -> Vec<String> {
    store
        .keys()
        .into_iter()
        .filter(|key| key.contains("/leaving/"))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn markers_fold_into_the_written_snapshot_and_a_reader_sees_them() {
    let store = Arc::new(MemoryStore::new());
    mark(&store, "i-1", Marker::new("i-1", &spot()).encode());
    let writer = node(&store, WRITER, true);
    let reader = node(&store, READER, true);

    let listed = writer.refresh().await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let read = reader.refresh().await.unwrap();

    assert_eq!(listed.origin, Origin::Listed);
    assert_eq!(leaving_of(&listed, "i-1"), Some(spot()));
    assert_eq!(leaving_of(&listed, "i-2"), None);
    assert_eq!(
        read.origin,
        Origin::Snapshot {
            writer: Some(WRITER.to_owned())
        }
    );
    assert_eq!(
        leaving_of(&read, "i-1"),
        Some(spot()),
        "read from the snapshot"
    );
    assert_eq!(writer.tally.markers_folded.get(), 1);
    assert_eq!(
        markers(&store),
        [marker_key(PREFIX, "i-1")],
        "kept while i-1 is listed"
    );
}

#[tokio::test(start_paused = true)]
async fn a_marker_adds_no_instance_and_markers_of_gone_instances_are_deleted() {
    let store = Arc::new(MemoryStore::new());
    let announced = Leaving::new(LeaveReason::Announced, None);
    mark(
        &store,
        "i-unknown",
        Marker::new("i-unknown", &announced).encode(),
    );
    mark(&store, "i-3", Marker::new("i-3", &announced).encode());
    mark(&store, "i-2", Marker::new("i-2", &announced).encode());
    let writer = node(&store, WRITER, true);

    let listed = writer.refresh().await.unwrap();

    let ids: Vec<&str> = listed.instances.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["i-1", "i-2", "i-3", READER, WRITER], "in id order");
    assert_eq!(
        leaving_of(&listed, "i-3"),
        None,
        "terminated: its marker is gone"
    );
    assert_eq!(leaving_of(&listed, "i-2"), Some(announced));
    assert_eq!(markers(&store), [marker_key(PREFIX, "i-2")]);
    assert_eq!(writer.tally.markers_deleted.get(), 2);
}

#[tokio::test(start_paused = true)]
async fn an_oversized_or_garbled_marker_is_skipped_once_and_the_rest_count() {
    let store = Arc::new(MemoryStore::new());
    mark(&store, "i-1", b"{\"instance_id\": ".to_vec());
    mark(&store, "i-2", vec![b' '; MAX_MARKER_BYTES as usize + 1]);
    mark(&store, READER, Marker::new("i-1", &spot()).encode());
    mark(&store, WRITER, Marker::new(WRITER, &spot()).encode());
    let writer = node(&store, WRITER, true);

    let first = writer.refresh().await.unwrap();
    tokio::time::sleep(REFRESH).await;
    let second = writer.refresh().await.unwrap();

    for fleet in [&first, &second] {
        assert_eq!(fleet.origin, Origin::Listed);
        assert_eq!(leaving_of(fleet, "i-1"), None);
        assert_eq!(leaving_of(fleet, "i-2"), None);
        assert_eq!(
            leaving_of(fleet, READER),
            None,
            "its marker names another instance"
        );
        assert_eq!(leaving_of(fleet, WRITER), Some(spot()));
    }
    assert_eq!(
        writer.tally.markers_skipped.get(),
        3,
        "each bad marker skipped once, not read again"
    );
    assert_eq!(
        markers(&store).len(),
        4,
        "a bad marker of a listed instance stays"
    );
}

#[tokio::test(start_paused = true)]
async fn a_node_that_does_not_write_the_snapshot_never_lists_markers() {
    let store = Arc::new(MemoryStore::new());
    mark(&store, "i-1", Marker::new("i-1", &spot()).encode());
    let reader = node(&store, READER, false);

    let fleet = reader.refresh().await.unwrap();

    assert_eq!(fleet.origin, Origin::Listed);
    assert_eq!(leaving_of(&fleet, "i-1"), None);
    assert_eq!(store.counts.lists.load(Ordering::SeqCst), 0);
}
