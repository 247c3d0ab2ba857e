//! The dependency graph between flags: edges, cycles with their full path, and apply levels.
//!
//! Pure. An edge `a → b` means "`a` depends on `b`" (a `type: flag` property or `depends_on`).
//! Creates and enables run dependencies first (level 0 has no dependencies); deletes and
//! disables run in the reverse order.

use std::collections::{BTreeMap, BTreeSet};

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

/// Flags and what each depends on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DependencyGraph {
    edges: BTreeMap<String, BTreeSet<String>>,
}

impl DependencyGraph {
    /// Build from (key, dependencies) pairs.
    pub fn new<I, K, D>(flags: I) -> Self
    where
        I: IntoIterator<Item = (K, D)>,
        K: Into<String>,
        D: IntoIterator<Item = String>,
    {
        let mut edges = BTreeMap::new();
        for (key, deps) in flags {
            edges.insert(key.into(), deps.into_iter().collect());
        }
        DependencyGraph { edges }
    }

    /// Every key that is a node (has an entry), sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.edges.keys().map(String::as_str)
    }

    /// What `key` depends on.
    pub fn dependencies(&self, key: &str) -> impl Iterator<Item = &str> {
        self.edges
            .get(key)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// Flags that depend on `key` directly, sorted.
    pub fn dependents(&self, key: &str) -> Vec<&str> {
        self.edges
            .iter()
            .filter(|(_, deps)| deps.contains(key))
            .map(|(k, _)| k.as_str())
            .collect()
    }

    /// Every edge whose target is not a node.
    pub fn missing(&self) -> Vec<(&str, &str)> {
        self.edges
            .iter()
            .flat_map(|(k, deps)| deps.iter().map(move |d| (k.as_str(), d.as_str())))
            .filter(|(_, d)| !self.edges.contains_key(*d))
            .collect()
    }

    fn petgraph(&self) -> (DiGraph<&str, ()>, BTreeMap<&str, NodeIndex>) {
        let mut graph = DiGraph::new();
        let mut index = BTreeMap::new();
        for key in self.edges.keys() {
            index.insert(key.as_str(), graph.add_node(key.as_str()));
        }
        for (key, deps) in &self.edges {
            for dep in deps {
                if let Some(&to) = index.get(dep.as_str()) {
                    graph.add_edge(index[key.as_str()], to, ());
                }
            }
        }
        (graph, index)
    }

    /// Every cycle, each as a closed path starting and ending at its smallest key
    /// (`[a, b, c, a]`). One cycle per strongly connected component, sorted.
    pub fn cycles(&self) -> Vec<Vec<String>> {
        let (graph, _) = self.petgraph();
        let mut cycles = Vec::new();
        for scc in tarjan_scc(&graph) {
            let members: BTreeSet<&str> = scc.iter().map(|&n| graph[n]).collect();
            let Some(&start) = members.first() else {
                continue;
            };
            let self_loop = self.edges.get(start).is_some_and(|d| d.contains(start));
            if members.len() == 1 && !self_loop {
                continue;
            }
            if let Some(path) = self.path_back(start, &members) {
                cycles.push(path);
            }
        }
        cycles.sort();
        cycles
    }

    /// A path `start → … → start` inside `members`, found by depth-first search that always
    /// tries the smallest key first (so the reported path is stable).
    fn path_back(&self, start: &str, members: &BTreeSet<&str>) -> Option<Vec<String>> {
        let candidates = |node: &str| -> Vec<&str> {
            let mut next: Vec<&str> = self
                .dependencies(node)
                .filter(|d| members.contains(d))
                .collect();
            next.reverse();
            next
        };
        let mut path = vec![start];
        let mut pending = vec![candidates(start)];
        let mut visited = BTreeSet::from([start]);
        while let Some(next) = pending.last_mut().map(Vec::pop) {
            match next {
                Some(next) if next == start => {
                    path.push(start);
                    return Some(path.into_iter().map(str::to_owned).collect());
                }
                Some(next) => {
                    if visited.insert(next) {
                        path.push(next);
                        pending.push(candidates(next));
                    }
                }
                None => {
                    pending.pop();
                    path.pop();
                }
            }
        }
        None
    }

    /// Keys grouped by level: level 0 depends on nothing in the graph, level n on something in
    /// level n-1. Keys are sorted within a level. `None` when there is a cycle.
    pub fn levels(&self) -> Option<Vec<Vec<String>>> {
        let (graph, _) = self.petgraph();
        let order = petgraph::algo::toposort(&graph, None).ok()?;
        let mut level: BTreeMap<&str, usize> = BTreeMap::new();
        // toposort puts dependents before dependencies (edges point at dependencies).
        for node in order.into_iter().rev() {
            let key = graph[node];
            let l = graph
                .neighbors(node)
                .filter_map(|dep| level.get(graph[dep]))
                .map(|l| l + 1)
                .max()
                .unwrap_or(0);
            level.insert(key, l);
        }
        let depth = level.values().copied().max().map_or(0, |m| m + 1);
        let mut levels = vec![Vec::new(); depth];
        for (key, l) in level {
            levels[l].push(key.to_owned());
        }
        Some(levels)
    }
}

/// Render a cycle path as `a → b → a`.
pub fn format_cycle(path: &[String]) -> String {
    path.join(" → ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> DependencyGraph {
        DependencyGraph::new(
            edges
                .iter()
                .map(|(k, d)| (*k, d.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())),
        )
    }

    #[test]
    fn levels_put_dependencies_first() {
        let g = graph(&[
            ("a", &["b"]),
            ("b", &["c"]),
            ("c", &[]),
            ("d", &["c"]),
            ("e", &[]),
        ]);
        assert_eq!(
            g.levels().unwrap(),
            vec![
                vec!["c".to_owned(), "e".into()],
                vec!["b".into(), "d".into()],
                vec!["a".into()]
            ]
        );
    }

    #[test]
    fn cycles_are_reported_with_the_full_path() {
        let g = graph(&[
            ("a", &["b"]),
            ("b", &["c"]),
            ("c", &["a"]),
            ("x", &["x"]),
            ("y", &[]),
        ]);
        assert_eq!(
            g.cycles(),
            vec![
                vec!["a".to_owned(), "b".into(), "c".into(), "a".into()],
                vec!["x".to_owned(), "x".into()],
            ]
        );
        assert!(g.levels().is_none());
    }

    #[test]
    fn missing_targets_and_dependents() {
        let g = graph(&[("a", &["b", "zz"]), ("b", &[])]);
        assert_eq!(g.missing(), vec![("a", "zz")]);
        assert_eq!(g.dependents("b"), vec!["a"]);
    }

    #[test]
    fn cycle_inside_a_larger_component_is_a_real_cycle() {
        // a → b → c → b, and c → a: one component; the reported path must be a real cycle.
        let g = graph(&[("a", &["b"]), ("b", &["c"]), ("c", &["b", "a"])]);
        let cycles = g.cycles();
        assert_eq!(cycles.len(), 1);
        let path = &cycles[0];
        assert_eq!(path.first(), path.last());
        for pair in path.windows(2) {
            assert!(g.dependencies(&pair[0]).any(|d| d == pair[1]), "{path:?}");
        }
    }
}
