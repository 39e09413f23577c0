//! Every setting rollcall runs with: its type, default, range, flag and
//! configuration-file key, and the errors that say where a bad one was
//! written. The lowest layer of the crate: it reads files the operator
//! names, and nothing here talks to EC2, S3 or a policy.
//!
//! - [`file`]: the `rollcall watch` configuration file (TOML schema);
//! - [`watch`]: `watch`'s flags, and the file with the flags over it;
//! - [`resolve`]: what the one-shot commands read the fleet with;
//! - [`source`], [`ec2`], [`accounts`], [`filter`], [`snapshot`]: where the
//!   fleet comes from;
//! - [`own`]: who this node is (`self`, `--self`);
//! - [`refresh`]: how often, with the jitter and staleness that follow;
//! - [`policy`], [`plugin_toml`]: the plugin's settings and limits;
//! - [`change`]: the change guard's settings;
//! - [`lifecycle`]: how this node leaves (`[lifecycle]`, `--leave-on-stop`);
//! - [`events`]: the queue of the fleet's events (`[events]`,
//!   `--events-queue`);
//! - [`format`], [`bundled`]: the forms an answer takes, and the consumer
//!   formats rollcall ships;
//! - [`overrides`]: the settings both flags and the file give, merged once;
//! - [`ranges`]: the range of every duration and count;
//! - [`error`]: what is wrong, and where.

pub mod accounts;
pub mod bundled;
pub mod change;
pub mod ec2;
pub mod error;
pub mod events;
pub mod file;
pub mod filter;
pub mod format;
pub mod lifecycle;
pub mod overrides;
pub mod own;
pub mod plugin_toml;
pub mod policy;
pub mod ranges;
pub mod refresh;
pub mod resolve;
pub mod snapshot;
pub mod source;
pub mod watch;

pub use accounts::AccountSettings;
pub use bundled::Bundled;
pub use change::{ChangeGuard, ChangeId, DEFAULT_CHANGE_WINDOW, MaxChange};
pub use ec2::Ec2Settings;
pub use error::{Conflict, SettingsError};
pub use events::{EventsSettings, QueueUrl};
pub use file::{Config, SinkConfig};
pub use filter::Filter;
pub use format::{Format, FormatParser, TemplateFile};
pub use lifecycle::LifecycleSettings;
pub use overrides::PolicyLimitOverrides;
pub use own::{SelfArgs, SelfChoice};
pub use policy::{CacheArgs, PluginSettings, PolicyLimits};
pub use refresh::Refresh;
pub use resolve::ResolveSettings;
pub use snapshot::{DEFAULT_MAX_AGE_INTERVALS, S3Location, SnapshotSettings, SnapshotWrite};
pub use source::{SourceArgs, SourceSettings};
pub use watch::{WatchArgs, WatchSettings};
