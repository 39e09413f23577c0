//! The `rollcall:policy@0.2.0` world (`wit/policy.wit`) as wasmtime's
//! bindings: the types that cross the boundary, and the version this host
//! runs.

wasmtime::component::bindgen!({
    world: "policy",
    path: "../wit",
});

pub use self::rollcall::policy::{host, types};

/// The interface version this host runs, as `wit/policy.wit` declares it.
pub const INTERFACE: &str = "rollcall:policy@0.2.0";
/// The package every version of the interface belongs to.
pub const PACKAGE: &str = "rollcall:policy";
