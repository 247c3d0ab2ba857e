//! The dependency graph as text (apply levels), Graphviz DOT or Mermaid.
//!
//! Keys are escaped for each output (`render::escape`): shown without control characters in
//! text, as quoted DOT strings, and as Mermaid labels with entity codes.

use std::collections::HashMap;
use std::fmt::Write;

use super::escape::{dot as dot_text, mermaid as mermaid_text, terminal};
use crate::graph::DependencyGraph;

/// `level N` blocks listing each flag and what it depends on.
pub fn text(graph: &DependencyGraph, levels: &[Vec<String>]) -> String {
    let mut out =
        String::from("apply order (dependencies first; flags in one level are independent):\n");
    for (i, level) in levels.iter().enumerate() {
        let _ = writeln!(out, "level {i}");
        for key in level {
            let deps: Vec<_> = graph.dependencies(key).map(terminal::text).collect();
            let key = terminal::text(key);
            if deps.is_empty() {
                let _ = writeln!(out, "  {key}");
            } else {
                let _ = writeln!(out, "  {key} → {}", deps.join(", "));
            }
        }
    }
    out
}

/// Graphviz DOT; an edge points from a flag to the flag it depends on.
pub fn dot(graph: &DependencyGraph) -> String {
    let mut out = String::from("digraph flagops {\n  rankdir=LR;\n  node [shape=box];\n");
    for key in graph.keys() {
        let _ = writeln!(out, "  {};", dot_text::quoted(key));
    }
    for key in graph.keys() {
        for dep in graph.dependencies(key) {
            let _ = writeln!(
                out,
                "  {} -> {};",
                dot_text::quoted(key),
                dot_text::quoted(dep)
            );
        }
    }
    out.push_str("}\n");
    out
}

/// A Mermaid flowchart; node ids are positional because keys may contain `-`.
pub fn mermaid(graph: &DependencyGraph) -> String {
    let ids: HashMap<&str, usize> = graph.keys().enumerate().map(|(i, k)| (k, i)).collect();
    let id = |key: &str| {
        ids.get(key)
            .map_or_else(|| "missing".to_owned(), |i| format!("f{i}"))
    };
    let mut out = String::from("flowchart LR\n");
    for key in graph.keys() {
        let _ = writeln!(out, "  {}[{}]", id(key), mermaid_text::quoted(key));
    }
    for key in graph.keys() {
        for dep in graph.dependencies(key) {
            let _ = writeln!(out, "  {} --> {}", id(key), id(dep));
        }
    }
    out
}
