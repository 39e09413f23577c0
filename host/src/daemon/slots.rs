//! Who holds the HTTP API's connection slots, which of them are idle and
//! since when, and which to close when a new client arrives at the cap.
//!
//! A connection is *busy* from the moment a request reaches the router
//! until hyper has taken the whole response body; otherwise it is *idle*:
//! waiting for its first request, or kept alive between two. Only a
//! connection idle for a moment (the eviction grace), whose last read found
//! nothing to read, may be closed to make room: one just accepted, whose
//! request may be on its way in, reads it first. Idle connections cost the
//! daemon a file and nothing else, so a client that opens many and leaves
//! them idle must not lock others out:
//! - at the cap, the connection idle the longest is asked to close to make
//!   room, before a newcomer is turned away;
//! - under pressure (three quarters of the general slots taken), every
//!   connection idle longer than the short keep-alive is closed too;
//! - when every general slot is busy, a few reserved slots take the
//!   newcomer: a connection on one serves one request, and only `/healthz`
//!   and `/metrics` (see [`super::http`]); the oldest idle of them makes
//!   room the same way.
//!
//! A connection asked to close stops counting against the cap at once; it
//! closes at once when idle, or after the request in flight. When no slot
//! can be had, [`Slots::has_room`] says so and the server leaves newcomers
//! in the listen backlog: a client that reopens whatever is closed then
//! waits its turn there instead of churning the slots, and the grace bounds
//! how fast anyone's connections can be made to turn over.

use std::collections::BTreeMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Which kind of slot a connection holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Any route, kept alive between requests.
    General,
    /// `/healthz` and `/metrics` only, one request.
    Reserved,
}

/// How the slots are shared: `general + reserved` is the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shares {
    pub general: usize,
    pub reserved: usize,
    /// Under pressure, idle connections are kept at most this long.
    pub pressure_keep_alive: Duration,
    /// A connection is closed to make room only once idle this long.
    pub eviction_grace: Duration,
}

/// What admitting a newcomer came to.
#[derive(Debug)]
pub struct Admission {
    /// The newcomer's slot; `None` when every slot is busy.
    pub slot: Option<Slot>,
    /// Idle connections asked to close to make room.
    pub closed_idle: usize,
}

/// The table of open connections.
#[derive(Debug)]
pub struct Slots {
    shares: Shares,
    table: Mutex<Table>,
    /// Notified when a connection closes or finishes a request.
    changed: Notify,
}

#[derive(Debug, Default)]
struct Table {
    next_id: u64,
    open: BTreeMap<u64, Entry>,
}

/// Where a newcomer goes.
enum Place {
    Free(Kind),
    /// In place of the connection `id`, which is asked to close.
    Evict(Kind, u64),
    /// Nowhere yet.
    Wait,
}

#[derive(Debug)]
struct Entry {
    id: u64,
    kind: Kind,
    /// `None` while a request is in service.
    idle_since: Option<Instant>,
    /// Responses it has served.
    served: u64,
    /// Asked to close: no longer counted, never chosen again.
    closing: bool,
    close: Arc<Notify>,
    /// Whether its last read found nothing (see [`WatchedIo`]).
    waiting: Arc<AtomicBool>,
}

impl Entry {
    /// Idle since, if it may be asked to make room: idle and waiting since
    /// `before` or earlier.
    fn evictable(&self, kind: Kind, before: Instant) -> Option<Instant> {
        if self.kind != kind || self.closing || !self.waiting.load(Ordering::Relaxed) {
            return None;
        }
        self.idle_since.filter(|since| *since <= before)
    }
}

