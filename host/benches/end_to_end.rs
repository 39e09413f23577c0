//! End to end, one shot: `rollcall resolve --inventory` on synthetic fleets
//! of 1k, 10k and 100k instances (Elastic Grid, clustering on, self an
//! agent), side by side in the same run with `jq` and a standard-library
//! Python script computing the same registration targets from the same file
//! (checked equal). Prints medians, ratios, time per instance, and the peak
//! memory of `resolve` as a multiple of the input size. Run:
//! `cargo bench -p rollcall --bench end_to_end`.

#[path = "support/fleet.rs"]
mod fleet;
#[path = "support/measure.rs"]
#[allow(dead_code, reason = "shared by every benchmark, each using part of it")]
mod measure;
#[path = "support/summary.rs"]
mod summary;

use measure::{median, timed};

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

/// The issue's targets: `resolve` at least this many times faster than jq on
/// the 10k and 100k files; peak memory under this multiple of the input at
/// 100k; time per instance at 100k within this multiple of that at 10k
/// ("close to linear").
const TARGET_VS_JQ: f64 = 10.0;
const TARGET_PEAK_RSS_MULTIPLE: f64 = 3.0;
const TARGET_LINEAR_GROWTH: f64 = 1.25;

const JQ_PROGRAM: &str = r#"
def names: [.SecurityGroups[]? | (.GroupName, .GroupId)];
def role: if any(names[]; . == "eg-monitor") then "monitor"
          elif any(names[]; . == "eg-cybernode") then "agent" else null end;
def clusters: [.SecurityGroups[]?.GroupName // empty | select(startswith("cluster-"))
               | ltrimstr("cluster-") | select(length > 0)] | unique;
