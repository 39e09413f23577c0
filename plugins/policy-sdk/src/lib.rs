//! What every rollcall policy plugin needs: the bindings of the
//! `rollcall:policy` world and the few rules policies share.
//!
//! A plugin depends on this crate only (not on `wit-bindgen`), implements
//! [`Guest`] and exports it:
//!
//! ```ignore
//! use rollcall_policy_sdk::{Decision, Guest, Inventory};
//!
//! struct MyPolicy;
//!
//! impl Guest for MyPolicy {
//!     fn configure(config: String) -> Result<(), String> {
//!         rollcall_policy_sdk::install_panic_hook();
//!         Ok(())
//!     }
//!     fn decide(inventory: Inventory) -> Result<Decision, String> {
//!         Ok(Decision { members: vec![], register_with: vec![] })
//!     }
//! }
//!
//! rollcall_policy_sdk::export!(MyPolicy);
//! ```
//!
//! Layout: `bindings` is generated from `wit/policy.wit` (plugins use the
//! re-exports below, not the module); `address` picks the address peers use,
//! `inventory` says who may be a member, `decision` whom self may register
//! with and how to report a decision, `settings` reads a policy's settings,
//! `panic` sends a panic's message to the host's log.

mod address;
mod decision;
#[cfg(test)]
mod fixtures;
mod inventory;
mod panic;
mod settings;

/// The generated bindings. Public only because [`export!`] expands, in the
/// plugin's crate, to paths inside this module; use the re-exports at the
/// crate root instead.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "policy",
        // `export!` is used by the plugin crates, not by this one: make it
        // `#[macro_export]` and have it find the generated types here.
        pub_export_macro: true,
        default_bindings_module: "rollcall_policy_sdk::bindings",
    });
}

pub use address::AddressKind;
pub use bindings::rollcall::policy::host::log;
pub use bindings::rollcall::policy::types::{
    Decision, Instance, Inventory, LogLevel, Member, SecurityGroup, Tag,
};
pub use bindings::{Guest, export};
pub use decision::{share_a_cluster, summary};
pub use inventory::{candidates, checked_self_id};
pub use panic::install_panic_hook;
pub use settings::settings_from_json;
