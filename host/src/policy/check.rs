//! What a plugin file is, as `rollcall plugin check` reports it: its size
//! and hash, the interface it was built for, what it imports and exports,
//! and whether this host runs it (and if not, why).

use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;

/// The report on one plugin file ([`super::PolicyEngine::check`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginReport {
    /// The plugin file.
    pub path: PathBuf,
    /// Its size.
    pub bytes: usize,
    /// Hex SHA-256 of the file, as answers name the policy.
    pub sha256: String,
    /// The version of `rollcall:policy` its imports name, e.g.
    /// `rollcall:policy@0.2.0`; `None` when it imports none of it.
    pub interface: Option<String>,
    /// Every interface it imports (WASI's with their versions).
    pub imports: Vec<String>,
    /// Every name it exports.
    pub exports: Vec<String>,
    /// Why this host would not run it; `None` when it would.
    pub refused: Option<String>,
}

impl PluginReport {
    /// Whether this host runs the plugin.
    pub fn accepted(&self) -> bool {
        self.refused.is_none()
    }

    /// The report for people, ending in a newline.
    pub fn text(&self) -> String {
        let mut text = match &self.refused {
            None => format!("{}: accepted\n", self.path.display()),
            Some(reason) => format!("{}: refused: {reason}\n", self.path.display()),
        };
        let _ = writeln!(
            text,
            "  interface: {}",
            self.interface
                .as_deref()
                .unwrap_or("none (it imports nothing of rollcall:policy)")
        );
        let _ = writeln!(text, "  size: {} bytes, sha256 {}", self.bytes, self.sha256);
        text.push_str("  imports:\n");
        for import in &self.imports {
            let _ = writeln!(text, "    {import}");
        }
        let _ = writeln!(text, "  exports: {}", self.exports.join(", "));
        text
    }
}
