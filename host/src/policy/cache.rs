//! Precompiled policies: compiling a plugin once and reusing the machine
//! code, so that a boot-time `resolve` or a daemon restart skips the JIT.
//!
//! Entries are keyed by the plugin's SHA-256 and the engine's compatibility
//! hash (wasmtime version, target, configuration), and carry a header of
//! rollcall's own. Only files with that header, under a directory that only
//! rollcall's user can write, are ever deserialized: precompiled code is
//! trusted code. Anything else (another wasmtime, another configuration, a
//! corrupt or foreign file) falls back to compiling.

use crate::atomic_file::write_parts_atomically;
use crate::settings::CacheArgs;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

const MAGIC: &[u8; 16] = b"rollcall-cwasm1\n";

/// A directory of precompiled policies.
#[derive(Debug, Clone)]
pub struct CompiledCache {
    directory: PathBuf,
}

impl CacheArgs {
    /// The cache these flags name, if any.
    pub fn cache(&self) -> Option<CompiledCache> {
        if self.no_cache {
            return None;
        }
        self.cache_dir
            .clone()
            .or_else(CompiledCache::default_directory)
            .map(CompiledCache::new)
    }
}

impl CompiledCache {
    /// `$ROLLCALL_CACHE_DIR`, else `$XDG_CACHE_HOME/rollcall`, else
    /// `~/.cache/rollcall`.
    pub fn default_directory() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("ROLLCALL_CACHE_DIR") {
            return Some(dir.into());
        }
        if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
            return Some(PathBuf::from(dir).join("rollcall"));
        }
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/rollcall"))
    }

    /// A cache in `directory`, which must be writable by this user only (it is created if missing).
    pub fn new(directory: PathBuf) -> Self {
        CompiledCache { directory }
    }

    /// Where the compiled policies are kept.
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// Where the entry for `sha256` under `engine` lives.
    pub fn entry_path(&self, engine: &Engine, sha256: &str) -> PathBuf {
        self.directory
            .join(format!("{sha256}-{}.cwasm", compatibility(engine)))
    }

    /// The cached component, if a trustworthy, compatible entry exists.
    pub fn load(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let path = self.entry_path(engine, sha256);
        if !path.exists() {
            return None;
        }
        if let Err(reason) = self.trusted() {
            tracing::warn!(cache = %self.directory.display(), reason, "Ignoring the compiled-policy cache.");
            return None;
        }
        let bytes = std::fs::read(&path).ok()?;
        let code = match header_checked(&bytes, sha256, &compatibility(engine)) {
            Some(code) => code,
            None => {
                tracing::warn!(entry = %path.display(), "Not a compiled policy of this rollcall; compiling instead.");
                return None;
            }
        };
        // SAFETY: the bytes were written by `store` below (our header, our
        // key) into a directory only this user can write, and wasmtime checks
        // its own version and configuration header before using them.
        match unsafe { Component::deserialize(engine, code) } {
            Ok(component) => {
                tracing::debug!(entry = %path.display(), "Compiled policy loaded from the cache.");
                Some(component)
            }
            Err(err) => {
                tracing::warn!(entry = %path.display(), error = %format!("{err:#}"), "Compiled policy unusable; compiling instead.");
                None
            }
        }
    }

    /// Compiles `bytes` for `engine` and stores the result; returns the entry.
    pub fn store(&self, engine: &Engine, sha256: &str, bytes: &[u8]) -> Result<PathBuf, String> {
        let code = engine
            .precompile_component(bytes)
            .map_err(|err| format!("{err:#}"))?;
        self.store_compiled(engine, sha256, &code)
    }

    /// Stores already compiled code (`Component::serialize`).
    pub fn store_compiled(
        &self,
        engine: &Engine,
        sha256: &str,
        code: &[u8],
    ) -> Result<PathBuf, String> {
        let failed =
            |err: std::io::Error| format!("cannot write to {}: {err}", self.directory.display());
        std::fs::create_dir_all(&self.directory).map_err(failed)?;
        let _ = std::fs::set_permissions(&self.directory, std::fs::Permissions::from_mode(0o700));
        self.trusted()?;
        let path = self.entry_path(engine, sha256);
        let header = header(sha256, &compatibility(engine));
        write_parts_atomically(&path, &[&header, code]).map_err(failed)?;
        Ok(path)
    }

    /// The cache is trusted only if it is owned by this user and nobody else
    /// may write to it.
    fn trusted(&self) -> Result<(), String> {
        let metadata = std::fs::metadata(&self.directory).map_err(|err| err.to_string())?;
        let uid = current_uid();
        if metadata.uid() != uid {
            return Err(format!("owned by uid {}, not {uid}", metadata.uid()));
        }
        if metadata.mode() & 0o022 != 0 {
            return Err(format!(
                "writable by others (mode {:o})",
                metadata.mode() & 0o777
            ));
        }
        Ok(())
    }
}

/// This process's uid, as the kernel reports it for /proc/self.
fn current_uid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|metadata| metadata.uid())
        .unwrap_or(u32::MAX)
}

/// The engine's compatibility hash as 16 hex digits.
fn compatibility(engine: &Engine) -> String {
    let mut hasher = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let digest = hasher.0.finalize();
    digest[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn header(sha256: &str, compatibility: &str) -> Vec<u8> {
    let mut header = MAGIC.to_vec();
    header.extend_from_slice(format!("{sha256}\n{compatibility}\n").as_bytes());
    header
}

/// The code after a header that matches, or `None`.
fn header_checked<'a>(bytes: &'a [u8], sha256: &str, compatibility: &str) -> Option<&'a [u8]> {
    let expected = header(sha256, compatibility);
    bytes.strip_prefix(expected.as_slice())
}

struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes(digest[..8].try_into().unwrap_or([0; 8]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_bind_the_code_to_plugin_and_engine() {
        let bytes = [header("abc", "0011").as_slice(), b"CODE"].concat();
        assert_eq!(header_checked(&bytes, "abc", "0011"), Some(&b"CODE"[..]));
        assert_eq!(header_checked(&bytes, "abd", "0011"), None);
        assert_eq!(header_checked(&bytes, "abc", "0012"), None);
        assert_eq!(header_checked(b"\x7fELF....", "abc", "0011"), None);
    }

    #[test]
    fn an_entry_is_the_header_then_the_code_and_nothing_else_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CompiledCache::new(dir.path().join("cache"));
        let engine = Engine::default();
        let entry = cache.store_compiled(&engine, "abc", b"CODE").unwrap();
        assert_eq!(entry, cache.entry_path(&engine, "abc"));
        let bytes = std::fs::read(&entry).unwrap();
        let compatibility = compatibility(&engine);
        assert_eq!(
            header_checked(&bytes, "abc", &compatibility),
            Some(&b"CODE"[..])
        );
        cache.store_compiled(&engine, "abc", b"CODE2").unwrap();
        let bytes = std::fs::read(&entry).unwrap();
        assert_eq!(
            header_checked(&bytes, "abc", &compatibility),
            Some(&b"CODE2"[..])
        );
        let names: Vec<_> = std::fs::read_dir(cache.directory()).unwrap().collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }
}
