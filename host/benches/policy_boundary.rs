//! The cost of the WebAssembly boundary: the Elastic Grid policy's `decide`
//! on 1k, 10k and 100k instances through the `.wasm` plugin, against the same
//! policy logic compiled natively into this benchmark (on the fleet already
//! in the SDK's columns, as the guest receives it), with the wasm figure
//! split into its phases:
//!
//! - `fixed`: a fresh sandbox, instantiation and `configure` (an empty fleet);
//! - `encode`: the question to the policy made from the host's fleet
//!   (`rollcall::policy::question`), alone: since the host keeps the fleet
//!   in the interface's columns, a copy of their buffers;
//! - `input`: carrying the fleet into the guest, encoding included, measured
//!   with a probe policy that takes the fleet and returns nothing
//!   (`misbehaving`, mode `ignore`), minus `fixed`;
//! - `policy+answer`: the policy in the guest and lifting its answer back,
//!   the rest of the wasm figure.
//!
//! And `explaining`: the same wasm `decide` asked to explain self, which
//! costs only when asked (the notes of self and of each monitor).
//!
//! Run: `cargo bench -p rollcall --bench policy_boundary`.

#[path = "support/fleet.rs"]
mod fleet;
#[path = "support/measure.rs"]
#[allow(dead_code, reason = "shared by every benchmark, each using part of it")]
mod measure;
#[path = "support/summary.rs"]
#[allow(dead_code, reason = "shared by every benchmark, each using part of it")]
mod summary;

use criterion::{BenchmarkId, Criterion};
use rollcall::inventory::{Fleet, Instance, LeaveReason, LifecycleState, parse_describe_instances};
use rollcall::policy::{Policy, PolicyEngine, interface_state, question};
use rollcall::settings::PolicyLimits;
use rollcall_policy_sdk as sdk;
use std::path::{Path, PathBuf};
use std::time::Duration;

const SETTINGS: &str = r#"{"cluster_group_prefix": "cluster-"}"#;
const FLEETS: [usize; 3] = [1_000, 10_000, 100_000];
/// The issue's target: wasm `decide` at most this multiple of native at 10k.
const TARGET_RATIO_AT_10K: f64 = 2.0;
/// And at most this at 1k and 100k.
const TARGET_RATIO_ELSEWHERE: f64 = 3.0;

fn instances(count: usize) -> Vec<Instance> {
    let text = fleet::describe_instances(count, 42).to_string();
    parse_describe_instances(text.as_bytes()).expect("the synthetic fleet parses")
}

/// The fleet in the SDK's columns, as the guest's bindings hand it to the
/// policy; the native policy starts from there.
fn guest_fleet(instances: &[Instance]) -> sdk::Fleet {
    let owned = |text: &Option<String>| text.clone();
    let records: Vec<sdk::InstanceRecord> = instances
        .iter()
        .map(|instance| sdk::InstanceRecord {
            id: instance.id.clone(),
            state: sdk_state(&instance.state),
            private_ipv4: owned(&instance.private_ipv4),
            public_ipv4: owned(&instance.public_ipv4),
            private_dns_name: owned(&instance.private_dns_name),
            public_dns_name: owned(&instance.public_dns_name),
            ipv6_addresses: instance.ipv6_addresses.clone(),
            security_groups: instance
                .security_groups
                .iter()
                .map(|group| (group.id.clone(), group.name.clone(), group.owner.clone()))
                .collect(),
            tags: instance
                .tags
                .iter()
                .map(|tag| (tag.key.clone(), tag.value.clone()))
                .collect(),
            availability_zone: owned(&instance.availability_zone),
            region: owned(&instance.region),
            vpc_id: owned(&instance.vpc_id),
            subnet_id: owned(&instance.subnet_id),
            instance_type: owned(&instance.instance_type),
            image_id: owned(&instance.image_id),
            launch_time: owned(&instance.launch_time),
            account: owned(&instance.account),
            lifecycle: sdk_lifecycle(instance.lifecycle.state),
            lifecycle_group: owned(&instance.lifecycle.group),
            leaving_reason: instance
                .leaving
                .as_ref()
                .map(|leaving| sdk_reason(leaving.reason)),
            leaving_deadline: instance
                .leaving
                .as_ref()
                .and_then(|leaving| leaving.deadline.clone()),
        })
        .collect();
    sdk::Fleet::from_records(&records, Some(fleet::SELF_ID), None).expect("self is in the fleet")
}

fn sdk_state(name: &str) -> sdk::InstanceState {
    use rollcall::policy::InterfaceState as Host;
    match interface_state(name) {
        Host::Pending => sdk::InstanceState::Pending,
        Host::Running => sdk::InstanceState::Running,
        Host::ShuttingDown => sdk::InstanceState::ShuttingDown,
        Host::Terminated => sdk::InstanceState::Terminated,
        Host::Stopping => sdk::InstanceState::Stopping,
        Host::Stopped => sdk::InstanceState::Stopped,
        Host::Other => sdk::InstanceState::Other,
    }
}

