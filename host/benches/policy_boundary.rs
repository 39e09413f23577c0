//! The cost of the WebAssembly boundary: the Elastic Grid policy's `decide`
//! on 1k, 10k and 100k instances through the `.wasm` plugin (host conversion,
//! copy into the guest, policy, copy back, validation-free), against the same
//! policy logic compiled natively into this benchmark, plus the host-side
//! conversion of the fleet into the guest's types on its own. Run:
//! `cargo bench -p rollcall --bench policy_boundary` after `scripts/plugins`.

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

/// The fleet in the plugin's own types, as the guest receives it.
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
                    .map(|(key, value)| sdk::Tag {
                        key: key.clone(),
                        value: value.clone(),
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
    let wasm = engine
        .load(
            &measure::plugin("elastic_grid"),
            SETTINGS,
            PolicyLimits::default(),
        )
        .expect("plugin loads");
    let settings = elastic_grid::settings::Settings::from_json(SETTINGS).expect("settings");

    let mut group = criterion.benchmark_group("decide");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
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

        group.bench_with_input(
            BenchmarkId::new("native", count),
            &inventory,
            |bench, inventory| bench.iter(|| elastic_grid::policy::decide(&settings, inventory)),
        );
        group.bench_with_input(BenchmarkId::new("wasm", count), &fleet, |bench, fleet| {
            bench.iter(|| wasm.decide(fleet, Some(fleet::SELF_ID)))
        });
        group.bench_with_input(
            BenchmarkId::new("convert_only", count),
            &fleet,
            |bench, fleet| bench.iter(|| guest_inventory(fleet)),
        );
    }
    group.finish();
}

criterion_group!(benches, boundary);
criterion_main!(benches);
