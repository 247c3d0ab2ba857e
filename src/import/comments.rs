//! Whether a flag file holds comments a person wrote, which rewriting it would drop.
//!
//! Import rewrites a file from its parsed value, so comments would be lost; it refuses such a
//! file instead (see `cli::import`). A `#` starts a comment when it is at the start of a line
//! or after white space and is not inside a scalar. Scalars are located with the events of
//! `saphyr-parser` (the loader's parser): a plain or block scalar's span is its text, and a
//! quoted scalar runs from its opening quote to the matching closing one (its span may reach
//! past a trailing comment, so the end is found here). When the text does not parse, every
//! `#` after the last scalar read counts: a doubt is a comment, never a silent loss.

use saphyr_parser::{Event, Parser, ScalarStyle};

/// The modeline import writes on a file's first line; it is not a person's comment.
pub const MODELINE_PREFIX: &str = "# yaml-language-server: $schema=";

/// The 1-based line of the first comment in `text` a person wrote, or `None`. The schema
/// modeline on the first line (which import writes itself) does not count.
pub fn first_comment_line(text: &str) -> Option<usize> {
    let chars: Vec<char> = text.chars().collect();
    let mut in_scalar = vec![false; chars.len()];
    let mut parser = Parser::new_from_str(text);
    while let Some(Ok((event, span))) = parser.next_event() {
        match event {
            Event::Scalar(_, style, _, _) => {
                let start = span.start.index().min(chars.len());
                let end = match style {
                    ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => {
                        closing_quote(&chars, start, style).unwrap_or(span.end.index())
                    }
                    _ => span.end.index(),
                }
                .min(chars.len());
                for covered in in_scalar.iter_mut().take(end).skip(start) {
                    *covered = true;
                }
            }
            Event::StreamEnd => break,
            _ => {}
        }
    }
    let mut line = 1;
    for (i, &c) in chars.iter().enumerate() {
        if c == '\n' {
            line += 1;
            continue;
        }
        let separated = i == 0 || chars[i - 1].is_whitespace() || chars[i - 1] == '\u{feff}';
        if c == '#' && separated && !in_scalar[i] {
            let modeline = line == 1
                && text
                    .trim_start_matches('\u{feff}')
                    .starts_with(MODELINE_PREFIX);
            if !modeline {
                return Some(line);
            }
        }
    }
    None
}

/// The index just past the quote closing the quoted scalar whose opening quote is the first
/// one at or after `from` (an anchor or a YAML tag may come first).
fn closing_quote(chars: &[char], from: usize, style: ScalarStyle) -> Option<usize> {
    let quote = if style == ScalarStyle::DoubleQuoted {
        '"'
    } else {
        '\''
    };
    let open = from + chars.get(from..)?.iter().position(|&c| c == quote)?;
    let mut i = open + 1;
    while let Some(&c) = chars.get(i) {
        if quote == '"' && c == '\\' {
            i += 2;
            continue;
        }
        if c == quote {
            if quote == '\'' && chars.get(i + 1) == Some(&'\'') {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_found_and_hashes_inside_scalars_are_not() {
        let cases: [(&str, Option<usize>); 14] = [
            ("key: a\n", None),
            ("# yaml-language-server: $schema=../x.json\nkey: a\n", None),
            (
                "# yaml-language-server: $schema=x\n# mine\nkey: a\n",
                Some(2),
            ),
            ("key: a\n# yaml-language-server: $schema=x\n", Some(2)),
            ("# hand-written\nkey: a\n", Some(1)),
            ("key: a # trailing\n", Some(1)),
            ("key: \"a # b\" # c\n", Some(1)),
            ("key: \"a # b\"\nname: 'x '' # y'\n", None),
            ("key: \"a \\\" # b\"\n", None),
            ("key: a#b\nlabels: [x#y]\n", None),
            ("labels: [a, b] # c\n", Some(1)),
            ("name: |\n  a # b\n  # c\nkey: a\n", None),
            ("name: |\n  a\n# c\nkey: a\n", Some(3)),
            ("name: >-\n  a\n\n  # b\n # c\nkey: a\n", Some(5)),
        ];
        for (text, want) in cases {
            assert_eq!(first_comment_line(text), want, "{text:?}");
        }
    }

    #[test]
    fn anchors_tags_and_broken_text_never_hide_a_comment() {
        assert_eq!(first_comment_line("a: &x \"v # w\"\nb: *x\n"), None);
        assert_eq!(first_comment_line("a: !!str 'v # w'\n"), None);
        // After a parse error nothing is a scalar any more: a doubt is a comment.
        assert_eq!(first_comment_line("a: [\nb: \"x # y\"\n"), Some(2));
    }
}
