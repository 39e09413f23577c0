//! `rollcall watch`: the long-running mode that keeps the answer current.

pub mod baseline;
pub mod connections;
pub mod decide;
pub mod explain_limit;
pub mod graph_api;
pub mod guard;
pub mod http;
pub mod leave;
pub mod leave_parts;
pub mod limits;
pub mod metrics;
pub mod notify;
pub mod open_files;
pub mod own_status;
pub mod publisher;
pub mod reload;
pub mod service;
pub mod slots;
pub mod status;
pub mod watch;
pub mod watcher;

pub use watch::{Watch, WatchError};
