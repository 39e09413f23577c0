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
//! Run: `cargo bench -p rollcall --bench policy_boundary` after
//! `scripts/plugins`.

#[path = "support/fleet.rs"]
mod fleet;
#[path = "support/measure.rs"]
#[allow(dead_code, reason = "shared with the process-level benchmarks")]
mod measure;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rollcall::inventory::{Instance, parse_describe_instances};
use rollcall::policy::{Policy, PolicyEngine, PolicyLimits};
use rollcall_policy_sdk as sdk;
use std::time::Duration;

const SETTINGS: &str = r#"{"cluster_group_prefix": "cluster-"}"#;

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
    let settings = elastic_grid::settings::Settings::from_json(SETTINGS).expect("settings");

    let mut group = criterion.benchmark_group("decide");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("fixed", |bench| bench.iter(|| wasm.decide(&[], None)));
    for count in [1_000, 10_000, 100_000] {
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
    }
    group.finish();
}

criterion_group!(benches, boundary);
criterion_main!(benches);
