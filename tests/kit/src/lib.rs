//! What rollcall's end-to-end tests and benchmarks share: the Rust plugins,
//! built for them by this crate's build script; the real `rollcall` binary,
//! run isolated from the machine's AWS settings; the loopback servers it
//! talks to; and one HTTP client.
//!
//! # Layout
//! | module | role |
//! |---|---|
//! | [`plugins`] | paths of the Rust plugins (constants) and of the Python and JavaScript ones `scripts/plugins` builds |
//! | [`run`] (re-exported at the root) | one run of the binary to its end: [`Run`], [`rollcall`], [`resolve`], fixtures |
//! | [`background`] | a run the test goes on beside |
//! | [`daemon`] | `rollcall watch` on a loopback port it chose itself |
//! | [`http`] | `GET` and `POST` on loopback, and a kept-alive connection |
//! | [`servers`] | `moto_server`, a stub answering what the test says, a proxy that goes down, a fake S3 bucket, a front before moto that answers what its rule picks out |
//! | [`moto_fleet`] | a fleet in moto, made through the AWS SDK: instances (in any account, through a role assumed there), Auto Scaling groups, the snapshot's bucket |
//! | [`moto_events`] | the fleet's events in moto: an SQS queue, an EventBridge rule sending to it, events put on the bus |
//! | [`hand_made`] | policy components no toolchain makes |
//! | [`nft`] | the real `nft` judging a ruleset, in a namespace of its own |

pub mod background;
pub mod daemon;
pub mod hand_made;
pub mod http;
pub mod moto_events;
pub mod moto_fleet;
pub mod nft;
pub mod plugins;
pub mod run;
pub mod servers;

pub use run::*;

use std::time::{Duration, Instant};

/// Polls `check` until it gives a value or `limit` passes.
pub fn eventually<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
