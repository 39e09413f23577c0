//! rollcall: EC2 fleet membership decided by WebAssembly policies.
//!
//! # Layout
//! - [`inventory`]: the instance model and the sources that produce a fleet
//!   (a describe-instances file today).
//! - [`policy`]: the policy interface, the wasmtime runtime behind it, and the
//!   validation of what a policy returns.
//! - [`membership`]: the output document every consumer reads.
//! - [`output`]: that document as JSON, shell variables or a table.
//! - [`resolve`]: one fetch–decide–validate pass.
//! - [`cli`]: flags, and running a command with its exit code.

pub mod cli;
pub mod inventory;
pub mod membership;
pub mod output;
pub mod policy;
pub mod resolve;
