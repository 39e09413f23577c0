//! The monotonic clock a policy sees: real time, but every wait on it ends at
//! once.
//!
//! Epoch interruption stops a policy only while it runs WebAssembly; a host
//! call that blocks (`wasi:io/poll` on a clock, which is what
//! `std::thread::sleep` and `poll(2)` come down to) would run past the time
//! limit for as long as the policy asked, for ever if it asked for ever. A
//! policy has no business waiting: here a timer is ready as soon as it is
//! made, so a sleep returns at once and a loop that waits for time to pass
//! spins in WebAssembly until the time limit stops it. This interface
//! replaces wasmtime-wasi's own in the linker; no other import a policy
//! gets can block (no files, sockets or name lookups; stdin is closed;
//! stdout and stderr never push back).

use std::time::Instant;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};

/// What the clock needs of a sandbox: when it was made, where its
/// pollables go, and a count of the waits it cut short.
pub struct PolicyClock<'a> {
    pub started: Instant,
    pub table: &'a mut ResourceTable,
    pub waits: &'a mut u64,
}

/// Replaces `wasi:clocks/monotonic-clock` in `linker` (which must already
/// hold wasmtime-wasi's) with [`PolicyClock`], reached through `view`.
pub fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> PolicyClock<'_>,
) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let added = monotonic_clock::add_to_linker::<T, Clock>(linker, view);
    linker.allow_shadowing(false);
    added
}

struct Clock;

impl HasData for Clock {
    type Data<'a> = PolicyClock<'a>;
}

impl monotonic_clock::Host for PolicyClock<'_> {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        Ok(nanos_since(self.started))
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        Ok(1)
    }

    fn subscribe_instant(
        &mut self,
        _when: monotonic_clock::Instant,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.ready_at_once()
    }

    fn subscribe_duration(
        &mut self,
        _duration: monotonic_clock::Duration,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.ready_at_once()
    }
}

impl PolicyClock<'_> {
    fn ready_at_once(&mut self) -> wasmtime::Result<Resource<DynPollable>> {
        *self.waits = self.waits.saturating_add(1);
        let timer = self.table.push(ReadyTimer)?;
        subscribe(self.table, timer)
    }
}

fn nanos_since(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// A timer that has always already fired.
struct ReadyTimer;

#[wasmtime_wasi::async_trait]
impl Pollable for ReadyTimer {
    async fn ready(&mut self) {}
}
