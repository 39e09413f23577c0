//! The graph in Graphviz's DOT language (`resolve --format dot`): members
//! grouped by their clusters, a shape and colour per role, self drawn
//! thick, stale, leaving and unconfirmed members marked. Every id and label
//! is a quoted DOT string, escaped so that no value changes the graph's
//! structure.

use super::{Flag, Graph, Node};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Shapes given to roles in name order, round again past the last.
const SHAPES: &[&str] = &[
    "box", "ellipse", "diamond", "hexagon", "octagon", "triangle",
];

/// Fill colours given to roles in name order (the page's palette).
const COLOURS: &[&str] = &[
    "#8ecae6", "#ffb703", "#90be6d", "#f4a1c1", "#c9b6e4", "#f9844a",
];

/// The graph as a DOT `digraph`, ending in a newline.
pub fn render(graph: &Graph) -> String {
    let roles: Vec<&str> = {
        let mut roles: Vec<&str> = graph.nodes.iter().map(|node| node.role.as_str()).collect();
        roles.sort_unstable();
        roles.dedup();
        roles
    };
    let style = |role: &str| {
        let index = roles.iter().position(|known| *known == role).unwrap_or(0);
        (SHAPES[index % SHAPES.len()], COLOURS[index % COLOURS.len()])
    };
    // Members in the same clusters share a box; those in none stand apart.
    let mut groups: BTreeMap<Vec<&str>, Vec<&Node>> = BTreeMap::new();
    for node in &graph.nodes {
        let key = node.clusters.iter().map(String::as_str).collect();
        groups.entry(key).or_default().push(node);
    }
    let mut dot = String::from("digraph \"rollcall\" {\n");
    let mut label = String::from("rollcall registration graph");
    for note in &graph.notes {
        label.push('\n');
        label.push_str(note);
    }
    let _ = writeln!(
        dot,
        "  graph [rankdir=LR, fontname=\"sans-serif\", labelloc=t, label={}];",
        quoted(&label)
    );
    dot.push_str("  node [fontname=\"sans-serif\", style=filled];\n");
    for (index, (clusters, nodes)) in groups.iter().enumerate() {
        let indent = if clusters.is_empty() {
            "  "
        } else {
            let _ = writeln!(dot, "  subgraph \"cluster_{index}\" {{");
            let _ = writeln!(dot, "    label={};", quoted(&clusters.join(", ")));
            "    "
        };
        for node in nodes {
            let (shape, colour) = style(&node.role);
            let _ = writeln!(
                dot,
                "{indent}{} [label={}, shape={shape}, fillcolor=\"{colour}\"{}];",
                quoted(&node.id),
                quoted(&node_label(node)),
                marks(&node.flags)
            );
        }
        if !clusters.is_empty() {
            dot.push_str("  }\n");
        }
    }
    for edge in &graph.edges {
        let _ = writeln!(dot, "  {} -> {};", quoted(&edge.from), quoted(&edge.to));
    }
    dot.push_str("}\n");
    dot
}

/// A node's label: its id, role, address and flags, one a line.
fn node_label(node: &Node) -> String {
    let mut label = format!("{}\n{}", node.id, node.role);
    if let Some(address) = &node.address {
        label.push('\n');
        match node.port {
            Some(port) if address.contains(':') => {
                let _ = write!(label, "[{address}]:{port}");
            }
            Some(port) => {
                let _ = write!(label, "{address}:{port}");
            }
            None => label.push_str(address),
        }
    }
    let flags: Vec<&str> = node
        .flags
        .iter()
        .filter(|flag| **flag != Flag::Own)
        .map(|flag| flag.name())
        .collect();
    if !flags.is_empty() {
        let _ = write!(label, "\n({})", flags.join(", "));
    }
    label
}

/// The attributes that mark a node's flags: self thick, stale dashed,
/// unconfirmed dotted, leaving red.
fn marks(flags: &[Flag]) -> String {
    let mut marks = String::new();
    let mut style = vec!["filled"];
    for flag in flags {
        match flag {
            Flag::Own => marks.push_str(", penwidth=3"),
            Flag::Stale => style.push("dashed"),
            Flag::Unconfirmed => style.push("dotted"),
            Flag::Leaving => marks.push_str(", color=\"#d62828\", fontcolor=\"#d62828\""),
        }
    }
    if style.len() > 1 {
        let _ = write!(marks, ", style=\"{}\"", style.join(","));
    }
    marks
}

