//! Findings: what `validate` (and every later stage that checks input) reports.
//!
//! A finding is data, not an error: the loader, the schema check and the semantic rules all
//! produce `Finding`s, and `render` turns them into human, JSON or GitHub output.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// How bad a finding is. Errors fail `validate`; warnings are printed but exit 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Something PostHog would reject, or that evaluates wrongly.
    Error,
    /// Something PostHog accepts but evaluators ignore, or that will be normalised.
    Warning,
}

impl Severity {
    /// The lower-case word used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A position in a source file: 1-based line and 1-based column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
}

/// A half-open range in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Span {
    /// First character.
    pub start: Position,
    /// One past the last character (may equal `start` for an empty node).
    pub end: Position,
}

impl Span {
    /// A span covering a single point.
    pub fn point(line: usize, column: usize) -> Self {
        let p = Position { line, column };
        Span { start: p, end: p }
    }
}

/// A secondary place a finding refers to (the other file of a duplicate key, a cycle member).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Related {
    /// File, relative to the repository directory.
    pub file: PathBuf,
    /// Where in that file, when known.
    pub span: Option<Span>,
    /// What this place is.
    pub message: String,
}

/// One problem found in the input.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// A stable kebab-case identifier of the rule (`duplicate-key`, `variant-sum`, …).
    pub code: &'static str,
    /// The file the finding is about, relative to the repository directory.
    pub file: Option<PathBuf>,
    /// Where in that file.
    pub span: Option<Span>,
    /// The flag key, when the finding concerns one flag.
    pub flag: Option<String>,
    /// The field path inside the flag document (`rules[1].percentage`).
    pub field: Option<String>,
    /// One sentence, lower-case start, names in backticks.
    pub message: String,
    /// Other places involved.
    pub related: Vec<Related>,
    /// What to do about it.
    pub help: Option<String>,
    /// The line at `span` may hold a secret (a password in a URL, a pasted API key): outputs
    /// give the location but never draw the line.
    #[serde(skip)]
    pub conceal_source: bool,
}

impl Finding {
    /// A new error finding with only a code and message; use the builder methods for the rest.
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, message)
    }

    /// A new warning finding.
    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, code, message)
    }

    fn new(severity: Severity, code: &'static str, message: impl Into<String>) -> Self {
        Finding {
            severity,
            code,
            file: None,
            span: None,
            flag: None,
            field: None,
            message: message.into(),
            related: Vec::new(),
            help: None,
            conceal_source: false,
        }
    }

    /// Attach the file.
    #[must_use]
    pub fn in_file(mut self, file: &Path) -> Self {
        self.file = Some(file.to_path_buf());
        self
    }

    /// Attach the location.
    #[must_use]
    pub fn at(mut self, span: Option<Span>) -> Self {
        self.span = span;
        self
    }

    /// Attach the flag key.
    #[must_use]
    pub fn for_flag(mut self, key: impl Into<String>) -> Self {
        self.flag = Some(key.into());
        self
    }

    /// Attach the field path.
    #[must_use]
    pub fn field(mut self, field: impl Into<String>) -> Self {
        let field = field.into();
        self.field = (!field.is_empty()).then_some(field);
        self
    }

    /// Attach a help line.
    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Never draw the source line at the span: it may hold a secret.
    #[must_use]
    pub fn concealing_source(mut self) -> Self {
        self.conceal_source = true;
        self
    }

    /// Attach a related place.
    #[must_use]
    pub fn related(mut self, related: Related) -> Self {
        self.related.push(related);
        self
    }
}

/// Sort findings by file, position, severity and message, and drop exact duplicates, so that
/// every output is stable and overlays that repeat a base problem report it once.
pub fn normalize(findings: &mut Vec<Finding>) {
    findings.sort_by(|a, b| {
        (
            &a.file, &a.span, a.severity, a.code, &a.message, &a.flag, &a.field,
        )
            .cmp(&(
                &b.file, &b.span, b.severity, b.code, &b.message, &b.flag, &b.field,
            ))
    });
    findings.dedup();
}

/// Count errors and warnings.
pub fn count(findings: &[Finding]) -> (usize, usize) {
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    (errors, findings.len() - errors)
}

/// Most findings shown for one file; the rest are counted in one `finding-limit` finding.
pub const MAX_PER_FILE: usize = 1_000;
/// Most findings shown in one run; the rest are counted in one `finding-limit` finding.
pub const MAX_PER_RUN: usize = 10_000;

/// `19999` → `19,999`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The list a finding at JSON pointer `pointer` is about one item of: `pointer` with its last
/// list index replaced by `*` (the group), and the list's own pointer. `None` outside lists.
fn list_group(pointer: &str) -> Option<(String, String)> {
    let segments: Vec<&str> = pointer.split('/').collect();
    let index = segments
        .iter()
        .rposition(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))?;
    let list = segments[..index].join("/");
    let mut group = segments;
    group[index] = "*";
    Some((group.join("/"), list))
}

