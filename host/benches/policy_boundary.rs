//! The cost of the WebAssembly boundary: the Elastic Grid policy's `decide`
//! on 1k, 10k and 100k instances through the `.wasm` plugin, against the same
//! policy logic compiled natively into this benchmark, with the wasm figure
//! split into its phases:
//!
//! - `fixed`: a fresh sandbox, instantiation and `configure` (an empty fleet);
//! - `input`: carrying the fleet into the guest, measured with a probe policy
//!   that takes the fleet and returns nothing (`misbehaving`, mode `ignore`),
//!   minus `fixed`;
//! - `policy+answer`: the policy in the guest and lifting its answer back,
//!   the rest of the wasm figure.
//!
//! And a what-if, `packed_input`: the same fleet packed into one string
//! buffer and rows of spans (`support/packed.rs`), sent to a probe that reads
//! every row, fixed cost included: what `input` would become with such a
//! layout.
//!
//! Run: `cargo bench -p rollcall --bench policy_boundary` after
//! `scripts/plugins`.

#[path = "support/fleet.rs"]
mod fleet;
#[path = "support/measure.rs"]
#[allow(dead_code, reason = "shared by every benchmark, each using part of it")]
mod measure;
#[path = "support/packed.rs"]
mod packed;
#[path = "support/summary.rs"]
mod summary;

use criterion::{BenchmarkId, Criterion};
use rollcall::inventory::{Instance, parse_describe_instances};
use rollcall::policy::{Policy, PolicyEngine, PolicyLimits};
use rollcall_policy_sdk as sdk;
use std::path::{Path, PathBuf};
use std::time::Duration;

const SETTINGS: &str = r#"{"cluster_group_prefix": "cluster-"}"#;
const FLEETS: [usize; 3] = [1_000, 10_000, 100_000];
/// The issue's target: wasm `decide` at most this multiple of native at 10k.
const TARGET_RATIO_AT_10K: f64 = 2.0;

fn instances(count: usize) -> Vec<Instance> {
    let text = fleet::describe_instances(count, 42).to_string();
    parse_describe_instances(text.as_bytes()).expect("the synthetic fleet parses")
}

/// The fleet in the plugin's own types, as the guest's bindings hand it to
/// the policy; the native policy starts from there.
fn guest_inventory(instances: &[Instance]) -> sdk::Inventory {
    sdk::Inventory {
        instances: instances
            .iter()
            .map(|instance| sdk::Instance {
                id: instance.id.clone(),
                state: instance.state.clone(),
                private_ipv4: instance.private_ipv4.clone(),
                public_ipv4: instance.public_ipv4.clone(),
                private_dns_name: instance.private_dns_name.clone(),
                public_dns_name: instance.public_dns_name.clone(),
                ipv6_addresses: instance.ipv6_addresses.clone(),
                security_groups: instance
                    .security_groups
                    .iter()
                    .map(|group| sdk::SecurityGroup {
                        id: group.id.clone(),
                        name: group.name.clone(),
                    })
                    .collect(),
                tags: instance
                    .tags
                    .iter()
                    .map(|tag| sdk::Tag {
                        key: tag.key.clone(),
                        value: tag.value.clone(),
                    })
                    .collect(),
                availability_zone: instance.availability_zone.clone(),
                region: instance.region.clone(),
                vpc_id: instance.vpc_id.clone(),
                subnet_id: instance.subnet_id.clone(),
                instance_type: instance.instance_type.clone(),
                image_id: instance.image_id.clone(),
                launch_time: instance.launch_time.clone(),
            })
            .collect(),
        self_id: Some(fleet::SELF_ID.to_owned()),
    }
}

