//! Which form an answer takes: `--format`, and a file sink's `format`.

use serde::{Deserialize, Deserializer, de};

/// How `resolve` prints its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The membership document (the contract every consumer reads).
    Json,
    /// Shell-sourceable `ROLLCALL_*` variables.
    Env,
    /// A short table for people.
    Text,
    /// An nftables script: sets of the addresses of self's cluster peers.
    Nft,
    /// The registration graph for Graphviz (who registers with whom).
    Dot,
}

/// A file sink's `format`: any but `text`, which is for people at a
/// terminal.
pub(super) fn file_format<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Format, D::Error> {
    match Format::deserialize(deserializer)? {
        Format::Text => Err(de::Error::unknown_variant("text", &["json", "env", "nft"])),
        format => Ok(format),
    }
}
