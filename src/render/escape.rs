//! Neutralising text from servers and files for each output, one module per output kind.
//!
//! Every key, name, tag, value, payload, message or detail a renderer writes goes through one
//! of these, so that no input can change the structure of what it is written into:
//!
//! - [`terminal`]: control characters (ANSI escape sequences, `\r`, `\n`, …) and bidirectional
//!   overrides are shown as Rust escapes (`\u{1b}`, `\r`, `\n`), so the text stays on one line
//!   and cannot colour, move the cursor or start a `::error::` command in a CI log. The
//!   renderers add their own colours after escaping.
//! - [`markdown`]: inline text escapes HTML, comments, links, images, autolinks, emphasis and
//!   leading block markers; code spans get a fence longer than any backtick run inside; table
//!   cells escape `|`. Control characters are shown as in the terminal.
//! - [`github`]: workflow-command messages and properties, per GitHub's rules (`%`, `\r`, `\n`;
//!   `:` and `,` in properties).
//! - [`dot`] and [`mermaid`]: quoted graph labels.
//!
//! Details (a server's error text, a reason, a message) are also capped to [`DETAIL_LIMIT`]
//! characters with "… (N more characters)" by [`cap`].

use std::borrow::Cow;
use std::fmt::Write;

/// The most characters of one detail (message, reason, server error text) that are shown.
pub const DETAIL_LIMIT: usize = 500;

/// Whether `c` would act on a terminal or reorder text instead of showing: C0 and C1
/// controls, DEL, bidirectional overrides and isolates, line and paragraph separators.
fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
                | '\u{2028}' | '\u{2029}'
        )
}

/// `text` cut to `limit` characters, with "… (N more characters)" when it was longer.
pub fn cap(text: &str, limit: usize) -> Cow<'_, str> {
    match text.char_indices().nth(limit) {
        None => Cow::Borrowed(text),
        Some((end, _)) => {
            let more = text[end..].chars().count();
            let word = if more == 1 { "character" } else { "characters" };
            Cow::Owned(format!("{}… ({more} more {word})", &text[..end]))
        }
    }
}

/// Text for a terminal (and any plain-text output): one line, nothing hidden.
pub mod terminal {
    use super::{Cow, DETAIL_LIMIT, Write, cap, is_hidden};

    /// `text` with every control character shown as a Rust escape: `\n`, `\r`, `\t`,
    /// `\u{1b}`. Borrowed when there is nothing to escape.
    pub fn text(text: &str) -> Cow<'_, str> {
        escape(text, false)
    }

    /// A line of a source file, drawn under a caret: as [`text`] but tabs are kept (the
    /// snippet renderer lines them up).
    pub fn source_line(line: &str) -> Cow<'_, str> {
        escape(line, true)
    }

    fn escape(text: &str, keep_tabs: bool) -> Cow<'_, str> {
        let hidden = |c: char| is_hidden(c) && !(keep_tabs && c == '\t');
        if !text.chars().any(hidden) {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len() + 8);
        for c in text.chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' if !keep_tabs => out.push_str("\\t"),
                c if hidden(c) => {
                    let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        Cow::Owned(out)
    }

    /// A detail: capped to [`DETAIL_LIMIT`] characters, then escaped as [`text`].
    pub fn detail(detail: &str) -> String {
        text(&cap(detail, DETAIL_LIMIT)).into_owned()
    }

    /// `line` with the user name and password of every URL in it (`scheme://user:pw@host`)
    /// shown as `*`, one per character so that columns still point at the same places. For
    /// source lines drawn under a caret: a config line holding a host with a password is
    /// shown, the password is not.
    pub fn without_credentials(line: &str) -> Cow<'_, str> {
        let mut hidden: Vec<std::ops::Range<usize>> = Vec::new();
        let mut from = 0;
        while let Some(i) = line[from..].find("://") {
            let start = from + i + 3;
            let rest = &line[start..];
            let end = rest
                .find(|c: char| {
                    c.is_whitespace()
                        || matches!(
                            c,
                            '/' | '?'
                                | '#'
                                | '"'
                                | '\''
                                | '`'
                                | ','
                                | '['
                                | ']'
                                | '{'
                                | '}'
                                | '<'
                                | '>'
                        )
                })
                .unwrap_or(rest.len());
            if let Some(at) = rest[..end].rfind('@') {
                hidden.push(start..start + at);
            }
            from = start + end;
        }
        if hidden.is_empty() {
            return Cow::Borrowed(line);
        }
        let mut out = String::with_capacity(line.len());
        let mut last = 0;
        for range in hidden {
            out.push_str(&line[last..range.start]);
            out.extend(line[range.clone()].chars().map(|_| '*'));
            last = range.end;
        }
        out.push_str(&line[last..]);
        Cow::Owned(out)
    }
}

