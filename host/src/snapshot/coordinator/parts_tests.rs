//! A fleet of several account-regions: a part that fails a listing keeps
//! the instances the node holds, marked stale for every reader, and a node
//! that holds nothing does not serve a fleet without the part.

use super::*;
use crate::inventory::PartFailure;
use crate::snapshot::store::MemoryStore;
use std::sync::Mutex as StdMutex;

const ACCOUNT_A: &str = "111111111111";
const ACCOUNT_B: &str = "222222222222";
const REGION: &str = "us-east-1";
const REFRESH: Duration = Duration::from_secs(30);

/// Two accounts in one region, one instance each (the writer, `i-a`, in
/// A); account B fails while `b_fails` says so.
struct TwoAccounts {
    b_fails: StdMutex<bool>,
}

fn part(account: &str) -> PartKey {
    PartKey::new(Some(account), REGION)
}

fn instance(id: &str, account: &str) -> Instance {
    let mut instance = Instance::running(id);
    instance.account = Some(account.to_owned());
    instance.region = Some(REGION.to_owned());
    instance
}

#[async_trait::async_trait]
impl Lister for TwoAccounts {
    fn scope(&self) -> Scope {
        Scope::new(vec![REGION.to_owned()], Vec::new())
            .with_accounts(vec![ACCOUNT_A.to_owned(), ACCOUNT_B.to_owned()])
    }

    fn page_size(&self) -> u32 {
        1000
    }

    fn parts(&self) -> Vec<PartKey> {
        vec![part(ACCOUNT_A), part(ACCOUNT_B)]
    }

    async fn list(&self) -> Result<Listing, ListFailure> {
        let mut listing = Listing::whole(vec![instance("i-a", ACCOUNT_A)], 2);
        if *self.b_fails.lock().unwrap() {
            listing.failed.push(PartFailure {
                part: part(ACCOUNT_B),
                error: SourceError::Unavailable("AccessDenied".to_owned()),
                since: UNIX_EPOCH + Duration::from_millis(1_764_374_400_000),
            });
        } else {
            listing.instances.push(instance("i-b", ACCOUNT_B));
        }
        Ok(listing)
    }
}

fn settings(writer: &str) -> Coordination {
    Coordination {
        refresh: REFRESH,
        fresh_for: REFRESH - Duration::from_secs(3),
        max_age: REFRESH * 5,
        ec2_budget: 2.0,
        writer: Some(writer.to_owned()),
        mode: Mode::Daemon,
        clock_skew: Duration::from_secs(5),
        max_shrink: Some(0.5),
        write: true,
    }
}

fn node(store: &Arc<MemoryStore>, lister: &Arc<TwoAccounts>, writer: &str) -> Coordinator {
    Coordinator::new(
        Arc::clone(store) as Arc<dyn ObjectStore>,
        Arc::clone(lister) as Arc<dyn Lister>,
        "fleet/prod",
        settings(writer),
        Clock::starting_at(UNIX_EPOCH + Duration::from_millis(1_764_374_400_000)),
        7,
    )
}

fn ids(fleet: &Fleet) -> Vec<&str> {
    fleet.instances.iter().map(|i| i.id.as_str()).collect()
}

#[tokio::test(start_paused = true)]
async fn a_failed_account_keeps_its_instances_stale_in_the_head_every_reader_takes() {
    let store = Arc::new(MemoryStore::new());
    let lister = Arc::new(TwoAccounts {
        b_fails: StdMutex::new(false),
    });
    let writer = node(&store, &lister, "i-a");
    // Made now, its clock with the writer's.
    let reader = node(&store, &lister, "i-b");
    let first = writer.refresh().await.unwrap();
    assert_eq!(ids(&first), ["i-a", "i-b"]);
    assert!(first.stale_parts.is_empty());

    *lister.b_fails.lock().unwrap() = true;
    tokio::time::sleep(REFRESH).await;
    let second = writer.refresh().await.unwrap();
    assert_eq!(second.origin, Origin::Listed, "the writer listed again");
    assert_eq!(ids(&second), ["i-a", "i-b"], "B's instance is kept");
    assert_eq!(second.stale_parts.len(), 1);
    assert_eq!(second.stale_parts[0].part, part(ACCOUNT_B));
    assert!(second.stale_parts[0].error.contains("AccessDenied"));

    // A reader that never listed takes the head: the same fleet, the same
    // stale part.
    let read = reader.refresh().await.unwrap();
    assert_eq!(
        read.origin,
        Origin::Snapshot {
            writer: Some("i-a".to_owned())
        }
    );
    assert_eq!(ids(&read), ["i-a", "i-b"]);
    assert_eq!(read.stale_parts, second.stale_parts);

    // B answers again: fresh, and no longer stale.
    *lister.b_fails.lock().unwrap() = false;
    tokio::time::sleep(REFRESH).await;
    let third = writer.refresh().await.unwrap();
    assert_eq!(ids(&third), ["i-a", "i-b"]);
    assert!(third.stale_parts.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_node_that_holds_nothing_serves_no_fleet_without_the_failed_account() {
    let store = Arc::new(MemoryStore::new());
    let lister = Arc::new(TwoAccounts {
        b_fails: StdMutex::new(true),
    });
    let writer = node(&store, &lister, "i-a");
    let err = writer.refresh().await.unwrap_err();
    assert!(err.to_string().contains("AccessDenied"), "{err}");
    assert!(
        err.to_string().contains("holds no earlier listing"),
        "{err}"
    );
}