impl Slots {
    pub fn new(shares: Shares) -> Arc<Slots> {
        Arc::new(Slots {
            shares,
            table: Mutex::new(Table::default()),
            changed: Notify::new(),
        })
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // Nothing panics while the table is held; a poisoned one is whole.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Where a connection accepted `now` would go (before the pressure
    /// rule closes anything).
    fn place(&self, table: &Table, now: Instant) -> Place {
        let before = now.checked_sub(self.shares.eviction_grace).unwrap_or(now);
        let evictable = |kind| {
            table
                .open
                .values()
                .filter_map(|entry| entry.evictable(kind, before).map(|since| (since, entry.id)))
                .min()
                .map(|(_, id)| id)
        };
        let general = Kind::General;
        if table.counted(general) < self.shares.general {
            return Place::Free(general);
        }
        if let Some(id) = evictable(general) {
            return Place::Evict(general, id);
        }
        // An idle connection makes room within the grace: the newcomer
        // waits for it rather than settle for what a reserved slot serves.
        let soon = table
            .open
            .values()
            .any(|entry| entry.kind == general && !entry.closing && entry.idle_since.is_some());
        if soon {
            return Place::Wait;
        }
        let reserved = Kind::Reserved;
        if table.counted(reserved) < self.shares.reserved {
            return Place::Free(reserved);
        }
        evictable(reserved).map_or(Place::Wait, |id| Place::Evict(reserved, id))
    }

    /// Whether a connection accepted `now` would get a slot.
    pub fn has_room(&self, now: Instant) -> bool {
        let table = self.table();
        !matches!(self.place(&table, now), Place::Wait)
    }

    /// Resolves when a connection closes or finishes a request.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// A slot for a connection accepted `now`, making room if need be.
    pub fn admit(self: &Arc<Self>, now: Instant) -> Admission {
        let mut table = self.table();
        let mut closed_idle = 0;
        let general = table.counted(Kind::General);
        let pressure = general.saturating_mul(4) >= self.shares.general.saturating_mul(3);
        if pressure && let Some(limit) = now.checked_sub(self.shares.pressure_keep_alive) {
            closed_idle += table.close_idle_since(Kind::General, limit);
        }
        let kind = match self.place(&table, now) {
            Place::Free(kind) => Some(kind),
            Place::Evict(kind, id) => {
                if let Some(entry) = table.open.get_mut(&id) {
                    entry.ask_to_close();
                }
                closed_idle += 1;
                Some(kind)
            }
            Place::Wait => None,
        };
        let slot = kind.map(|kind| {
            let id = table.next_id;
            table.next_id += 1;
            let close = Arc::new(Notify::new());
            let waiting = Arc::new(AtomicBool::new(false));
            table.open.insert(
                id,
                Entry {
                    id,
                    kind,
                    idle_since: Some(now),
                    served: 0,
                    closing: false,
                    close: Arc::clone(&close),
                    waiting: Arc::clone(&waiting),
                },
            );
            Slot {
                id,
                kind,
                close,
                waiting,
                slots: Arc::clone(self),
            }
        });
        Admission { slot, closed_idle }
    }

    /// Connections open, those asked to close included.
    #[cfg(test)]
    fn open(&self) -> usize {
        self.table().open.len()
    }
}

impl Table {
    /// Connections of `kind` that count against its share.
    fn counted(&self, kind: Kind) -> usize {
        self.open
            .values()
            .filter(|entry| entry.kind == kind && !entry.closing)
            .count()
    }

    /// Asks every connection of `kind` idle since `limit` or earlier to
    /// close.
    fn close_idle_since(&mut self, kind: Kind, limit: Instant) -> usize {
        let mut closed = 0;
        for entry in self.open.values_mut() {
            if entry.evictable(kind, limit).is_some() {
                entry.ask_to_close();
                closed += 1;
            }
        }
        closed
    }
}

impl Entry {
    fn ask_to_close(&mut self) {
        self.closing = true;
        // Stored if the connection is not waiting yet: it sees it next.
        self.close.notify_one();
    }
}

/// One connection's slot; freed when dropped.
#[derive(Debug)]
pub struct Slot {
    id: u64,
    kind: Kind,
    close: Arc<Notify>,
    waiting: Arc<AtomicBool>,
    slots: Arc<Slots>,
}

impl Slot {
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Resolves once the connection is asked to make room.
    pub async fn close_requested(&self) {
        self.close.notified().await;
    }

