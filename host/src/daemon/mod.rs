//! `rollcall watch`: the long-running mode that keeps the answer current.

pub mod decide;
pub mod http;
pub mod metrics;
pub mod reload;
pub mod service;
pub mod status;
pub mod watcher;