/// Text for GitHub-flavoured Markdown (pull-request comments, job summaries).
pub mod markdown {
    use super::{Cow, DETAIL_LIMIT, cap, terminal};

    /// Inline text: control characters shown as in [`terminal::text`], then `\`, `` ` ``,
    /// `*`, `_`, `~`, `[`, `]` and `@` backslash-escaped (emphasis, code, links, images,
    /// e-mail autolinks), as are the `:` of `://` and the `.` of `www.` (bare-URL autolinks),
    /// and `&`, `<`, `>` written as entities (HTML elements, comments, `<…>` autolinks; also safe
    /// inside an HTML block). A leading `#`, `+`, `-`, `=` or ordered-list number is escaped
    /// so the text cannot start a heading, quote or list. For a table cell, pass the whole
    /// cell through [`cell`] too.
    pub fn text(text: &str) -> String {
        let plain = terminal::text(text);
        let mut out = String::with_capacity(plain.len() + 8);
        for (i, c) in plain.char_indices() {
            let rest = &plain[i + c.len_utf8()..];
            let autolink = match c {
                ':' => rest.starts_with('/'),
                '.' => plain[..i]
                    .get(i.saturating_sub(3)..)
                    .is_some_and(|w| w.eq_ignore_ascii_case("www")),
                _ => false,
            };
            match c {
                '\\' | '`' | '*' | '_' | '~' | '[' | ']' | '@' => {
                    out.push('\\');
                    out.push(c);
                }
                _ if autolink => {
                    out.push('\\');
                    out.push(c);
                }
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                c => out.push(c),
            }
        }
        escape_leading_marker(out)
    }

    /// A message or reason in the project's style, with names in backticks: each balanced
    /// `` `name` `` becomes a [`code`] span, the rest is escaped as [`text`]. With an odd
    /// number of backticks the whole message is [`text`].
    pub fn message(message: &str) -> String {
        let parts: Vec<&str> = message.split('`').collect();
        if parts.len().is_multiple_of(2) || parts.iter().skip(1).step_by(2).any(|p| p.is_empty()) {
            return text(message);
        }
        let mut out = String::with_capacity(message.len() + 8);
        for (i, part) in parts.iter().enumerate() {
            if i % 2 == 1 {
                out.push_str(&code(part));
            } else if i == 0 {
                out.push_str(&text(part));
            } else {
                // Not at the start of a line: no block marker to escape.
                out.push_str(&inline(part));
            }
        }
        out
    }

    /// A detail: capped to [`DETAIL_LIMIT`] characters, then written as a [`message`].
    pub fn detail(detail: &str) -> String {
        message(&cap(detail, DETAIL_LIMIT))
    }

    /// `text` escaped but its first character, which follows other text on its line.
    fn inline(text: &str) -> String {
        let escaped = super::markdown::text(&format!(" {text}"));
        escaped[1..].to_owned()
    }

    /// A leading `#`, `+`, `-` or `=` escaped, and an ordered-list number (`1.` or `1)`
    /// followed by a space or the end).
    fn escape_leading_marker(text: String) -> String {
        match text.chars().next() {
            Some('#' | '+' | '-' | '=') => format!("\\{text}"),
            Some(c) if c.is_ascii_digit() => {
                let digits = text.chars().take_while(char::is_ascii_digit).count();
                let mut after = text[digits..].chars();
                let marker = matches!(after.next(), Some('.' | ')'))
                    && matches!(after.next(), None | Some(' ' | '\t'));
                if marker {
                    format!("{}\\{}", &text[..digits], &text[digits..])
                } else {
                    text
                }
            }
            // `>` is already `&gt;`.
            _ => text,
        }
    }

