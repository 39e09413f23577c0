//! `rollcall watch`: the long-running mode that keeps the answer current.

pub mod events;
pub mod http;
pub mod metrics;
pub mod runner;
pub mod status;
pub mod watcher;
