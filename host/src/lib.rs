//! rollcall: EC2 fleet membership decided by WebAssembly policies.
//!
//! # Layout
//! - [`inventory`]: the instance model and the sources that produce a fleet
//!   (a describe-instances file, the EC2 API).
//! - [`policy`]: the policy interface, the wasmtime runtime behind it, and the
//!   validation of what a policy returns.
//! - [`membership`]: the output document every consumer reads.
//! - [`output`]: that document as JSON, shell variables or a table.
//! - [`identity`]: who am I: `--self`, or IMDSv2.
//! - [`resolve`]: one decide–validate pass over a fetched fleet.
//! - [`snapshot`]: the fleet's shared listing in S3: one EC2 listing per
//!   refresh period for the whole fleet.
//! - [`wait`]: `resolve --wait-for`: conditions on an answer, and asking
//!   again until they hold.
//! - [`changes`]: what differs between two answers, as events, and their
//!   recent history.
//! - [`report`]: error chains as one line.
//! - [`atomic_file`]: replacing files without readers seeing a partial one.
//! - [`cli`]: flags and what they mean as settings.
//! - [`overrides`]: the settings both flags and the configuration file give,
//!   each defined, checked and merged once.
//! - [`ranges`]: the range of every duration and count setting.
//! - [`paths`]: paths normalised for watching and showing.
//! - [`toml_settings`]: policy settings in TOML, as JSON, with errors taken
//!   back to the TOML line.
//! - [`commands`]: running a command to output and an exit status.

pub mod atomic_file;
pub mod changes;
pub mod cli;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod identity;
pub mod inventory;
pub mod membership;
pub mod output;
pub mod overrides;
pub mod paths;
pub mod policy;
pub mod ranges;
pub mod report;
pub mod resolve;
pub mod sink;
pub mod snapshot;
pub mod toml_settings;
pub mod wait;
