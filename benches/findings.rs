//! Benchmark: rendering 10,000, 20,000 and 40,000 findings as human text, JSON and GitHub
//! workflow commands. Run with `cargo bench --bench findings`.
//!
//! The findings are the worst case a user reported: one file with one repeated tag per line,
//! every finding pointing into that file. The time per finding should stay flat as the count
//! doubles (linear rendering). Not a timed test: it reports figures and never fails on them.

use std::path::Path;
use std::time::{Duration, Instant};

use flagops::finding::{Finding, Span};
use flagops::render::findings::{self, Sources, Summary};

const SIZES: [usize; 3] = [10_000, 20_000, 40_000];
/// Runs per size and format (after one warm-up), fewer when one run takes long.
const MAX_RUNS: usize = 5;
const MIN_TOTAL: Duration = Duration::from_secs(2);

/// A flag file with `n` tags, all the same, and one finding per repeated tag.
fn generate(dir: &Path, n: usize) -> Vec<Finding> {
    let mut text = String::from("key: many-tags\ntags:\n");
    for _ in 0..n {
        text.push_str("  - repeated\n");
    }
    std::fs::write(dir.join("many-tags.yaml"), text).expect("write flag file");
    (0..n)
        .map(|i| {
            let line = i + 3;
            Finding::warning("duplicate-tag", "tag `repeated` is listed more than once")
                .in_file(Path::new("many-tags.yaml"))
                .at(Some(Span {
                    start: flagops::finding::Position { line, column: 5 },
                    end: flagops::finding::Position { line, column: 13 },
                }))
                .for_flag("many-tags")
                .field(format!("tags[{}]", i + 1))
                .help("remove the repeated tag")
        })
        .collect()
}

/// One output format, rendering every finding; returns the length of the output.
type Render<'a> = Box<dyn Fn() -> usize + 'a>;

/// Median time of `render` over up to [`MAX_RUNS`] runs after a warm-up.
fn measure(render: &dyn Fn() -> usize) -> (Duration, usize) {
    let bytes = render();
    let mut times = Vec::new();
    let mut total = Duration::ZERO;
    while times.len() < MAX_RUNS && (times.is_empty() || total < MIN_TOTAL) {
        let start = Instant::now();
        let out = render();
        let elapsed = start.elapsed();
        assert_eq!(out, bytes, "rendering is deterministic");
        times.push(elapsed);
        total += elapsed;
    }
    times.sort();
    (times[times.len() / 2], times.len())
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    println!("findings: one file, one finding per line, {cores} cores available");
    println!(
        "  {:>7}  {:<6}  {:>10}  {:>12}  {:>5}",
        "count", "format", "median", "per finding", "runs"
    );
    for n in SIZES {
        let list = generate(dir.path(), n);
        let summary = Summary::new(1, 1, &list);
        let formats: [(&str, Render<'_>); 3] = [
            (
                "human",
                Box::new(|| {
                    // A fresh cache each run: reading the file is part of rendering.
                    let mut sources = Sources::new(dir.path());
                    findings::human(&list, summary, &mut sources).len()
                }),
            ),
            ("json", Box::new(|| findings::json(&list, summary).len())),
            (
                "github",
                Box::new(|| findings::github(&list, Path::new("")).len()),
            ),
        ];
        for (name, render) in formats {
            let (median, runs) = measure(&render);
            #[allow(clippy::cast_possible_truncation)]
            let per = median / n as u32;
            println!("  {n:>7}  {name:<6}  {median:>10.3?}  {per:>12.2?}  {runs:>5}");
        }
    }
}