fn boundary(criterion: &mut Criterion) {
    let engine = PolicyEngine::new().expect("engine");
    let limits = PolicyLimits::default();
    let wasm = engine
        .load(&measure::plugin("elastic_grid"), SETTINGS, limits)
        .expect("plugin loads");
    let probe = engine
        .load(
            &measure::plugin("misbehaving"),
            r#"{"mode": "ignore"}"#,
            limits,
        )
        .expect("probe loads");
    let packed = packed::PackedProbe::load(&measure::plugin("packed_probe"));
    let settings = elastic_grid::settings::Settings::from_json(SETTINGS).expect("settings");

    let mut group = criterion.benchmark_group("decide");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("fixed", |bench| bench.iter(|| wasm.decide(&[], None)));
    for count in FLEETS {
        let fleet = instances(count);
        let inventory = guest_inventory(&fleet);
        let native = elastic_grid::policy::decide(&settings, &inventory).expect("native decides");
        let through_wasm = wasm
            .decide(&fleet, Some(fleet::SELF_ID))
            .expect("wasm decides");
        assert_eq!(
            native.register_with, through_wasm.register_with,
            "same answer"
        );
        assert_eq!(native.members.len(), through_wasm.members.len());
        let running_monitors = fleet
            .iter()
            .filter(|instance| {
                instance.state == "running"
                    && instance
                        .security_groups
                        .iter()
                        .any(|group| group.name == "eg-monitor")
            })
            .count();
        assert_eq!(
            packed.count_monitors(&fleet) as usize,
            running_monitors,
            "the packed probe read the fleet"
        );

        group.bench_with_input(
            BenchmarkId::new("native", count),
            &inventory,
            |bench, inventory| bench.iter(|| elastic_grid::policy::decide(&settings, inventory)),
        );
        group.bench_with_input(BenchmarkId::new("wasm", count), &fleet, |bench, fleet| {
            bench.iter(|| wasm.decide(fleet, Some(fleet::SELF_ID)))
        });
        group.bench_with_input(
            BenchmarkId::new("wasm_input_only", count),
            &fleet,
            |bench, fleet| bench.iter(|| probe.decide(fleet, Some(fleet::SELF_ID))),
        );
        group.bench_with_input(
            BenchmarkId::new("packed_input", count),
            &fleet,
            |bench, fleet| bench.iter(|| packed.count_monitors(fleet)),
        );
    }
    group.finish();
}

/// Where criterion keeps its results: the workspace's target directory.
fn criterion_directory() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/criterion")
}

/// Criterion's median estimate for one benchmark of the `decide` group, in
/// milliseconds.
fn median_ms(id: &str) -> Option<f64> {
    let path = criterion_directory().join(format!("decide/{id}/new/estimates.json"));
    let text = std::fs::read_to_string(path).ok()?;
    let estimates: serde_json::Value = serde_json::from_str(&text).ok()?;
    estimates["median"]["point_estimate"]
        .as_f64()
        .map(|nanoseconds| nanoseconds / 1e6)
}

/// The table of ratios and phases, from this run's criterion estimates.
fn report() {
    let Some(fixed) = median_ms("fixed") else {
        println!("no estimates found (run without a filter to print the table)");
        return;
    };
    println!(
        "\nwasm decide vs native, medians (fixed = sandbox + instantiate + configure = {fixed:.3} ms):"
    );
    println!(
        "{:>9} {:>10} {:>9} {:>11} {:>9} {:>15} {:>11} {:>16}",
        "instances",
        "native_ms",
        "wasm_ms",
        "wasm/native",
        "input_ms",
        "policy+answer",
        "input_share",
        "packed_input_ms"
    );
    for count in FLEETS {
        let (Some(native), Some(wasm), Some(input_only), Some(packed)) = (
            median_ms(&format!("native/{count}")),
            median_ms(&format!("wasm/{count}")),
            median_ms(&format!("wasm_input_only/{count}")),
            median_ms(&format!("packed_input/{count}")),
        ) else {
            continue;
        };
        let input = input_only - fixed;
        let ratio = wasm / native;
        println!(
            "{count:>9} {native:>10.3} {wasm:>9.3} {ratio:>10.1}x {input:>9.3} {:>15.3} {:>10.0}% {packed:>16.3}",
            wasm - input_only,
            100.0 * input / wasm
        );
        let target = if count == 10_000 {
            summary::Target::Goal("<= 2x native", ratio <= TARGET_RATIO_AT_10K)
        } else {
            summary::Target::None
        };
        summary::record(
            "policy_boundary",
            &format!("wasm decide / native, {count} instances"),
            &format!(
                "{ratio:.1}x ({wasm:.2} / {native:.2} ms; input {:.0}%)",
                100.0 * input / wasm
            ),
            target,
        );
        // Both sides with their fixed cost: a fresh instance and the fleet
        // carried in, today's records vs the packed layout (packing included).
        summary::record(
            "policy_boundary",
            &format!("fleet into the guest: records / packed what-if, {count} instances"),
            &format!(
                "{:.1}x ({input_only:.2} vs {packed:.2} ms)",
                input_only / packed
            ),
            summary::Target::None,
        );
    }
}

fn main() {
    let mut criterion = Criterion::default()
        .output_directory(&criterion_directory())
        .configure_from_args();
    boundary(&mut criterion);
    criterion.final_summary();
    report();
}
