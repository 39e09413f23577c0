//! The suite's one table: each benchmark appends its headline figures, one
//! tab-separated row each, to the file `ROLLCALL_BENCH_SUMMARY` names;
//! `scripts/bench` sets it and prints the rows as a table at the end. Without
//! the variable, rows are only printed.

use std::io::Write;

/// Whether a figure meets the target for it.
pub enum Target<'a> {
    /// A figure with no target (context, such as a split of another figure).
    None,
    /// The target in words (`">= 10x"`) and whether the figure meets it.
    Goal(&'a str, bool),
}

/// Records one headline figure: which benchmark, what was measured, the
/// figure with its unit, and the target it answers to.
pub fn record(benchmark: &str, measure: &str, figure: &str, target: Target<'_>) {
    let (goal, verdict) = match target {
        Target::None => ("", ""),
        Target::Goal(goal, true) => (goal, "met"),
        Target::Goal(goal, false) => (goal, "MISSED"),
    };
    let row = format!("{benchmark}\t{measure}\t{figure}\t{goal}\t{verdict}");
    println!("summary: {}", row.replace('\t', " | "));
    let Some(path) = std::env::var_os("ROLLCALL_BENCH_SUMMARY") else {
        return;
    };
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| writeln!(file, "{row}"));
    if let Err(err) = appended {
        eprintln!("cannot append to {}: {err}", path.to_string_lossy());
    }
}