    /// Marks a request in service until the returned guard is dropped.
    pub fn busy(&self) -> Busy {
        if let Some(entry) = self.slots.table().open.get_mut(&self.id) {
            entry.idle_since = None;
        }
        Busy {
            id: self.id,
            slots: Arc::clone(&self.slots),
        }
    }

    /// `io`, noting in this slot whether its last read found nothing.
    pub fn watch<T>(&self, io: T) -> WatchedIo<T> {
        WatchedIo {
            io,
            waiting: Arc::clone(&self.waiting),
        }
    }

    /// Whether a request is in service, and whether any was served before.
    pub fn state(&self) -> (bool, bool) {
        self.slots
            .table()
            .open
            .get(&self.id)
            .map_or((false, false), |entry| {
                (entry.idle_since.is_none(), entry.served > 0)
            })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.table().open.remove(&self.id);
        self.slots.changed.notify_one();
    }
}

/// A request in service (see [`Slot::busy`]).
#[derive(Debug)]
pub struct Busy {
    id: u64,
    slots: Arc<Slots>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some(entry) = self.slots.table().open.get_mut(&self.id) {
            entry.idle_since = Some(Instant::now());
            entry.served = entry.served.saturating_add(1);
        }
        self.slots.changed.notify_one();
    }
}

/// A connection's reads and writes, noting whether its last read found
/// nothing to read: then (and only then, when idle) it waits for a client
/// that sends nothing.
#[derive(Debug)]
pub struct WatchedIo<T> {
    io: T,
    waiting: Arc<AtomicBool>,
}

