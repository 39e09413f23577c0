//! WebAssembly policies: compiling a component once, and running it in a
//! fresh, empty sandbox for every evaluation.

use super::cache::CompiledCache;
use super::check::PluginReport;
use super::limits::EPOCH_TICK;
use super::linked::{self, LinkedPolicy, PolicyInstance};
use super::sandbox::{Sandbox, bounded};
use super::world::{self as bindings};
use super::{Decision, Policy, PolicyError, PolicyIdentity, answer, columns};
use crate::capped_file;
use crate::inventory::Fleet;
use crate::settings::PolicyLimits;
use sha2::{Digest, Sha256};
use std::path::Path;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, Store};

/// The compiler and the imports every policy gets. Create one and share it:
/// compiled policies are tied to the engine that compiled them.
#[derive(Clone)]
pub struct PolicyEngine {
    engine: Engine,
    linker: Linker<Sandbox>,
    cache: Option<CompiledCache>,
}

impl PolicyEngine {
    /// Also starts the thread that advances the engine's epoch, which
    /// enforces every policy's time limit; it ends with the last engine.
    pub fn new() -> wasmtime::Result<Self> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        let engine = Engine::new(&config)?;
        let ticking = engine.weak();
        std::thread::Builder::new()
            .name("rollcall-epoch".to_owned())
            .spawn(move || {
                while let Some(engine) = ticking.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .map_err(|err| wasmtime::format_err!("cannot start the epoch thread: {err}"))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        super::clocks::add_to_linker(&mut linker, Sandbox::clock)?;
        linked::add_to_linker(&mut linker)?;
        Ok(PolicyEngine {
            engine,
            linker,
            cache: None,
        })
    }

    /// Keeps compiled policies in `cache` and reuses them.
    pub fn with_cache(mut self, cache: Option<CompiledCache>) -> Self {
        self.cache = cache;
        self
    }

    /// Compiles the plugin into the cache (`rollcall plugin compile`);
    /// returns the entry written.
    pub fn precompile(
        &self,
        path: &Path,
        cache: &CompiledCache,
    ) -> Result<std::path::PathBuf, PolicyError> {
        let bytes = read_plugin(path)?;
        cache
            .store(&self.engine, &sha256_hex(&bytes), &bytes)
            .map_err(|reason| load_error(path, reason))
    }

    /// The compiled component: from the cache if it holds this plugin for
    /// this engine, else compiled now (and stored for next time).
    fn component(&self, bytes: &[u8], sha256: &str) -> wasmtime::Result<Component> {
        let Some(cache) = &self.cache else {
            return Component::new(&self.engine, bytes);
        };
        if let Some(component) = cache.load(&self.engine, sha256) {
            return Ok(component);
        }
        let component = Component::new(&self.engine, bytes)?;
        match component
            .serialize()
            .map_err(|err| format!("{err:#}"))
            .and_then(|code| cache.store_compiled(&self.engine, sha256, &code))
        {
            Ok(entry) => tracing::debug!(entry = %entry.display(), "Compiled policy cached."),
            Err(reason) => {
                tracing::warn!(cache = %cache.directory().display(), reason, "Cannot cache the compiled policy.")
            }
        }
        Ok(component)
    }

    /// Reads, compiles and links the plugin at `path`, then checks that it
    /// accepts `settings` (a JSON document) in a trial instance, under
    /// `limits`.
    ///
    /// ```
    /// use rollcall::{PolicyEngine, PolicyError, PolicyLimits};
    /// # let plugin = std::path::Path::new(kit::plugins::ELASTIC_GRID);
    ///
    /// let engine = PolicyEngine::new().expect("an engine");
    /// let policy = engine.load(&plugin, r#"{"address": "private-ip"}"#, PolicyLimits::default());
    /// assert!(policy.is_ok());
    /// let refused = engine.load(&plugin, r#"{"adress": "private-ip"}"#, PolicyLimits::default());
    /// assert!(matches!(refused, Err(PolicyError::Rejected { .. })));
    /// ```
    pub fn load(
        &self,
        path: &Path,
        settings: &str,
        limits: PolicyLimits,
    ) -> Result<WasmPolicy, PolicyError> {
        let bytes = read_plugin_file(path)?;
        self.load_bytes(path, &bytes, settings, limits)
    }

    /// The component linked against what a policy may import, ready to
    /// instantiate; or why this host would not run it.
    fn linked(&self, component: &Component) -> Result<LinkedPolicy, String> {
        let version = imported_version(&self.engine, component);
        let refused = |err: wasmtime::Error, not_a_policy: String| match &version {
            Some(version) if !runs(version) => rebuild(version),
            _ => format!("{not_a_policy}{err:#}"),
        };
        let instance_pre = self
            .linker
            .instantiate_pre(component)
            .map_err(|err| refused(err, String::new()))?;
        LinkedPolicy::new(instance_pre, version.as_deref()).map_err(|(err, interface)| {
            refused(err, format!("it is not a {interface} component: "))
        })
    }

    /// What `rollcall plugin check` reports about the plugin at `path`: read,
    /// compiled (without the cache) and linked, not run. A file that cannot
    /// be read or compiled is an error; one that compiles but that this
    /// host would not run is a report saying why.
    pub fn check(&self, path: &Path) -> Result<PluginReport, PolicyError> {
        let bytes = read_plugin(path)?;
        let component = Component::new(&self.engine, &bytes)
            .map_err(|err| load_error(path, format!("{err:#}")))?;
        let component_type = component.component_type();
        let names = |items: &mut dyn Iterator<Item = &str>| items.map(str::to_owned).collect();
        let imports: Vec<String> =
            names(&mut component_type.imports(&self.engine).map(|(name, _)| name));
        let exports: Vec<String> =
            names(&mut component_type.exports(&self.engine).map(|(name, _)| name));
        let linked = self.linked(&component);
        Ok(PluginReport {
            path: path.to_owned(),
            bytes: bytes.len(),
            sha256: sha256_hex(&bytes),
            interface: match &linked {
                Ok(policy) => Some(policy.interface().to_owned()),
                Err(_) => built_for(&imports),
            },
            imports,
            exports,
            refused: linked.err(),
        })
    }

    /// Like [`PolicyEngine::load`], with the plugin already in memory (`path`
    /// only names it).
    pub fn load_bytes(
        &self,
        path: &Path,
        bytes: &[u8],
        settings: &str,
        limits: PolicyLimits,
    ) -> Result<WasmPolicy, PolicyError> {
        self.compiled(path, bytes, limits)?.reconfigured(settings)
    }

    /// Reads, compiles (or takes from the cache) and links the plugin at
    /// `path`, without configuring it: [`WasmPolicy::reconfigured`] gives it
    /// settings, checked. For `plugin test`, whose cases each bring their
    /// own settings, some of them meant to be refused.
    pub(crate) fn compile(
        &self,
        path: &Path,
        limits: PolicyLimits,
    ) -> Result<WasmPolicy, PolicyError> {
        self.compiled(path, &read_plugin(path)?, limits)
    }

    fn compiled(
        &self,
        path: &Path,
        bytes: &[u8],
        limits: PolicyLimits,
    ) -> Result<WasmPolicy, PolicyError> {
        let load_error = |reason: String| PolicyError::Load {
            path: path.to_owned(),
            reason,
        };
        check_component_header(bytes).map_err(load_error)?;
        let sha256 = sha256_hex(bytes);
        let component = self
            .component(bytes, &sha256)
            .map_err(|err| load_error(format!("{err:#}")))?;
        let pre = self.linked(&component).map_err(load_error)?;
        Ok(WasmPolicy {
            identity: PolicyIdentity {
                path: path.to_owned(),
                sha256,
            },
            engine: self.engine.clone(),
            pre,
            settings: "{}".to_owned(),
            limits,
        })
    }
}

/// A compiled policy component with its settings. Every evaluation gets a new
/// `Store`: a trap never poisons later calls and no state leaks between them.
pub struct WasmPolicy {
    identity: PolicyIdentity,
    engine: Engine,
    pre: LinkedPolicy,
    settings: String,
    limits: PolicyLimits,
}

impl WasmPolicy {
    /// The same compiled plugin with other settings, checked in a trial
    /// instance like [`PolicyEngine::load`] does. No recompilation.
    pub fn reconfigured(&self, settings: &str) -> Result<WasmPolicy, PolicyError> {
        let policy = WasmPolicy {
            identity: self.identity.clone(),
            engine: self.engine.clone(),
            pre: self.pre.clone(),
            settings: settings.to_owned(),
            limits: self.limits,
        };
        policy.with_instance(0, |_, _| Ok(Ok(())))?;
        Ok(policy)
    }

