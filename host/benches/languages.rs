//! The Elastic Grid policy in three languages (Rust built by the test kit,
//! Python and JavaScript by `scripts/plugins python js`):
//! Rust (`elastic_grid.wasm`), Python (`elastic_grid_py.wasm`,
//! componentize-py) and JavaScript (`elastic_grid_js.wasm`,
//! componentize-js). For each plugin:
//!
//! - `size`: the component file;
//! - `compile`: the median of two `PolicyEngine::load`s without the cache
//!   (compiling, linking, the trial `configure`) and the `precompile` that
//!   fills the cache (the same compiling, without the few milliseconds of
//!   linking and `configure`);
//! - `entry` and `precompiled`: the compiled-policy cache's entry after
//!   `precompile` (`rollcall plugin compile`), and `load` from it;
//! - `fixed`: `decide` on an empty fleet (a fresh sandbox, instantiation and
//!   `configure`), the part of every evaluation the fleet does not change;
//! - `decide` at 1k and 10k instances through the host
//!   (`rollcall::policy::evaluate`, what `resolve` calls), the languages
//!   taking turns in each round, and its ratio to Rust;
//! - `base`: the smallest base memory limit (`memory_limit_mib`) under which
//!   `load` and `decide` at 10k both succeed, found by bisection;
//! - whether `decide` fits the default limits (2 s, 64 MiB + 2 KiB per
//!   instance) at 10k and 100k, and at 100k the time without limits.
//!
//! The decisions are checked equal first. Run:
//! `cargo bench -p rollcall --bench languages` after
//! `scripts/plugins python js`.

#[path = "support/fleet.rs"]
mod fleet;
#[path = "support/measure.rs"]
#[allow(dead_code, reason = "shared by every benchmark, each using part of it")]
mod measure;
#[path = "support/summary.rs"]
#[allow(dead_code, reason = "shared by every benchmark, each using part of it")]
mod summary;

use kit::plugins::{ELASTIC_GRID, elastic_grid_js, elastic_grid_py};
use measure::median;
use rollcall::inventory::{Instance, parse_describe_instances};
use rollcall::policy::{CompiledCache, Decision, PolicyEngine, PolicyError, WasmPolicy, evaluate};
use rollcall::settings::PolicyLimits;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SETTINGS: &str = r#"{"cluster_group_prefix": "cluster-"}"#;
/// Where a language's plugin is.
type Plugin = fn() -> PathBuf;
/// Language and its plugin, Rust first: the ratios are to it.
const LANGUAGES: [(&str, Plugin); 3] = [
    ("Rust", || ELASTIC_GRID.into()),
    ("Python", elastic_grid_py),
    ("JavaScript", elastic_grid_js),
];
/// Compiling Python or JavaScript takes 10 to 25 s: three compilations
/// give a median.
const COMPILE_RUNS: usize = 3;
const LOAD_RUNS: usize = 7;
const FIXED_RUNS: usize = 15;
/// Fleet sizes and the rounds of `decide` at each (every language once a
/// round).
const FLEETS: [(usize, usize); 2] = [(1_000, 15), (10_000, 7)];
/// Decided once per language, under the default limits and without them.
const LARGE_FLEET: usize = 100_000;
/// Where the smallest base memory limit is looked for.
const BASE_FLEET: usize = 10_000;

/// Limits no plugin here reaches: the figures are times, not verdicts.
fn unlimited() -> PolicyLimits {
    PolicyLimits {
        time: Duration::from_secs(600),
        memory_bytes: 4 << 30,
    }
}

fn instances(count: usize) -> Vec<Instance> {
    let text = fleet::describe_instances(count, 42).to_string();
    parse_describe_instances(text.as_bytes()).expect("the synthetic fleet parses")
}

