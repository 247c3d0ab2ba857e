//! How fast Rust's YAML parsers turn flag files into events: the evidence for the README's
//! "Why 0.35 s is not met" (`## Benchmarks`). Not part of flagops' build.
//!
//! ```sh
//! cargo run --release --manifest-path tools/yaml-parsers/Cargo.toml -- DIR...
//! ```
//!
//! Each `DIR` is a directory of flag files, e.g. the repository a bench holds open
//! (`BENCH_FLAGS=10000 BENCH_HOLD=1 cargo bench --bench mixpanel` prints where it is). Every
//! file is read into memory first; then each parser turns every file into events, five times,
//! over three rounds, and the fastest time of the last round is shown. Only events are made:
//! flagops also builds values from them, which no parser here does for it.

use std::mem::MaybeUninit;
use std::time::Instant;

/// A parser run over every text: the number of events it made.
type Run = fn(&[String]) -> usize;

fn saphyr(texts: &[String]) -> usize {
    let mut events = 0;
    for text in texts {
        let mut parser = saphyr_parser::Parser::new_from_str(text);
        while let Some(event) = parser.next_event() {
            let (event, _) = event.expect("saphyr-parser: the file is valid YAML");
            events += 1;
            if matches!(event, saphyr_parser::Event::StreamEnd) {
                break;
            }
        }
    }
    events
}

fn yaml_rust2(texts: &[String]) -> usize {
    let mut events = 0;
    for text in texts {
        let mut parser = yaml_rust2::parser::Parser::new_from_str(text);
        loop {
            let (event, _) = parser
                .next_token()
                .expect("yaml-rust2: the file is valid YAML");
            events += 1;
            if matches!(event, yaml_rust2::Event::StreamEnd) {
                break;
            }
        }
    }
    events
}

fn libyaml_safer(texts: &[String]) -> usize {
    let mut events = 0;
    for text in texts {
        let mut bytes = text.as_bytes();
        let mut parser = libyaml_safer::Parser::new();
        parser.set_input_string(&mut bytes);
        loop {
            let event = parser
                .parse()
                .expect("libyaml-safer: the file is valid YAML");
            events += 1;
            if matches!(event.data, libyaml_safer::EventData::StreamEnd) {
                break;
            }
        }
    }
    events
}

fn unsafe_libyaml(texts: &[String]) -> usize {
    use unsafe_libyaml::{
        YAML_STREAM_END_EVENT, yaml_event_delete, yaml_event_t, yaml_parser_delete,
        yaml_parser_initialize, yaml_parser_parse, yaml_parser_set_input_string, yaml_parser_t,
    };
    let mut events = 0;
    for text in texts {
        // SAFETY: libyaml's documented life cycle: a parser initialized before use, its input
        // (borrowed from `text`, which outlives it) set once, each event deleted after it is
        // read, the parser deleted at the end.
        unsafe {
            let mut parser = MaybeUninit::<yaml_parser_t>::uninit();
            assert!(yaml_parser_initialize(parser.as_mut_ptr()).ok);
            let parser = parser.as_mut_ptr();
            yaml_parser_set_input_string(parser, text.as_ptr(), text.len() as u64);
            loop {
                let mut event = MaybeUninit::<yaml_event_t>::uninit();
                assert!(
                    yaml_parser_parse(parser, event.as_mut_ptr()).ok,
                    "unsafe-libyaml: the file is valid YAML"
                );
                let event = event.as_mut_ptr();
                events += 1;
                let end = (*event).type_ == YAML_STREAM_END_EVENT;
                yaml_event_delete(event);
                if end {
                    break;
                }
            }
            yaml_parser_delete(parser);
        }
    }
    events
}

fn main() {
    let dirs: Vec<String> = std::env::args().skip(1).collect();
    if dirs.is_empty() {
        eprintln!("usage: yaml-parsers DIR... (directories of flag files)");
        std::process::exit(2);
    }
    let runs: [(&str, Run); 4] = [
        ("saphyr-parser 0.3.4", saphyr),
        ("yaml-rust2 0.10.4", yaml_rust2),
        ("libyaml-safer 0.3.0", libyaml_safer),
        ("unsafe-libyaml 0.2.11", unsafe_libyaml),
    ];
    for dir in dirs {
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {dir}: {e}"))
            .map(|entry| entry.expect("a directory entry").path())
            .filter(|path| path.extension().is_some_and(|e| e == "yaml" || e == "yml"))
            .collect();
        paths.sort();
        let texts: Vec<String> = paths
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
            .collect();
        let bytes: usize = texts.iter().map(String::len).sum();
        println!("{dir}: {} files, {bytes} bytes", texts.len());
        let mut first = None;
        for round in 1..=3 {
            for (name, run) in runs {
                let mut best = f64::MAX;
                let mut events = 0;
                for _ in 0..5 {
                    let start = Instant::now();
                    events = run(&texts);
                    best = best.min(start.elapsed().as_secs_f64());
                }
                if round < 3 {
                    continue;
                }
                let saphyr = *first.get_or_insert(best);
                println!(
                    "  {name:22} {:7.1} ms {:6.1} MB/s  {:.2}x saphyr's speed  {events} events",
                    best * 1e3,
                    bytes as f64 / best / 1e6,
                    saphyr / best,
                );
            }
        }
    }
}