fn sdk_lifecycle(state: LifecycleState) -> sdk::LifecycleState {
    match state {
        LifecycleState::NotInGroup => sdk::LifecycleState::NotInGroup,
        LifecycleState::Pending => sdk::LifecycleState::Pending,
        LifecycleState::PendingWait => sdk::LifecycleState::PendingWait,
        LifecycleState::InService => sdk::LifecycleState::InService,
        LifecycleState::Standby => sdk::LifecycleState::Standby,
        LifecycleState::Terminating => sdk::LifecycleState::Terminating,
        LifecycleState::TerminatingWait => sdk::LifecycleState::TerminatingWait,
        LifecycleState::Detaching => sdk::LifecycleState::Detaching,
        LifecycleState::Warmed => sdk::LifecycleState::Warmed,
        LifecycleState::Other => sdk::LifecycleState::Other,
    }
}

fn sdk_reason(reason: LeaveReason) -> sdk::LeaveReason {
    match reason {
        LeaveReason::SpotInterruption => sdk::LeaveReason::SpotInterruption,
        LeaveReason::RebalanceRecommendation => sdk::LeaveReason::RebalanceRecommendation,
        LeaveReason::ScheduledMaintenance => sdk::LeaveReason::ScheduledMaintenance,
        LeaveReason::AutoScalingTermination => sdk::LeaveReason::AutoScalingTermination,
        LeaveReason::Announced => sdk::LeaveReason::Announced,
        LeaveReason::Other => sdk::LeaveReason::Other,
    }
}

/// The native policy's answer on `fleet`.
fn native_decide(settings: &elastic_grid::settings::Settings, fleet: &sdk::Fleet) -> sdk::Answer {
    let mut answer = sdk::Answer::new(fleet);
    elastic_grid::policy::decide(settings, fleet, &mut answer);
    answer
}

fn boundary(criterion: &mut Criterion) {
    let engine = PolicyEngine::new().expect("engine");
    let limits = PolicyLimits::default();
    let wasm = engine
        .load(Path::new(kit::plugins::ELASTIC_GRID), SETTINGS, limits)
        .expect("plugin loads");
    let probe = engine
        .load(
            Path::new(kit::plugins::MISBEHAVING),
            r#"{"mode": "ignore"}"#,
            limits,
        )
        .expect("probe loads");
    let settings = elastic_grid::settings::Settings::from_json(SETTINGS).expect("settings");
    let own = Some(fleet::SELF_ID);

    let mut group = criterion.benchmark_group("decide");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("fixed", |bench| {
        bench.iter(|| wasm.decide(&Fleet::default(), None, None))
    });
    for count in FLEETS {
        let fleet = instances(count);
        let guest = guest_fleet(&fleet);
        let columns = Fleet::from_instances(&fleet).expect("the fleet fits in columns");
        let native = native_decide(&settings, &guest).resolved(&guest);
        let through_wasm = wasm.decide(&columns, own, None).expect("wasm decides");
        let mut native_targets = native.register_with.clone();
        native_targets.sort();
        let mut wasm_targets = through_wasm.register_with.clone();
        wasm_targets.sort();
        assert_eq!(native_targets, wasm_targets, "same answer");
        assert_eq!(native.members.len(), through_wasm.members.len());
        let explained = wasm.decide(&columns, own, own).expect("wasm explains");
        assert!(!explained.notes.is_empty(), "explaining writes notes");

        group.bench_with_input(BenchmarkId::new("native", count), &guest, |bench, guest| {
            bench.iter(|| native_decide(&settings, guest))
        });
        group.bench_with_input(
            BenchmarkId::new("encode", count),
            &columns,
            |bench, fleet| bench.iter(|| question(fleet, own, None)),
        );
        group.bench_with_input(BenchmarkId::new("wasm", count), &columns, |bench, fleet| {
            bench.iter(|| wasm.decide(fleet, own, None))
        });
        group.bench_with_input(
            BenchmarkId::new("wasm_input_only", count),
            &columns,
            |bench, fleet| bench.iter(|| probe.decide(fleet, own, None)),
        );
        group.bench_with_input(
            BenchmarkId::new("explaining", count),
            &columns,
            |bench, fleet| bench.iter(|| wasm.decide(fleet, own, own)),
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
        "{:>9} {:>10} {:>9} {:>11} {:>10} {:>9} {:>15} {:>11} {:>13}",
        "instances",
        "native_ms",
        "wasm_ms",
        "wasm/native",
        "encode_ms",
        "input_ms",
        "policy+answer",
        "input_share",
        "explaining_ms"
    );
    for count in FLEETS {
        let (Some(native), Some(encode), Some(wasm), Some(input_only), Some(explaining)) = (
            median_ms(&format!("native/{count}")),
            median_ms(&format!("encode/{count}")),
            median_ms(&format!("wasm/{count}")),
            median_ms(&format!("wasm_input_only/{count}")),
            median_ms(&format!("explaining/{count}")),
        ) else {
            continue;
        };
        let input = input_only - fixed;
        let ratio = wasm / native;
        println!(
            "{count:>9} {native:>10.3} {wasm:>9.3} {ratio:>10.1}x {encode:>10.3} {input:>9.3} {:>15.3} {:>10.0}% {explaining:>13.3}",
            wasm - input_only,
            100.0 * input / wasm
        );
        let limit = if count == 10_000 {
            TARGET_RATIO_AT_10K
        } else {
            TARGET_RATIO_ELSEWHERE
        };
        let goal = format!("<= {limit}x native");
        summary::record(
            "policy_boundary",
            &format!("wasm decide / native, {count} instances"),
            &format!(
                "{ratio:.1}x ({wasm:.2} / {native:.2} ms; input {:.0}%, encode {encode:.2} ms)",
                100.0 * input / wasm
            ),
            summary::Target::Goal(&goal, ratio <= limit),
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
