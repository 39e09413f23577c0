//! `rollcall watch`: the long-running mode that keeps the answer current.

pub mod connections;
pub mod events;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod open_files;
pub mod runner;
pub mod status;
pub mod watcher;