    /// A code span holding `text` literally: control characters shown as in
    /// [`terminal::text`], fenced by one backtick more than the longest run inside, padded
    /// with spaces when the text starts or ends with a backtick or a space. Nothing inside a
    /// code span is read as HTML, a link or emphasis.
    pub fn code(text: &str) -> String {
        let plain = terminal::text(text);
        let mut longest = 0;
        let mut run = 0;
        for c in plain.chars() {
            run = if c == '`' { run + 1 } else { 0 };
            longest = longest.max(run);
        }
        let fence = "`".repeat(longest + 1);
        if plain.is_empty() {
            return "` `".to_owned();
        }
        let pad = plain.starts_with('`')
            || plain.ends_with('`')
            || (plain.starts_with(' ') && plain.ends_with(' ') && plain.trim() != "");
        let pad = if pad { " " } else { "" };
        format!("{fence}{pad}{plain}{pad}{fence}")
    }

    /// A table cell made of inline markdown (from [`text`] and [`code`] and the renderer's
    /// own words): `|` escaped, which GitHub honours even inside code spans.
    pub fn cell(inline: &str) -> Cow<'_, str> {
        if inline.contains('|') {
            Cow::Owned(inline.replace('|', "\\|"))
        } else {
            Cow::Borrowed(inline)
        }
    }
}

/// Text for GitHub workflow commands (`::error file=…,line=…::message`).
pub mod github {
    use super::terminal;

    /// A command's message, per GitHub's rules: `%`, `\r` and `\n` percent-encoded. The
    /// message may hold the renderer's own line breaks; text from input goes through
    /// [`detail`] first.
    pub fn data(text: &str) -> String {
        text.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    }

    /// A command's property value: as [`data`], plus `:` and `,`.
    pub fn property(text: &str) -> String {
        data(text).replace(':', "%3A").replace(',', "%2C")
    }

    /// Input text inside a message: capped to [`DETAIL_LIMIT`](super::DETAIL_LIMIT) characters, with control
    /// characters shown as in [`terminal::text`] (so it adds no line of its own).
    pub fn detail(text: &str) -> String {
        terminal::detail(text)
    }
}

/// Text for Graphviz DOT.
pub mod dot {
    use super::terminal;

    /// A double-quoted DOT string: control characters shown as in [`terminal::text`], `\`
    /// and `"` backslash-escaped (Graphviz's lexer reads `\\` as a pair, so a trailing
    /// backslash cannot escape the closing quote).
    pub fn quoted(text: &str) -> String {
        let plain = terminal::text(text);
        let mut out = String::with_capacity(plain.len() + 2);
        out.push('"');
        for c in plain.chars() {
            if matches!(c, '\\' | '"') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
        out
    }
}

/// Text for Mermaid.
pub mod mermaid {
    use super::terminal;

    /// A double-quoted Mermaid label: control characters shown as in [`terminal::text`];
    /// `"`, `#`, `&`, `<`, `>` and `` ` `` written as Mermaid entity codes (`#quot;`,
    /// `#35;`, …), so the label can neither end early nor hold HTML or markdown.
    pub fn quoted(text: &str) -> String {
        let plain = terminal::text(text);
        let mut out = String::with_capacity(plain.len() + 2);
        out.push('"');
        for c in plain.chars() {
            match c {
                '"' => out.push_str("#quot;"),
                '#' => out.push_str("#35;"),
                '&' => out.push_str("#amp;"),
                '<' => out.push_str("#lt;"),
                '>' => out.push_str("#gt;"),
                '`' => out.push_str("#96;"),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
}

/// Where a piece of shared wording (plan changes in words) goes: picks the escaping of the
/// names, values and text from the plan that it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inline {
    /// A terminal or plain text: names in backticks, everything through [`terminal::text`].
    Terminal,
    /// Markdown: names and values as code spans, other text through [`markdown::text`].
    Markdown,
}

impl Inline {
    /// A name (flag key, tag, variant, property key) in backticks or a code span.
    pub fn name(self, name: &str) -> String {
        match self {
            Inline::Terminal => format!("`{}`", terminal::text(name)),
            Inline::Markdown => markdown::code(name),
        }
    }

    /// A value written literally (JSON): as is on a terminal, a code span in markdown.
    pub fn value(self, value: &str) -> String {
        match self {
            Inline::Terminal => terminal::text(value).into_owned(),
            Inline::Markdown => markdown::code(value),
        }
    }

    /// Other text from the plan (an attribute name).
    pub fn text(self, text: &str) -> String {
        match self {
            Inline::Terminal => terminal::text(text).into_owned(),
            Inline::Markdown => markdown::text(text),
        }
    }
}
