//! rollcall: EC2 fleet membership decided by WebAssembly policies.
//!
//! Every instance of a fleet lists the fleet (EC2 `DescribeInstances`, a
//! recorded file, or the fleet's shared snapshot in S3) and hands it to a
//! policy, a WebAssembly component, which decides each member's role and
//! clusters and whom this instance registers with. The `rollcall` binary does
//! that once (`resolve`) or keeps doing it (`watch`); this library lets
//! another Rust program (a custom agent in a boot image, say) do the same
//! without shelling out.
//!
//! # Embedding
//!
//! - Load a policy: [`PolicyEngine::new`], then [`PolicyEngine::load`] with
//!   the plugin's settings and [`PolicyLimits`].
//! - Read the fleet: [`FileSource`] for a describe-instances file,
//!   [`open_ec2`] for EC2 (or the fleet's shared snapshot, given its
//!   [`SnapshotSettings`]); both are an [`InventorySource`].
//! - Decide: [`resolve`] gives the [`Membership`] document, the same one
//!   `rollcall resolve` prints; [`render`] writes it as JSON, shell variables
//!   or a table.
//! - Keep it current: [`watch`] runs the daemon of `rollcall watch --config`
//!   inside your program and hands every new answer to a callback.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use rollcall::{FileSource, Format, InventorySource, PolicyEngine, PolicyLimits};
//! use std::sync::Arc;
//!
//! # let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
//! # let plugin = std::path::Path::new(kit::plugins::ELASTIC_GRID);
//! let engine = PolicyEngine::new()?;
//! let policy = engine.load(plugin, "{}", PolicyLimits::default())?;
//! let fleet = FileSource::new(workspace.join("examples/seed-fleet.json")).fetch().await?;
//! let answer = rollcall::resolve(Arc::new(fleet), Arc::new(policy), Some("i-df71a7b6".into())).await?;
//!
//! assert_eq!(answer.register_with[0].address, "10.251.199.99");
//! print!("{}", rollcall::render(&answer, Format::Env)?);
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! The modules below are the crate's inside, private: only what the crate
//! root exports is its API, with [`cli::main`], the binary's entry. The
//! tests and the benchmarks reach further through the `internals` feature,
//! which only they turn on. They are in layers, lowest first; a module
//! imports from its own layer or below (`tests/layers.rs` checks it).
//! - Bytes and files: `atomic_file` (output files replaced without readers
//!   seeing a partial one, or written through to a device or FIFO),
//!   `bounded_read` (a stream read whole under a byte cap, the buffer
//!   bounded too), `capped_file` (a file the operator names, under a cap),
//!   `located` (`file:line:column` places), `paths` (normalised for
//!   watching and showing), `report` (error chains as one line),
//!   `terminal_text` (text from a policy or a cases file, escaped to print).
//! - `settings`: every setting's type, default, range, flag and
//!   configuration-file key, and errors that name where a bad one was
//!   written.
//! - `inventory`: the instance model and the sources that produce a fleet
//!   (a describe-instances file, the EC2 API); `identity`: who am I, from
//!   IMDSv2; `self_lifecycle`: whether and why self is going, from IMDSv2;
//!   `events`: the fleet's EC2 and Auto Scaling events, from an SQS queue.
//! - `policy`: the policy interface, the wasmtime runtime behind it, and the
//!   validation of what a policy returns; `snapshot`: the fleet's shared
//!   listing in S3, one EC2 listing per refresh period for the whole fleet;
//!   `membership`: the output document every consumer reads.
//! - What is made of an answer: `resolve` (one decide–validate pass over a
//!   fetched fleet), `output` (the document as JSON, shell variables, a
//!   table or nft sets), `changes` (what differs between two answers, as
//!   events, and their recent history), `diff` (what differs between two
//!   decisions), `explain`, `graph` (who registers with whom, for the
//!   page and `--format dot`), `wait` (`resolve --wait-for`), `cases`
//!   (`plugin test`), `sink` (where the daemon's answers go).
//! - `daemon`: the `watch` loop behind one builder (`Watch`), its sinks'
//!   tasks, HTTP API and metrics; `embedded`: that loop inside another
//!   program.
//! - `cli`: the binary's entry; `commands`: the flags, and running a command
//!   to output and an exit status; `scaffold`: `plugin new`'s projects.
#![warn(missing_docs)]

/// Declares modules of the crate's inside: private, or public (and
/// hidden) with the `internals` feature, which only the tests and the
/// benchmarks turn on (as a dev-dependency of the crate on itself).
macro_rules! internal_modules {
    ($($module:ident),* $(,)?) => {$(
        #[cfg(feature = "internals")]
        #[doc(hidden)]
        pub mod $module;
        #[cfg(not(feature = "internals"))]
        mod $module;
    )*};
}

mod atomic_file;
mod bounded_read;
mod capped_file;
mod cases;
mod changes;
pub mod cli;
mod diff;
mod embedded;
mod explain;
mod graph;
mod identity;
mod located;
mod membership;
mod output;
mod paths;
mod report;
mod resolve;
mod scaffold;
mod self_lifecycle;
mod sink;
mod terminal_text;
mod wait;
internal_modules!(
    commands, daemon, events, inventory, policy, settings, snapshot
);

pub use changes::{ChangeEvent, ChangeKind};
pub use daemon::WatchError;
pub use embedded::{open_ec2, watch};
pub use inventory::{
    Field, FileSource, Fleet, Instance, Instances, Inventory, InventorySource, SecurityGroup,
    SnapshotNote, SourceError, Tag,
};
pub use membership::{InventorySummary, Membership, SelfEntry, Target};
pub use output::{RenderError, Renderer, TemplateError, render};
pub use policy::{
    AsFleet, CompiledCache, Decision, Member, Note, NoteTopic, PluginReport, Policy, PolicyEngine,
    PolicyError, PolicyIdentity, WasmPolicy,
};
pub use resolve::{ResolveError, resolve};
pub use settings::{
    Bundled, Ec2Settings, Filter, Format, MaxChange, PolicyLimits, S3Location, SnapshotSettings,
    SnapshotWrite, TemplateFile,
};