impl<T: AsyncRead + Unpin> AsyncRead for WatchedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let read = Pin::new(&mut self.io).poll_read(context, buffer);
        self.waiting.store(read.is_pending(), Ordering::Relaxed);
        read
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WatchedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(context, bytes)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffers: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(context, buffers)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(context)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHARES: Shares = Shares {
        general: 4,
        reserved: 2,
        pressure_keep_alive: Duration::from_secs(1),
        eviction_grace: Duration::from_millis(100),
    };

    /// A newcomer's slot, its connection waiting for a request (as after a
    /// read that found nothing).
    fn admit(slots: &Arc<Slots>) -> (Kind, usize, Slot) {
        let Admission { slot, closed_idle } = slots.admit(Instant::now());
        let slot = slot.expect("a slot");
        slot.waiting.store(true, Ordering::Relaxed);
        (slot.kind(), closed_idle, slot)
    }

    async fn asked_to_close(slot: &Slot) -> bool {
        tokio::time::timeout(Duration::ZERO, slot.close_requested())
            .await
            .is_ok()
    }

    #[tokio::test(start_paused = true)]
    async fn at_the_cap_the_connection_idle_longest_makes_room() {
        let slots = Slots::new(SHARES);
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(admit(&slots).2);
            tokio::time::advance(Duration::from_millis(100)).await;
        }
        // The first one serves a request and is idle again since now: the
        // second has been idle longest.
        drop(held[0].busy());
        held.push(admit(&slots).2);
        let (kind, closed, newcomer) = admit(&slots);
        assert_eq!((kind, closed), (Kind::General, 1));
        assert!(asked_to_close(&held[1]).await, "idle the longest");
        for slot in [&held[0], &held[2], &held[3], &newcomer] {
            assert!(!asked_to_close(slot).await);
        }
        assert_eq!(slots.open(), 5, "the closing one is still open");
        drop(held.remove(1));
        assert_eq!(slots.open(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn when_every_general_slot_is_busy_the_reserved_ones_take_newcomers() {
        let slots = Slots::new(SHARES);
        let general: Vec<Slot> = (0..4).map(|_| admit(&slots).2).collect();
        let _busy: Vec<Busy> = general.iter().map(Slot::busy).collect();
        let (kind, closed, first) = admit(&slots);
        assert_eq!((kind, closed), (Kind::Reserved, 0));
        tokio::time::advance(SHARES.eviction_grace).await;
        let (_, _, second) = admit(&slots);
        // Both reserved slots taken and idle: the older makes room.
        let (kind, closed, third) = admit(&slots);
        assert_eq!((kind, closed), (Kind::Reserved, 1));
        assert!(asked_to_close(&first).await);
        assert!(!asked_to_close(&second).await);
        // Every slot busy: nobody can make room.
        let _also_busy = (second.busy(), third.busy());
        let refused = slots.admit(Instant::now());
        assert!(refused.slot.is_none());
        assert_eq!(refused.closed_idle, 0);
        for slot in &general {
            assert!(!asked_to_close(slot).await, "busy ones are never closed");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn there_is_no_room_until_an_idle_connection_has_had_its_grace() {
        let slots = Slots::new(SHARES);
        let held: Vec<Slot> = (0..4).map(|_| admit(&slots).2).collect();
        // Every general slot idle for less than the grace: a newcomer waits
        // for one rather than take a reserved slot.
        assert!(!slots.has_room(Instant::now()));
        let refused = slots.admit(Instant::now());
        assert!(refused.slot.is_none());
        tokio::time::advance(SHARES.eviction_grace).await;
        assert!(slots.has_room(Instant::now()));
        let (kind, closed, _newcomer) = admit(&slots);
        assert_eq!((kind, closed), (Kind::General, 1));
        assert!(asked_to_close(&held[0]).await);
        // A slot freed wakes whoever waits for room.
        let changed = slots.changed();
        drop(held);
        assert!(tokio::time::timeout(Duration::ZERO, changed).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn under_pressure_connections_idle_past_the_short_keep_alive_close() {
        let slots = Slots::new(SHARES);
        let old = admit(&slots).2;
        let busy_one = admit(&slots).2;
        let _busy = busy_one.busy();
        tokio::time::advance(Duration::from_secs(2)).await;
        let recent = admit(&slots).2;
        // 3 of 4 general slots taken: pressure. Only the one idle for 2 s
        // goes; the busy one and the one idle for 0 s stay.
        let (kind, closed, _newcomer) = admit(&slots);
        assert_eq!((kind, closed), (Kind::General, 1));
        assert!(asked_to_close(&old).await);
        assert!(!asked_to_close(&busy_one).await);
        assert!(!asked_to_close(&recent).await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_whose_request_may_be_arriving_is_not_closed() {
        let slots = Slots::new(SHARES);
        let general: Vec<Slot> = (0..4).map(|_| admit(&slots).2).collect();
        // Just accepted, or its last read found bytes: not waiting.
        for slot in &general {
            slot.waiting.store(false, Ordering::Relaxed);
        }
        tokio::time::advance(Duration::from_secs(5)).await;
        let refused = slots.admit(Instant::now());
        assert!(refused.slot.is_none());
        assert_eq!(refused.closed_idle, 0);
        for slot in &general {
            assert!(!asked_to_close(slot).await);
        }
        // A read that finds nothing makes it a candidate.
        let (mut client, server) = tokio::io::duplex(64);
        let mut watched = general[2].watch(server);
        let mut buffer = [0u8; 8];
        let read = tokio::io::AsyncReadExt::read(&mut watched, &mut buffer);
        assert!(tokio::time::timeout(Duration::ZERO, read).await.is_err());
        let (kind, closed, _newcomer) = admit(&slots);
        assert_eq!((kind, closed), (Kind::General, 1));
        assert!(asked_to_close(&general[2]).await);
        tokio::io::AsyncWriteExt::write_all(&mut client, b"GET")
            .await
            .unwrap();
        let read = tokio::io::AsyncReadExt::read(&mut watched, &mut buffer);
        assert_eq!(read.await.unwrap(), 3);
        assert!(!general[2].waiting.load(Ordering::Relaxed));
    }

    #[tokio::test(start_paused = true)]
    async fn below_pressure_idle_connections_are_left_alone() {
        let slots = Slots::new(SHARES);
        let old = admit(&slots).2;
        tokio::time::advance(Duration::from_secs(60)).await;
        let (_, closed, _second) = admit(&slots);
        assert_eq!(closed, 0);
        assert!(!asked_to_close(&old).await);
        let (busy, served) = old.state();
        assert!(!busy && !served);
        drop(old.busy());
        assert_eq!(old.state(), (false, true));
    }
}
