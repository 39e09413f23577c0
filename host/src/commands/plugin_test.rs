//! `rollcall plugin test`: a policy run on the recorded fleets of cases
//! files, its answers checked against the cases' expectations (or, with
//! `--update`, written into them).

use super::{EXIT_CASE_FAILED, EXIT_INTERNAL, EXIT_USAGE, Failure, engine, print};
use crate::atomic_file::write_atomically;
use crate::capped_file::{CASES, read_capped_text};
use crate::cases::{self, Case, CasesError};
use crate::commands::flags::TestArgs;
use crate::inventory::{FileSource, Inventory, InventorySource};
use crate::policy::{Decision, WasmPolicy, evaluate};
use crate::resolve::self_in_fleet;
use crate::settings::PolicyLimits;
use crate::terminal_text::one_line;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

/// One cases file, read.
struct CasesFile {
    path: PathBuf,
    text: String,
    cases: Vec<Case>,
}

pub async fn run(args: TestArgs) -> Result<(), Failure> {
    let files = read_cases(&args.cases, args.update)?;
    let fleets = read_fleets(&files).await?;
    let policy = engine()?
        .with_cache(args.cache.cache())
        .compile(&args.plugin, PolicyLimits::default())?;
    let update = args.update;
    let answers = tokio::task::spawn_blocking(move || {
        let answers: Vec<Vec<Result<Decision, String>>> = files
            .iter()
            .map(|file| {
                file.cases
                    .iter()
                    .map(|case| answer(&policy, &fleets[&case.inventory], case))
                    .collect()
            })
            .collect();
        (files, answers)
    })
    .await
    .map_err(|err| Failure::new(EXIT_INTERNAL, format!("the cases stopped: {err}")))?;
    let (files, answers) = answers;
    if update {
        return rewrite(&files, &answers);
    }
    report(&files, &answers)
}

/// Reads and parses every cases file; the first malformed one is the error.
fn read_cases(paths: &[PathBuf], update: bool) -> Result<Vec<CasesFile>, Failure> {
    paths
        .iter()
        .map(|path| {
            let text = read_capped_text(path, CASES).map_err(|err| {
                Failure::new(EXIT_USAGE, format!("cannot read {}: {err}", path.display()))
            })?;
            let cases = cases::parse(path, &text, !update).map_err(usage)?;
            Ok(CasesFile {
                path: path.clone(),
                text,
                cases,
            })
        })
        .collect()
}

/// Every inventory the cases name, each read once; a missing one, or a self
/// that is not in its fleet, is named with the case's file and line.
async fn read_fleets(files: &[CasesFile]) -> Result<HashMap<PathBuf, Arc<Inventory>>, Failure> {
    let mut fleets: HashMap<PathBuf, Arc<Inventory>> = HashMap::new();
    for file in files {
        for case in &file.cases {
            let at = |message: String| {
                usage(CasesError {
                    path: file.path.clone(),
                    line: Some(case.line),
                    message: format!("case {:?}: {message}", case.name),
                })
            };
            if !fleets.contains_key(&case.inventory) {
                let inventory = FileSource::new(&case.inventory)
                    .fetch()
                    .await
                    .map_err(|err| at(err.to_string()))?;
                fleets.insert(case.inventory.clone(), Arc::new(inventory));
            }
            self_in_fleet(&fleets[&case.inventory], case.self_id.as_deref())
                .map_err(|err| at(err.to_string()))?;
        }
    }
    Ok(fleets)
}

fn usage(err: CasesError) -> Failure {
    Failure::new(EXIT_USAGE, err.to_string())
}

/// The policy's answer for one case, or its error (settings refused
/// included) as the operator would read it.
fn answer(policy: &WasmPolicy, fleet: &Inventory, case: &Case) -> Result<Decision, String> {
    let configured = policy
        .reconfigured(&case.settings)
        .map_err(|err| err.to_string())?;
    evaluate(&configured, &fleet.instances, case.self_id.as_deref()).map_err(|err| err.to_string())
}

/// Prints a line per difference of every failing case, then the count.
fn report(files: &[CasesFile], answers: &[Vec<Result<Decision, String>>]) -> Result<(), Failure> {
    let (mut passed, mut failed) = (0, 0);
    let mut text = String::new();
    for (file, answers) in files.iter().zip(answers) {
        for (case, answer) in file.cases.iter().zip(answers) {
            let differences = cases::differences(&case.expected, case.self_id.as_deref(), answer);
            if differences.is_empty() {
                passed += 1;
                continue;
            }
            failed += 1;
            for difference in differences {
                let _ = writeln!(
                    text,
                    "FAIL {}:{} {}: {}",
                    file.path.display(),
                    case.line,
                    one_line(&case.name),
                    one_line(&difference)
                );
            }
        }
    }
    let _ = writeln!(text, "{passed} passed, {failed} failed");
    print(&text)?;
    if failed == 0 {
        Ok(())
    } else {
        Err(Failure::new(
            EXIT_CASE_FAILED,
            format!("{failed} of {} cases failed", passed + failed),
        ))
    }
}

/// Writes every file back with the answers as its expectations.
fn rewrite(files: &[CasesFile], answers: &[Vec<Result<Decision, String>>]) -> Result<(), Failure> {
    let mut text = String::new();
    for (file, answers) in files.iter().zip(answers) {
        let updated = cases::update(&file.path, &file.text, &file.cases, answers).map_err(usage)?;
        write_atomically(&file.path, updated.as_bytes()).map_err(|err| {
            Failure::new(
                EXIT_USAGE,
                format!("cannot write {}: {err}", file.path.display()),
            )
        })?;
        let _ = writeln!(
            text,
            "{}: {} cases updated",
            file.path.display(),
            file.cases.len()
        );
    }
    print(&text)
}