fn milliseconds(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Times `run` `runs` times; the median.
fn median_of<T>(runs: usize, mut run: impl FnMut() -> T) -> Duration {
    median(
        (0..runs)
            .map(|_| {
                let started = Instant::now();
                let result = std::hint::black_box(run());
                let took = started.elapsed();
                drop(result);
                took
            })
            .collect(),
    )
}

/// The decision on `instances` for self, timed.
fn decide(
    policy: &WasmPolicy,
    instances: &[Instance],
) -> (Duration, Result<Decision, PolicyError>) {
    let started = Instant::now();
    let decision = evaluate(policy, instances, Some(fleet::SELF_ID));
    (started.elapsed(), decision)
}

/// What an operator would see: it fits, or the limit that stopped it.
fn verdict(outcome: &Result<Decision, PolicyError>) -> String {
    match outcome {
        Ok(_) => "fits".to_owned(),
        Err(PolicyError::TimeLimit { limit_ms, .. }) => format!("stopped at {limit_ms} ms"),
        Err(PolicyError::MemoryLimit { limit_mib, .. }) => format!("stopped at {limit_mib} MiB"),
        Err(err) => format!("failed: {err}"),
    }
}

/// One language's plugin and the figures that need no fleet.
struct Language {
    name: &'static str,
    plugin: PathBuf,
    /// An engine with the plugin in its cache.
    engine: PolicyEngine,
    size: u64,
    compile: Duration,
    entry: u64,
    precompiled: Duration,
    fixed: Duration,
    /// Loaded from the cache under `unlimited()`.
    policy: WasmPolicy,
    /// `decide` medians, one per entry of `FLEETS`.
    decide: Vec<Duration>,
}

impl Language {
    /// Compiles the plugin `COMPILE_RUNS` times (the last is the
    /// `precompile` that fills the cache in `cache_dir`), then loads it
    /// from the cache.
    fn prepare(name: &'static str, plugin: PathBuf, cache_dir: &Path) -> Language {
        let size = std::fs::metadata(&plugin).expect("plugin file").len();
        eprintln!("{name}: compiling {COMPILE_RUNS} times");
        let mut compiles: Vec<Duration> = (1..COMPILE_RUNS)
            .map(|_| {
                let engine = PolicyEngine::new().expect("engine");
                let started = Instant::now();
                let policy = engine.load(&plugin, SETTINGS, unlimited());
                let took = started.elapsed();
                policy.expect("plugin loads");
                took
            })
            .collect();
        let cache = CompiledCache::new(cache_dir.to_owned());
        let engine = PolicyEngine::new()
            .expect("engine")
            .with_cache(Some(cache.clone()));
        let started = Instant::now();
        let entry = engine
            .precompile(&plugin, &cache)
            .expect("plugin precompiles");
        compiles.push(started.elapsed());
        let entry = std::fs::metadata(entry).expect("cache entry").len();

        let load = || {
            engine
                .load(&plugin, SETTINGS, unlimited())
                .expect("plugin loads from the cache")
        };
        let precompiled = median_of(LOAD_RUNS, load);
        let policy = load();
        let fixed = median_of(FIXED_RUNS, || {
            evaluate(&policy, &rollcall::inventory::Fleet::default(), None).expect("decides")
        });
        Language {
            name,
            plugin,
            engine,
            size,
            compile: median(compiles),
            entry,
            precompiled,
            fixed,
            policy,
            decide: Vec::new(),
        }
    }

    /// The plugin from the cache, under `limits`.
    fn load(&self, limits: PolicyLimits) -> WasmPolicy {
        self.try_load(limits).expect("plugin loads from the cache")
    }

    fn try_load(&self, limits: PolicyLimits) -> Result<WasmPolicy, PolicyError> {
        self.engine.load(&self.plugin, SETTINGS, limits)
    }
}

/// The smallest base memory limit, in MiB, under which the plugin loads and
/// decides `instances`; `None` past the default base.
fn smallest_base_mib(language: &Language, instances: &[Instance]) -> Option<usize> {
    let works = |base_mib: usize| {
        let limits = PolicyLimits {
            memory_bytes: base_mib << 20,
            ..unlimited()
        };
        language
            .try_load(limits)
            .is_ok_and(|policy| decide(&policy, instances).1.is_ok())
    };
    let default_mib = PolicyLimits::default().memory_bytes >> 20;
    if !works(default_mib) {
        return None;
    }
    let (mut fails, mut succeeds) = (0, default_mib);
    while succeeds - fails > 1 {
        let middle = (fails + succeeds) / 2;
        if works(middle) {
            succeeds = middle;
        } else {
            fails = middle;
        }
    }
    Some(succeeds)
}

fn main() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut languages: Vec<Language> = LANGUAGES
        .iter()
        .map(|(name, plugin)| Language::prepare(name, plugin(), &dir.path().join("cache")))
        .collect();

    for (count, rounds) in FLEETS {
        let fleet = instances(count);
        let expected = decide(&languages[0].policy, &fleet)
            .1
            .expect("Rust decides");
        for language in &languages {
            let decision = decide(&language.policy, &fleet)
                .1
                .expect("the policy decides");
            assert_eq!(
                decision.members, expected.members,
                "{} decides as Rust",
                language.name
            );
            assert_eq!(decision.register_with, expected.register_with);
        }
        eprintln!("decide at {count}: {rounds} rounds");
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); languages.len()];
        for _ in 0..rounds {
            for (language, times) in languages.iter().zip(&mut times) {
                times.push(decide(&language.policy, &fleet).0);
            }
        }
        for (language, times) in languages.iter_mut().zip(times) {
            language.decide.push(median(times));
        }
    }

    println!("\nthe Elastic Grid policy in three languages (medians; ratios within this run):");
    println!(
        "{:<10} {:>10} {:>10} {:>10} {:>12} {:>9} {:>10} {:>11} {:>12}",
        "language",
        "size_KiB",
        "compile_ms",
        "entry_KiB",
        "precompiled",
        "fixed_ms",
        "decide_1k",
        "decide_10k",
        "vs_Rust"
    );
    let rust = (languages[0].decide[0], languages[0].decide[1]);
    for language in &languages {
        let ratio_1k = language.decide[0].as_secs_f64() / rust.0.as_secs_f64();
        let ratio_10k = language.decide[1].as_secs_f64() / rust.1.as_secs_f64();
        println!(
            "{:<10} {:>10.0} {:>10.1} {:>10.0} {:>12.2} {:>9.2} {:>10.2} {:>11.2} {:>6.1}x/{:.1}x",
            language.name,
            language.size as f64 / 1024.0,
            milliseconds(language.compile),
            language.entry as f64 / 1024.0,
            milliseconds(language.precompiled),
            milliseconds(language.fixed),
            milliseconds(language.decide[0]),
            milliseconds(language.decide[1]),
            ratio_1k,
            ratio_10k,
        );
        summary::record(
            "languages",
            &format!("{}: decide 1k / 10k, ratio to Rust", language.name),
            &format!(
                "{ratio_1k:.1}x / {ratio_10k:.1}x ({:.2} / {:.2} ms)",
                milliseconds(language.decide[0]),
                milliseconds(language.decide[1])
            ),
            summary::Target::None,
        );
        summary::record(
            "languages",
            &format!("{}: compile / precompiled load", language.name),
            &format!(
                "{:.0} / {:.1} ms (file {:.1} MiB, cache entry {:.1} MiB)",
                milliseconds(language.compile),
                milliseconds(language.precompiled),
                mib(language.size),
                mib(language.entry)
            ),
            summary::Target::None,
        );
    }

    println!("\nunder the default limits (2 s, 64 MiB + 2 KiB per instance):");
    let defaults = PolicyLimits::default();
    let medium = instances(BASE_FLEET);
    let mut at_medium = Vec::new();
    for language in &languages {
        let fits = verdict(&decide(&language.load(defaults), &medium).1);
        let base = smallest_base_mib(language, &medium).map_or_else(
            || "more than the default".to_owned(),
            |base| format!("{base} MiB"),
        );
        println!(
            "  {:<10} {BASE_FLEET}: {fits}; smallest base memory limit that works: {base}",
            language.name
        );
        at_medium.push(format!("{fits} (base >= {base})"));
    }
    let large = instances(LARGE_FLEET);
    let mut rust_large = None;
    for (language, at_medium) in languages.iter().zip(at_medium) {
        let fits = verdict(&decide(&language.load(defaults), &large).1);
        // Without the time limit: does the memory allowance hold, and how
        // long does it take?
        let memory_only = PolicyLimits {
            time: unlimited().time,
            ..defaults
        };
        let (mut took, outcome) = decide(&language.load(memory_only), &large);
        let memory = verdict(&outcome);
        if outcome.is_err() {
            took = decide(&language.policy, &large).0;
        }
        let rust_large = *rust_large.get_or_insert(took);
        let figure = format!(
            "{fits}; no time limit: {:.0} ms ({:.1}x Rust), memory {memory}",
            milliseconds(took),
            took.as_secs_f64() / rust_large.as_secs_f64()
        );
        println!("  {:<10} {LARGE_FLEET}: {figure}", language.name);
        summary::record(
            "languages",
            &format!("{}: default limits, decide 10k / 100k", language.name),
            &format!("{at_medium} / {figure}"),
            summary::Target::None,
        );
    }
    println!(
        "\nwhole benchmark: {:.0} s",
        started.elapsed().as_secs_f64()
    );
}
