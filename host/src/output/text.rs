//! `--format text`: a short table for people.

use super::endpoint;
use crate::membership::Membership;
use std::fmt::Write;

pub fn render(membership: &Membership) -> String {
    let mut out = String::new();
    let dash = |value: String| {
        if value.is_empty() {
            "-".to_owned()
        } else {
            value
        }
    };

    match &membership.own {
        Some(own) => {
            let role = own.role.as_deref().unwrap_or("no role");
            let _ = writeln!(out, "self: {} ({role})", own.instance_id);
            if let Some(leaving) = &own.leaving {
                let by = leaving
                    .deadline
                    .as_deref()
                    .map(|deadline| format!(" by {deadline}"))
                    .unwrap_or_default();
                let _ = writeln!(out, "leaving: {}{by}", leaving.reason);
            }
            let _ = writeln!(out, "clusters: {}", dash(own.clusters.join(", ")));
            if membership.register_with.is_empty() {
                let _ = writeln!(out, "registers with: nobody");
            } else {
                let _ = writeln!(out, "registers with:");
                let rows = membership.register_with.iter().map(|target| {
                    vec![
                        target.instance_id.clone(),
                        target.role.clone(),
                        endpoint(&target.address, target.port),
                    ]
                });
                table(&mut out, rows);
            }
        }
        None => {
            let _ = writeln!(out, "self: none (not given)");
        }
    }

    let _ = writeln!(
        out,
        "\nmembers: {} of {} instances in {}",
        membership.members.len(),
        membership.inventory.instances,
        membership.inventory.source
    );
    let header = ["INSTANCE", "ROLE", "CLUSTERS", "ADDRESS"].map(str::to_owned);
    let rows = membership.members.iter().map(|member| {
        vec![
            member.instance_id.clone(),
            member.role.clone(),
            dash(member.clusters.join(",")),
            member
                .address
                .as_deref()
                .map(|address| endpoint(address, member.port))
                .unwrap_or_else(|| "-".to_owned()),
        ]
    });
    table(&mut out, std::iter::once(header.to_vec()).chain(rows));
    let _ = writeln!(
        out,
        "\npolicy: {} (sha256 {})",
        membership.policy.path.display(),
        membership
            .policy
            .sha256
            .get(..12)
            .unwrap_or(&membership.policy.sha256)
    );
    out
}

/// Writes rows as left-aligned columns, indented by two spaces.
fn table(out: &mut String, rows: impl Iterator<Item = Vec<String>>) {
    let rows: Vec<Vec<String>> = rows.collect();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|column| {
            rows.iter()
                .filter_map(|row| row.get(column))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in &rows {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            let _ = write!(line, "  {cell:<width$}");
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}
