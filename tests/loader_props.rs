//! Property tests of the loader: arbitrary bytes and mutated valid flag YAML never panic in
//! `source::load_file` (nor in the rules run over what it loads), and every finding points
//! inside the input.

use std::path::{Path, PathBuf};

use flagops::finding::{Finding, Span};
use flagops::source::{self, Repository};
use proptest::prelude::*;

/// Valid flag files to mutate.
const SEEDS: &[&str] = &[
    include_str!("fixtures/validate/valid/multivariate_full.yaml"),
    include_str!("fixtures/validate/valid/dependencies.yaml"),
    include_str!("fixtures/validate/valid/yaml_features.yaml"),
    include_str!("fixtures/validate/valid/group_aggregated.yaml"),
    include_str!("fixtures/validate/valid/overrides.yaml"),
    include_str!("fixtures/validate/valid/merge_keys.yaml"),
    include_str!("../examples/posthog/flags/beta-dashboard.yaml"),
];

/// Fragments that are meaningful to a YAML parser.
const PUNCTUATION: &[&str] = &[
    ":",
    ": ",
    "-",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "&a ",
    "*a",
    "&b [*a, *a]",
    "<<: ",
    "<<: *a",
    "<<: [*a, *b]",
    "!",
    "!!str ",
    "!!int ",
    "!custom ",
    "|",
    ">-",
    "#",
    "'",
    "\"",
    "\\",
    "\n",
    "\r",
    "\r\n",
    " ",
    "\t",
    "---\n",
    "...\n",
    "? ",
    "%YAML 1.2\n",
    "\u{feff}",
    ".inf",
    "~",
    "key: ",
    "é",
    "\u{0}",
];

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, bit: u8 },
    Truncate { at: usize },
    Insert { at: usize, text: &'static str },
    Delete { at: usize, len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), prop::sample::select(PUNCTUATION))
            .prop_map(|(at, text)| Mutation::Insert { at, text }),
        (any::<usize>(), 1usize..8).prop_map(|(at, len)| Mutation::Delete { at, len }),
    ]
}

fn apply(seed: &str, mutations: &[Mutation]) -> String {
    let mut bytes = seed.as_bytes().to_vec();
    for m in mutations {
        let len = bytes.len().max(1);
        match *m {
            Mutation::Flip { at, bit } => {
                if !bytes.is_empty() {
                    bytes[at % len] ^= 1 << bit;
                }
            }
            Mutation::Truncate { at } => bytes.truncate(at % len),
            Mutation::Insert { at, text } => {
                let at = at % (bytes.len() + 1);
                bytes.splice(at..at, text.bytes());
            }
            Mutation::Delete { at, len: n } => {
                let at = at % len;
                let end = (at + n).min(bytes.len());
                if at < end {
                    bytes.drain(at..end);
                }
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Lines as YAML counts them (`\r\n`, `\r` and `\n` all end a line), in characters.
fn line_lengths(text: &str) -> Vec<usize> {
    let mut lengths = vec![0];
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                lengths.push(0);
            }
            '\n' => lengths.push(0),
            _ => *lengths.last_mut().unwrap() += 1,
        }
    }
    lengths
}

fn check_span(text: &str, lines: &[usize], span: Span) -> Result<(), TestCaseError> {
    for (what, p) in [("start", span.start), ("end", span.end)] {
        prop_assert!(
            p.line >= 1 && p.line <= lines.len(),
            "{what} line {} of {} in {:?}",
            p.line,
            lines.len(),
            text
        );
        let width = lines[p.line - 1];
        prop_assert!(
            p.column >= 1 && p.column <= width + 1,
            "{what} column {} past line {} (width {width}) in {:?}",
            p.column,
            p.line,
            text
        );
    }
    prop_assert!(
        span.start <= span.end,
        "{span:?} ends before it starts in {text:?}"
    );
    Ok(())
}

fn check_findings(text: &str, findings: &[Finding]) -> Result<(), TestCaseError> {
    let lines = line_lengths(text);
    for f in findings {
        prop_assert!(!f.message.is_empty(), "empty message: {f:?}");
        if let Some(span) = f.span {
            check_span(text, &lines, span)?;
        }
        for r in &f.related {
            if let Some(span) = r.span {
                check_span(text, &lines, span)?;
            }
        }
    }
    Ok(())
}

/// `load_file`, then every rule over what it loaded.
fn load_and_check(text: &str) -> Result<(), TestCaseError> {
    let file = Path::new("flags/fuzz.yaml");
    let contents = source::load_file::<flagops::vendor::posthog::Flag>(text, file);
    check_findings(text, &contents.findings)?;
    for flag in contents.flags.iter().chain(&contents.partial) {
        prop_assert_eq!(&flag.file, file);
    }
    let config = serde_json::from_value(serde_json::json!({
        "backend": "local",
        "environments": { "staging": {}, "production": {} }
    }))
    .expect("config");
    let repo = Repository {
        root: PathBuf::from("."),
        config_file: PathBuf::from("flagops.yaml"),
        config,
        flags: contents.flags,
        partial: contents.partial,
        files: 1,
        invalid_keys: contents.invalid_keys.into_iter().collect(),
        unread: Vec::new(),
        findings: contents.findings,
    };
    let findings = flagops::rules::validate(&repo);
    check_findings(text, &findings)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        load_and_check(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn yaml_alphabet_soup_never_panics(text in "[-:\\[\\]{},&*!|>#'\"?%.~ \t\r\na-z0-9]{0,300}") {
        load_and_check(&text)?;
    }

    #[test]
    fn mutated_valid_flags_never_panic(
        seed in prop::sample::select(SEEDS),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        load_and_check(&apply(seed, &mutations))?;
    }
}

/// The seeds themselves load without findings (so mutations start from valid input).
#[test]
fn seeds_are_valid() {
    for seed in SEEDS {
        let contents =
            source::load_file::<flagops::vendor::posthog::Flag>(seed, Path::new("seed.yaml"));
        assert!(contents.findings.is_empty(), "{:?}", contents.findings);
        assert!(!contents.flags.is_empty());
    }
}