    /// Instantiates the component in a fresh sandbox, configures it, and runs
    /// `call` on it, each call under the time limit. Guest output reaches the
    /// log whatever the outcome; a trap is told apart from a limit.
    fn with_instance<R>(
        &self,
        instances: usize,
        call: impl FnOnce(
            &PolicyInstance,
            &mut Store<Sandbox>,
        ) -> wasmtime::Result<Result<R, PolicyError>>,
    ) -> Result<R, PolicyError> {
        let name = self.identity.name();
        let memory_limit = self.limits.memory_for(instances);
        let mut store = Store::new(&self.engine, Sandbox::new(name, memory_limit));
        store.limiter(|sandbox| sandbox);
        let outcome = self
            .configured(&mut store)
            .and_then(|configured| match configured {
                Ok(policy) => {
                    store.set_epoch_deadline(self.limits.deadline_ticks());
                    call(&policy, &mut store)
                }
                Err(rejected) => Ok(Err(rejected)),
            });
        store.data_mut().flush();
        outcome.unwrap_or_else(|err| Err(self.failure(&err, store.data(), memory_limit)))
    }

    fn configured(
        &self,
        store: &mut Store<Sandbox>,
    ) -> wasmtime::Result<Result<PolicyInstance, PolicyError>> {
        store.set_epoch_deadline(self.limits.deadline_ticks());
        let policy = self.pre.instantiate(&mut *store)?;
        Ok(policy
            .call_configure(&mut *store, &self.settings)?
            .map(|()| policy)
            .map_err(|message| PolicyError::Rejected {
                name: self.identity.name(),
                message: bounded(message),
            }))
    }