/// How many findings of one rule over the items of one list are shown before the rest are
/// counted in the last one shown.
pub const SHOWN_PER_LIST: usize = 3;

/// Collapses the repeats of one rule over the items of one list as they are produced: the
/// first `SHOWN_PER_LIST` are kept, and the last of them counts the rest, so that a list of
/// 20,000 duplicate labels costs three findings (`… (and 19,997 more in `labels`)`), never
/// 20,000: time and memory stay bounded by the distinct problems, not by the input's size.
#[derive(Debug)]
pub struct Collapsed<T> {
    /// Each item kept, how many repeats it counts, and the pointer of its list.
    items: Vec<(T, usize, Option<String>)>,
    /// (rule, list group) → (items kept, index of the last one).
    groups: HashMap<(&'static str, String), (usize, usize)>,
}

impl<T> Default for Collapsed<T> {
    fn default() -> Self {
        Collapsed {
            items: Vec::new(),
            groups: HashMap::new(),
        }
    }
}

impl<T> Collapsed<T> {
    /// Add `item` of rule `code` about the value at `pointer`.
    pub fn push(&mut self, code: &'static str, pointer: &str, item: T) {
        let Some((group, list)) = list_group(pointer) else {
            self.items.push((item, 0, None));
            return;
        };
        let index = self.items.len();
        match self.groups.entry((code, group)) {
            std::collections::hash_map::Entry::Occupied(mut e) => {
                let (kept, latest) = e.get_mut();
                if *kept == SHOWN_PER_LIST {
                    self.items[*latest].1 += 1;
                } else {
                    *kept += 1;
                    *latest = index;
                    self.items.push((item, 0, Some(list)));
                }
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert((1, index));
                self.items.push((item, 0, Some(list)));
            }
        }
    }

    /// Each item in the order first seen, with the suffix to append to its message when
    /// repeats were counted in it (`" (and 3 more in `labels`)"`), else an empty string.
    pub fn finish(self) -> impl Iterator<Item = (T, String)> {
        self.items.into_iter().map(|(item, more, list)| {
            let suffix = match list {
                Some(list) if more > 0 => format!(
                    " (and {} more in `{}`)",
                    thousands(more),
                    crate::schema::field_path(&list)
                ),
                _ => String::new(),
            };
            (item, suffix)
        })
    }
}

/// Keep at most `MAX_PER_FILE` findings of each file and `MAX_PER_RUN` in all (`findings` is
/// sorted, as `normalize` leaves it); what is left out is counted in a `finding-limit` finding
/// at the end of its file (and of the run), an error when an error was left out, so that the
/// exit code never changes.
pub fn limit(findings: Vec<Finding>) -> Vec<Finding> {
    fn note(omitted: usize, any_error: bool, scope: &str, limit: usize) -> Finding {
        let message = format!(
            "{} more finding{}{} not shown (limit {} per {})",
            thousands(omitted),
            if omitted == 1 { "" } else { "s" },
            if scope == "file" { " in this file" } else { "" },
            thousands(limit),
            scope,
        );
        let f = if any_error {
            Finding::error("finding-limit", message)
        } else {
            Finding::warning("finding-limit", message)
        };
        f.help("fix the findings shown and run again")
    }
    let mut out = Vec::with_capacity(findings.len().min(MAX_PER_RUN));
    let (mut run_omitted, mut run_error) = (0, false);
    let mut iter = findings.into_iter().peekable();
    while let Some(first) = iter.next() {
        let file = first.file.clone();
        let (mut kept, mut omitted, mut omitted_error) = (0, 0, false);
        let mut current = Some(first);
        while let Some(f) = current.take().or_else(|| iter.next_if(|n| n.file == file)) {
            let is_error = f.severity == Severity::Error;
            if kept == MAX_PER_FILE {
                omitted += 1;
                omitted_error |= is_error;
            } else if out.len() < MAX_PER_RUN {
                kept += 1;
                out.push(f);
            } else {
                kept += 1;
                run_omitted += 1;
                run_error |= is_error;
            }
        }
        if omitted > 0 {
            let mut n = note(omitted, omitted_error, "file", MAX_PER_FILE);
            n.file = file;
            out.push(n);
        }
    }
    if run_omitted > 0 {
        out.push(note(run_omitted, run_error, "run", MAX_PER_RUN));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(19_999), "19,999");
        assert_eq!(thousands(33_554_432), "33,554,432");
    }

    #[test]
    fn only_repeats_over_one_list_collapse() {
        let mut c = Collapsed::default();
        for i in 0..5 {
            c.push("label-case", &format!("/labels/{i}"), i);
        }
        c.push("duplicate-label", "/labels/4", 10);
        c.push("value-key", "/values/a", 20);
        c.push("value-key", "/values/b", 21);
        let out: Vec<(i32, String)> = c.finish().collect();
        assert_eq!(
            out,
            [
                (0, String::new()),
                (1, String::new()),
                (2, " (and 2 more in `labels`)".to_owned()),
                (10, String::new()),
                (20, String::new()),
                (21, String::new()),
            ]
        );
    }
}
