//! A plugin linked against the interface version it was built for, among
//! those this host runs (0.3.0 and 0.2.0), and one `configure` and `decide`
//! for all of them: the rest of the host asks 0.3.0 questions and reads
//! 0.3.0 decisions whatever the plugin speaks.

use super::sandbox::Sandbox;
use super::world::{self, host, previous, types};
use wasmtime::Store;
use wasmtime::component::{HasSelf, InstancePre, Linker};

/// Adds the imports of every version this host runs to `linker`.
pub fn add_to_linker(linker: &mut Linker<Sandbox>) -> wasmtime::Result<()> {
    world::Policy::add_to_linker::<_, HasSelf<_>>(linker, |sandbox| sandbox)?;
    previous::Policy::add_to_linker::<_, HasSelf<_>>(linker, |sandbox| sandbox)
}

/// A component linked and ready to instantiate, for the version it was
/// built for.
#[derive(Clone)]
pub enum LinkedPolicy {
    Current(world::PolicyPre<Sandbox>),
    Previous(previous::PolicyPre<Sandbox>),
}

impl LinkedPolicy {
    /// The component's exports checked against the world of `version` (the
    /// one its imports name, e.g. `0.2.0`); against each world this host
    /// runs, newest first, when it imports nothing of the interface. The
    /// error is the world's it was built for (or the newest's).
    pub fn new(
        instance_pre: InstancePre<Sandbox>,
        version: Option<&str>,
    ) -> Result<LinkedPolicy, (wasmtime::Error, &'static str)> {
        let current = |pre: InstancePre<Sandbox>| {
            world::PolicyPre::new(pre)
                .map(LinkedPolicy::Current)
                .map_err(|err| (err, world::INTERFACE))
        };
        let previous = |pre: InstancePre<Sandbox>| {
            previous::PolicyPre::new(pre)
                .map(LinkedPolicy::Previous)
                .map_err(|err| (err, previous::INTERFACE))
        };
        match version {
            Some(version) if is(previous::INTERFACE, version) => previous(instance_pre),
            Some(_) => current(instance_pre),
            None => current(instance_pre.clone())
                .or_else(|newest| previous(instance_pre).map_err(|_| newest)),
        }
    }

    /// The interface the plugin speaks, e.g. `rollcall:policy@0.3.0`.
    pub fn interface(&self) -> &'static str {
        match self {
            LinkedPolicy::Current(_) => world::INTERFACE,
            LinkedPolicy::Previous(_) => previous::INTERFACE,
        }
    }

    /// A fresh instance in `store`.
    pub fn instantiate(&self, store: &mut Store<Sandbox>) -> wasmtime::Result<PolicyInstance> {
        Ok(match self {
            LinkedPolicy::Current(pre) => PolicyInstance::Current(pre.instantiate(store)?),
            LinkedPolicy::Previous(pre) => PolicyInstance::Previous(pre.instantiate(store)?),
        })
    }
}

/// Whether `interface` (`rollcall:policy@0.2.0`) is version `version`.
fn is(interface: &str, version: &str) -> bool {
    interface
        .strip_prefix(world::PACKAGE)
        .and_then(|rest| rest.strip_prefix('@'))
        == Some(version)
}

/// An instance of a plugin, whatever version it speaks.
pub enum PolicyInstance {
    Current(world::Policy),
    Previous(previous::Policy),
}

impl PolicyInstance {
    /// Calls the plugin's `configure`.
    pub fn call_configure(
        &self,
        store: &mut Store<Sandbox>,
        settings: &str,
    ) -> wasmtime::Result<Result<(), String>> {
        match self {
            PolicyInstance::Current(policy) => policy.call_configure(store, settings),
            PolicyInstance::Previous(policy) => policy.call_configure(store, settings),
        }
    }

    /// Calls the plugin's `decide`; a 0.2.0 plugin gets the question
    /// without the columns 0.3.0 added.
    pub fn call_decide(
        &self,
        store: &mut Store<Sandbox>,
        question: types::Question<'_>,
    ) -> wasmtime::Result<Result<types::Decision, String>> {
        match self {
            PolicyInstance::Current(policy) => policy.call_decide(store, question),
            PolicyInstance::Previous(policy) => Ok(policy
                .call_decide(store, &previous::question(question))?
                .map(previous::decision)),
        }
    }
}

impl types::Host for Sandbox {}

impl host::Host for Sandbox {
    fn log(&mut self, level: types::LogLevel, message: String) {
        let level = match level {
            types::LogLevel::Trace => tracing::Level::TRACE,
            types::LogLevel::Debug => tracing::Level::DEBUG,
            types::LogLevel::Info => tracing::Level::INFO,
            types::LogLevel::Warn => tracing::Level::WARN,
            types::LogLevel::Error => tracing::Level::ERROR,
        };
        Sandbox::log(self, level, &message);
    }
}

impl previous::old::Host for Sandbox {}

impl previous::host::Host for Sandbox {
    fn log(&mut self, level: previous::old::LogLevel, message: String) {
        host::Host::log(self, previous::log_level(level), message);
    }
}