    /// What a wasmtime error means for the operator: a limit, or a trap with
    /// the plugin's last words (a Rust panic message, say).
    fn failure(
        &self,
        err: &wasmtime::Error,
        sandbox: &Sandbox,
        memory_limit: usize,
    ) -> PolicyError {
        let name = self.identity.name();
        if sandbox.memory_limit_hit {
            return PolicyError::MemoryLimit {
                name,
                limit_mib: memory_limit / (1024 * 1024),
            };
        }
        match err.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::Interrupt) => {
                if sandbox.clock_waits > 0 {
                    tracing::warn!(plugin = %name, clock_waits = sandbox.clock_waits, "The policy waited on a clock before it ran out of time: in the sandbox every wait ends at once, so a loop that waits for time to pass spins.");
                }
                PolicyError::TimeLimit {
                    name,
                    limit_ms: self.limits.time.as_millis(),
                }
            }
            trap => {
                let mut reason = match trap {
                    // Languages with a shadow stack in linear memory (Rust,
                    // C) overflow it into an out-of-bounds access.
                    Some(wasmtime::Trap::MemoryOutOfBounds) => format!(
                        "{} (a stack overflow or a wild pointer in the plugin)",
                        wasmtime::Trap::MemoryOutOfBounds
                    ),
                    Some(wasmtime::Trap::StackOverflow) => format!(
                        "stack overflow: {} (too deep a recursion in the plugin)",
                        wasmtime::Trap::StackOverflow
                    ),
                    Some(trap) => trap.to_string(),
                    None => format!("{err:#}"),
                };
                if let Some(words) = &sandbox.last_words {
                    reason.push_str(&format!(" (it said: {words})"));
                }
                PolicyError::Trapped {
                    name,
                    reason: bounded(reason),
                }
            }
        }
    }
}

impl Policy for WasmPolicy {
    fn identity(&self) -> &PolicyIdentity {
        &self.identity
    }

    fn decide(
        &self,
        fleet: &Fleet,
        self_id: Option<&str>,
        explain: Option<&str>,
    ) -> Result<Decision, PolicyError> {
        let failed = |message: String| PolicyError::Failed {
            name: self.identity.name(),
            message: bounded(message),
        };
        let asking = columns::question(fleet, self_id, explain);
        let decision = self.with_instance(fleet.len(), |policy, store| {
            let answer = policy.call_decide(&mut *store, asking.question())?;
            Ok(answer.map_err(failed))
        })?;
        answer::decision(decision, fleet).map_err(|problems| PolicyError::InvalidAnswer {
            name: self.identity.name(),
            problems,
        })
    }
}