[.Reservations[].Instances[]] as $all
| ($all | map(select(.InstanceId == $self)) | first | clusters) as $mine
| [$all[] | select(.State.Name == "running" and .InstanceId != $self and role == "monitor"
                   and (.PrivateIpAddress // "") != "")
   | select(clusters as $c | ($mine == [] and $c == []) or any($c[]; . as $x | $mine | index($x) != null))
   | .InstanceId] | sort | .[]
"#;

const PYTHON_PROGRAM: &str = r#"
import json, sys
path, me = sys.argv[1], sys.argv[2]
with open(path) as f:
    doc = json.load(f)
instances = [i for r in doc["Reservations"] for i in r.get("Instances", [])]
def names(i):
    return {n for g in i.get("SecurityGroups", []) for n in (g.get("GroupName"), g.get("GroupId"))}
def role(i):
    n = names(i)
    return "monitor" if "eg-monitor" in n else "agent" if "eg-cybernode" in n else None
def clusters(i):
    return {g["GroupName"][len("cluster-"):] for g in i.get("SecurityGroups", [])
            if g.get("GroupName", "").startswith("cluster-") and len(g["GroupName"]) > len("cluster-")}
mine = clusters(next(i for i in instances if i["InstanceId"] == me))
targets = sorted(i["InstanceId"] for i in instances
                 if i["State"]["Name"] == "running" and i["InstanceId"] != me and role(i) == "monitor"
                 and i.get("PrivateIpAddress") and ((not mine and not clusters(i)) or mine & clusters(i)))
print("\n".join(targets))
"#;

fn lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn available(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
}

/// Peak resident memory of a run, from GNU time, in bytes.
fn peak_rss(command: &[&str]) -> Option<u64> {
    let output = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .args(command)
        .output()
        .ok()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    stderr
        .lines()
        .last()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(|kib| kib * 1024)
}

fn main() {
    let rollcall = env!("CARGO_BIN_EXE_rollcall");
    let plugin = Path::new(kit::plugins::ELASTIC_GRID);
    let dir = tempfile::tempdir().expect("temporary directory");
    let cache = dir.path().join("cache");
    measure::precompile(rollcall, plugin, &cache);
    let plugin = plugin.to_str().unwrap().to_owned();
    let cache = cache.to_str().unwrap().to_owned();
    let (has_jq, has_python) = (available("jq"), available("python3"));

    println!("resolve --inventory vs jq vs python3 (same file, same answer), median of runs:");
    println!(
        "{:>9} {:>9} {:>11} {:>10} {:>11} {:>9} {:>9} {:>10}",
        "instances", "file_MB", "rollcall_ms", "jq_ms", "python_ms", "jq/rc", "py/rc", "us/inst"
    );
    let mut per_instance_at_10k = None;
    for (count, runs) in [(1_000, 9), (10_000, 7), (100_000, 3)] {
        let path = dir.path().join(format!("fleet-{count}.json"));
        let text = fleet::describe_instances(count, 42).to_string();
        std::fs::write(&path, &text).expect("write fleet");
        let file = path.to_str().unwrap().to_owned();
        let resolve = [
            rollcall,
            "resolve",
            "--inventory",
            &file,
            "--plugin",
            &plugin,
            "--self",
            fleet::SELF_ID,
            "--plugin-config",
            r#"{"cluster_group_prefix": "cluster-"}"#,
            "--cache-dir",
            &cache,
            "--format",
            "json",
        ];

        let mut rollcall_runs = Vec::new();
        let mut last_output = None;
        for _ in 0..runs {
            let (took, output) = timed(Command::new(resolve[0]).args(&resolve[1..]));
            rollcall_runs.push(took);
            last_output = Some(output);
        }
        let output = last_output.expect("at least one run");
        let document: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
        let answer = measure::register_with(&document);
        let rollcall_ms = median(rollcall_runs);

        let measure = |enabled: bool, command: &mut dyn FnMut() -> Command| -> Option<Duration> {
            if !enabled {
                return None;
            }
            let mut runs_taken = Vec::new();
            for _ in 0..runs {
                let (took, output) = timed(&mut command());
                assert_eq!(
                    lines(&output),
                    answer,
                    "{:?} gives another answer",
                    command()
                );
                runs_taken.push(took);
            }
            Some(median(runs_taken))
        };
        let jq = measure(has_jq, &mut || {
            let mut command = Command::new("jq");
            command.args(["-r", "--arg", "self", fleet::SELF_ID, JQ_PROGRAM, &file]);
            command
        });
        let python = measure(has_python, &mut || {
            let mut command = Command::new("python3");
            command.args(["-c", PYTHON_PROGRAM, &file, fleet::SELF_ID]);
            command
        });
        let ms = |d: Option<Duration>| {
            d.map_or("n/a".to_owned(), |d| {
                format!("{:.1}", d.as_secs_f64() * 1e3)
            })
        };
        let ratio = |d: Option<Duration>| {
            d.map_or("n/a".to_owned(), |d| {
                format!("{:.1}x", d.as_secs_f64() / rollcall_ms.as_secs_f64())
            })
        };
        let per_instance_us = rollcall_ms.as_secs_f64() * 1e6 / count as f64;
        println!(
            "{count:>9} {:>9.1} {:>11} {:>10} {:>11} {:>9} {:>9} {per_instance_us:>10.2}",
            text.len() as f64 / 1e6,
            ms(Some(rollcall_ms)),
            ms(jq),
            ms(python),
            ratio(jq),
            ratio(python),
        );
        if count >= 10_000 {
            let target = match jq {
                Some(jq) => summary::Target::Goal(
                    ">= 10x jq",
                    jq.as_secs_f64() / rollcall_ms.as_secs_f64() >= TARGET_VS_JQ,
                ),
                None => summary::Target::None,
            };
            summary::record(
                "end_to_end",
                &format!("resolve --inventory vs jq, {count} instances"),
                &format!(
                    "{} ({} vs {} ms; python {})",
                    ratio(jq),
                    ms(Some(rollcall_ms)),
                    ms(jq),
                    ratio(python)
                ),
                target,
            );
        }
        if let Some(previous) = per_instance_at_10k
            && count == 100_000
        {
            let growth = per_instance_us / previous;
            summary::record(
                "end_to_end",
                "time per instance, 100k vs 10k",
                &format!("{growth:.2}x ({previous:.2} -> {per_instance_us:.2} us)"),
                summary::Target::Goal("<= 1.25x (linear)", growth <= TARGET_LINEAR_GROWTH),
            );
        }
        if count == 10_000 {
            per_instance_at_10k = Some(per_instance_us);
        }
        if count >= 10_000
            && let Some(peak) = peak_rss(&resolve)
        {
            let multiple = peak as f64 / text.len() as f64;
            println!(
                "{:>9} peak RSS of resolve: {:.1} MB = {multiple:.2}x the input file",
                "",
                peak as f64 / 1e6,
            );
            summary::record(
                "end_to_end",
                &format!("peak RSS / input size, {count} instances"),
                &format!("{multiple:.2}x ({:.0} MB)", peak as f64 / 1e6),
                if count == 100_000 {
                    summary::Target::Goal("< 3x", multiple < TARGET_PEAK_RSS_MULTIPLE)
                } else {
                    summary::Target::None
                },
            );
        }
        assert!(!answer.is_empty(), "self registers with someone");
    }
}