/// `text` as a quoted DOT string: `"` and `\` escaped, a line break as
/// `\n` (a line break in a label), other control characters as `\xNN`
/// with a single backslash, which no other text gives (a backslash of the
/// text is doubled). Distinct texts stay distinct: DOT compares quoted ids
/// as written, `\"` aside.
pub fn quoted(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            c if c.is_control() => {
                let _ = write!(quoted, "\\x{:02x}", u32::from(c));
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Edge;

    fn node(id: &str, role: &str, clusters: &[&str], flags: Vec<Flag>) -> Node {
        Node {
            id: id.to_owned(),
            role: role.to_owned(),
            clusters: clusters.iter().map(|c| (*c).to_owned()).collect(),
            address: Some("10.0.0.1".to_owned()),
            port: Some(7070),
            flags,
        }
    }

    /// The quoted strings of a DOT line, unescaped; and what is outside
    /// them, with each string replaced by `S`.
    fn tokens(line: &str) -> (String, Vec<String>) {
        let mut outside = String::new();
        let mut strings = Vec::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            if c != '"' {
                outside.push(c);
                continue;
            }
            let mut string = String::new();
            loop {
                match chars.next() {
                    Some('\\') => string.push(chars.next().expect("an escaped character")),
                    Some('"') => break,
                    Some(c) => string.push(c),
                    None => panic!("an unterminated string in {line:?}"),
                }
            }
            outside.push('S');
            strings.push(string);
        }
        (outside, strings)
    }

    #[test]
    fn hostile_values_stay_inside_their_quoted_strings() {
        let hostile = [
            "i-\"] ; x -> y [label=\"",
            "a\\",
            "line\nbreak\r\u{1b}[31m",
            "} digraph { ",
            "{{ % ; # }}",
            "ünï ✓",
        ];
        let graph = Graph {
            own: Some(hostile[0].to_owned()),
            nodes: hostile
                .iter()
                .map(|id| node(id, id, &[id], vec![Flag::Stale, Flag::Leaving]))
                .collect(),
            edges: vec![Edge {
                from: hostile[0].to_owned(),
                to: hostile[1].to_owned(),
            }],
            notes: vec![hostile[2].to_owned()],
        };
        let dot = render(&graph);
        // One line per statement: no raw line break escaped the strings.
        let lines: Vec<&str> = dot.lines().collect();
        assert_eq!(lines.len(), 3 + hostile.len() * 4 + 1 + 1, "{dot}");
        for line in &lines {
            let (outside, strings) = tokens(line);
            assert!(
                !strings.is_empty() || ["}", "  }"].contains(line),
                "a line with no string: {line:?}"
            );
            // Outside the strings only DOT's own words and punctuation.
            assert!(
                outside
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || " =[],;{}#>-_".contains(c)),
                "{outside:?} in {line:?}"
            );
            assert!(!outside.contains("S S"), "{line:?}");
        }
        let node_line = lines.iter().find(|line| line.contains("shape=")).unwrap();
        let (outside, strings) = tokens(node_line);
        assert_eq!(
            outside,
            "    S [label=S, shape=box, fillcolor=S, color=S, fontcolor=S, style=S];"
        );
        assert_eq!(strings[0], hostile[1], "groups in cluster name order");
        let edge = lines[lines.len() - 2];
        assert_eq!(
            tokens(edge),
            (
                "  S -> S;".to_owned(),
                hostile[..2].iter().map(|s| s.to_string()).collect()
            )
        );
    }

    #[test]
    fn quoting_escapes_quotes_backslashes_and_line_breaks_and_keeps_texts_apart() {
        assert_eq!(quoted("plain"), "\"plain\"");
        assert_eq!(quoted("a\"b"), "\"a\\\"b\"");
        assert_eq!(quoted("a\\"), "\"a\\\\\"");
        assert_eq!(quoted("a\nb"), "\"a\\nb\"");
        assert_eq!(quoted("a\u{1b}"), "\"a\\x1b\"");
        assert_eq!(quoted("a\\x1b"), "\"a\\\\x1b\"");
        assert_eq!(quoted("ünï"), "\"ünï\"");
        // A literal backslash-n and a line break differ.
        assert_ne!(quoted("a\\nb"), quoted("a\nb"));
        assert_ne!(quoted("a\\x1b"), quoted("a\u{1b}"));
    }

    #[test]
    fn members_are_grouped_by_clusters_and_marked() {
        let graph = Graph {
            own: Some("i-1".to_owned()),
            nodes: vec![
                node("i-1", "agent", &["blue"], vec![Flag::Own]),
                node("i-2", "monitor", &["blue"], vec![Flag::Unconfirmed]),
                node("i-3", "monitor", &[], vec![]),
            ],
            edges: vec![Edge {
                from: "i-1".to_owned(),
                to: "i-2".to_owned(),
            }],
            notes: Vec::new(),
        };
        assert_eq!(
            render(&graph),
            "digraph \"rollcall\" {\n\
             \x20 graph [rankdir=LR, fontname=\"sans-serif\", labelloc=t, label=\"rollcall registration graph\"];\n\
             \x20 node [fontname=\"sans-serif\", style=filled];\n\
             \x20 \"i-3\" [label=\"i-3\\nmonitor\\n10.0.0.1:7070\", shape=ellipse, fillcolor=\"#ffb703\"];\n\
             \x20 subgraph \"cluster_1\" {\n\
             \x20   label=\"blue\";\n\
             \x20   \"i-1\" [label=\"i-1\\nagent\\n10.0.0.1:7070\", shape=box, fillcolor=\"#8ecae6\", penwidth=3];\n\
             \x20   \"i-2\" [label=\"i-2\\nmonitor\\n10.0.0.1:7070\\n(unconfirmed)\", shape=ellipse, fillcolor=\"#ffb703\", style=\"filled,dotted\"];\n\
             \x20 }\n\
             \x20 \"i-1\" -> \"i-2\";\n\
             }\n"
        );
    }
}