/// The plugin file's bytes, checked to be a component.
fn read_plugin(path: &Path) -> Result<Vec<u8>, PolicyError> {
    let bytes = read_plugin_file(path)?;
    check_component_header(&bytes).map_err(|reason| load_error(path, reason))?;
    Ok(bytes)
}

/// The plugin file's bytes: a regular file of at most
/// [`capped_file::PLUGIN`]'s limit.
pub(crate) fn read_plugin_file(path: &Path) -> Result<Vec<u8>, PolicyError> {
    capped_file::read_capped(path, capped_file::PLUGIN).map_err(|err| PolicyError::Unreadable {
        path: path.to_owned(),
        source: err.into_io(),
    })
}

/// Why the plugin at `path` cannot be loaded.
fn load_error(path: &Path, reason: String) -> PolicyError {
    PolicyError::Load {
        path: path.to_owned(),
        reason,
    }
}

/// Names the common ways a file is not a component before wasmtime's more
/// technical validation does.
fn check_component_header(bytes: &[u8]) -> Result<(), String> {
    const MAGIC: &[u8] = b"\0asm";
    const CORE_MODULE: [u8; 4] = [1, 0, 0, 0];
    match bytes.get(..8) {
        Some(header) if header.starts_with(MAGIC) && header[4..] == CORE_MODULE => Err(
            "it is a core WebAssembly module, not a component: build the plugin for \
             wasm32-wasip2, or wrap it with `wasm-tools component new`"
                .to_owned(),
        ),
        Some(header) if header.starts_with(MAGIC) => Ok(()),
        _ => Err("it is not a WebAssembly file (no `\\0asm` header)".to_owned()),
    }
}

/// The version of `rollcall:policy` the component was built for, read from
/// the interfaces it imports; `None` when it imports none of them.
fn imported_version(engine: &Engine, component: &Component) -> Option<String> {
    component
        .component_type()
        .imports(engine)
        .find_map(|(name, _)| interface_version(name))
}

/// Whether this host runs plugins built for `version`, e.g. `0.2.0`.
fn runs(version: &str) -> bool {
    bindings::INTERFACES
        .iter()
        .any(|interface| *interface == format!("{}@{version}", bindings::PACKAGE))
}

/// The version in an import of one of `rollcall:policy`'s interfaces,
/// e.g. `0.2.0` in `rollcall:policy/host@0.2.0`.
fn interface_version(import: &str) -> Option<String> {
    let (interface, version) = import.split_once('@')?;
    let name = interface
        .strip_prefix(bindings::PACKAGE)?
        .strip_prefix('/')?;
    (!name.is_empty()).then(|| version.to_owned())
}

/// The interface a plugin importing `imports` was built for, e.g.
/// `rollcall:policy@0.2.0`.
fn built_for(imports: &[String]) -> Option<String> {
    imports
        .iter()
        .find_map(|import| interface_version(import))
        .map(|version| format!("{}@{version}", bindings::PACKAGE))
}

/// What to do about a plugin built for another version of the interface.
fn rebuild(version: &str) -> String {
    format!(
        "it was built for {package}@{version}, and this rollcall runs {runs} \
         policies: rebuild it against {interface} (wit/policy.wit; for Rust, the \
         rollcall-policy-sdk of this release)",
        package = bindings::PACKAGE,
        runs = runs_text(),
        interface = bindings::INTERFACE,
    )
}

/// The versions this host runs, in words, oldest first:
/// `rollcall:policy@0.2.0 or 0.3.0`.
fn runs_text() -> String {
    let versions: Vec<&str> = bindings::INTERFACES
        .iter()
        .rev()
        .filter_map(|interface| interface.split_once('@').map(|(_, version)| version))
        .collect();
    format!("{}@{}", bindings::PACKAGE, versions.join(" or "))
}

/// Lower-case hex SHA-256, as the output document names plugins.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_told_apart() {
        assert!(check_component_header(b"\0asm\x0d\0\x01\0rest").is_ok());
        let core = check_component_header(b"\0asm\x01\0\0\0rest").unwrap_err();
        assert!(core.contains("core WebAssembly module"), "{core}");
        let text = check_component_header(b"#!/bin/sh\necho").unwrap_err();
        assert!(text.contains("not a WebAssembly file"), "{text}");
        assert!(check_component_header(b"\0as").is_err());
    }

    #[test]
    fn sha256_is_lower_case_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
