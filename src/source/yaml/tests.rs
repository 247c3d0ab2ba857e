//! Unit tests of the YAML loader: scalar resolution, locations, limits.
use super::*;
use std::fmt::Write as _;

#[test]
fn scalars_follow_the_core_schema() {
    let doc = &parse("a: 1\nb: -2.5\nc: true\nd: ~\ne: '1'\nf: hello\ng: 0x1f\n").documents[0];
    let v = &doc.value;
    assert_eq!(v["a"], 1);
    assert_eq!(v["b"], -2.5);
    assert_eq!(v["c"], true);
    assert_eq!(v["d"], Value::Null);
    assert_eq!(v["e"], "1");
    assert_eq!(v["f"], "hello");
    assert_eq!(v["g"], 31);
}

#[test]
fn locations_are_recorded_for_values_and_keys() {
    let doc = &parse("key: x\nlist:\n  - a: 1\n    b: [2, 3]\n").documents[0];
    let span = doc.locations.value("/list/0/b/1").unwrap();
    assert_eq!((span.start.line, span.start.column), (4, 12));
    let key = doc.locations.key("/list/0/b").unwrap();
    assert_eq!((key.start.line, key.start.column), (4, 5));
    // Unknown pointer falls back to the nearest ancestor.
    let parent = doc.locations.value("/list/0/zzz").unwrap();
    assert_eq!(parent.start.line, 3);
}

#[test]
fn duplicate_keys_name_both_places() {
    let parsed = parse("a: 1\nb: 2\na: 3\n");
    assert!(parsed.documents.is_empty());
    let e = &parsed.errors[0];
    assert_eq!(e.code, "duplicate-key");
    assert_eq!(e.span.unwrap().start.line, 3);
    assert_eq!(e.related.as_ref().unwrap().0.start.line, 1);
}

#[test]
fn duplicate_keys_are_found_in_mappings_of_any_size() {
    // Up to 16 keys are searched one by one, more through an index: each way, and at the
    // switch, finds the first place.
    for (keys, again) in [(3, 2), (16, 16), (17, 1), (17, 17), (40, 7), (40, 33)] {
        let mut text = String::new();
        for k in 1..=keys {
            let _ = writeln!(text, "k{k}: {k}");
        }
        let _ = writeln!(text, "k{again}: again");
        let parsed = parse(&text);
        assert!(parsed.documents.is_empty(), "{keys} keys, k{again} again");
        let e = &parsed.errors[0];
        assert_eq!(e.code, "duplicate-key");
        assert_eq!(e.message, format!("duplicate mapping key `k{again}`"));
        assert_eq!(e.span.unwrap().start.line, keys + 1);
        assert_eq!(e.related.as_ref().unwrap().0.start.line, again);
    }
    // A key written three times: each repetition points at the first place.
    for keys in [3, 20] {
        let mut text = String::new();
        for k in 1..=keys {
            let _ = writeln!(text, "k{k}: {k}");
        }
        text.push_str("k2: again\nk2: and again\n");
        let parsed = parse(&text);
        assert_eq!(parsed.errors.len(), 2, "{keys} keys");
        for e in &parsed.errors {
            assert_eq!(e.related.as_ref().unwrap().0.start.line, 2, "{keys} keys");
        }
    }
    let mut distinct = String::new();
    for k in 1..=40 {
        let _ = writeln!(distinct, "k{k}: {k}");
    }
    assert!(parse(&distinct).errors.is_empty());
}

#[test]
fn alias_bombs_are_refused() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        let _ = writeln!(
            text,
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]"
        );
    }
    let parsed = parse(&text);
    assert!(parsed.documents.is_empty());
    assert_eq!(parsed.errors[0].code, "yaml-too-large");
}

#[test]
fn deep_nesting_is_refused() {
    for depth in [100, 10_000] {
        let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let parsed = parse(&text);
        assert_eq!(parsed.errors[0].code, "yaml-too-deep", "{depth}");
    }
}

#[test]
fn multiple_documents() {
    let parsed = parse("---\nkey: a\n---\nkey: b\n");
    assert_eq!(parsed.documents.len(), 2);
    assert_eq!(parsed.documents[1].value["key"], "b");
    let span = parsed.documents[1].locations.value("/key").unwrap();
    assert_eq!(span.start.line, 4);
}

#[test]
fn non_finite_numbers_are_errors() {
    for text in [
        ".nan",
        ".NaN",
        ".NAN",
        ".inf",
        "-.Inf",
        "+.INF",
        "!!float .inf",
    ] {
        let parsed = parse(&format!("a: {text}\n"));
        assert_eq!(parsed.errors[0].code, "yaml-value", "{text}");
    }
    for text in [".in", "nan", "inf", ".infinity", "-.nan."] {
        let parsed = parse(&format!("a: {text}\n"));
        assert!(parsed.errors.is_empty(), "{text}");
        assert_eq!(parsed.documents[0].value["a"], text);
    }
}

#[test]
fn a_control_character_is_not_called_a_tab() {
    let parsed = parse("key: a\nname: x\u{0}y\n");
    let error = &parsed.errors[0];
    assert_eq!(error.message, "invalid YAML: found unprintable character");
    assert_eq!(
        error.help,
        Some(
            "remove the control character, or write it as an escape in a double-quoted string (`\"\\u0000\"`)"
        )
    );
    let parsed = parse("key: a\nconditions:\n\t- rollout_percentage: 1\n");
    assert_eq!(
        parsed.errors[0].help,
        Some("YAML indents with spaces only; replace the tab")
    );
}

#[test]
fn every_bad_value_of_a_file_is_reported_in_one_run() {
    let parsed = parse(
        "key: nums\nconditions:\n  - rollout_percentage: 1e400\n  - rollout_percentage: .NaN\n---\nkey: fine\n",
    );
    let errors: Vec<(&str, usize)> = parsed
        .errors
        .iter()
        .map(|e| (e.code, e.span.map_or(0, |s| s.start.line)))
        .collect();
    assert_eq!(errors, [("yaml-value", 3), ("yaml-value", 4)]);
    assert_eq!(parsed.dropped_keys, ["nums"]);
    // The next document is still read.
    assert_eq!(parsed.documents.len(), 1);
    assert_eq!(parsed.documents[0].value["key"], "fine");
}

#[test]
fn lazy_locations_are_built_when_asked_and_match_the_eager_ones() {
    let text = "\u{feff}a: 1\n---\nkey: x\nlist:\n  - {b: [1, 2]}\nbase: &b {c: 1}\nm:\n  <<: *b\n  d: 2\n---\n- 1\n";
    let eager = parse(text);
    let lazy = parse_lazily(&std::sync::Arc::from(text), usize::MAX);
    assert_eq!(eager.documents.len(), 3);
    assert_eq!(lazy.documents.len(), 3);
    let file = &lazy.documents[0].locations.source.as_ref().unwrap().file;
    for (i, (e, l)) in eager.documents.iter().zip(&lazy.documents).enumerate() {
        assert_eq!(l.value, e.value);
        assert_eq!(l.locations.document(), Some(i));
        // Every document of the file shares it: one parse builds the locations of all.
        let shared = &l.locations.source.as_ref().unwrap().file;
        assert!(std::sync::Arc::ptr_eq(shared, file), "document {i}");
        assert_eq!(
            file.indexes.get().is_none(),
            i == 0,
            "document {i}: built before any was asked, or again"
        );
        assert_eq!(l.locations.key("/m/c"), e.locations.key("/m/c"));
        assert!(l.locations.index.get().is_none(), "document {i}");
        assert_eq!(
            Some(l.locations.index()),
            e.locations.index.get(),
            "document {i}"
        );
    }
    let span = lazy.documents[1].locations.value("/list/0/b/1").unwrap();
    assert_eq!((span.start.line, span.start.column), (5, 13));
    let merged = lazy.documents[1].locations.key("/m/c").unwrap();
    assert_eq!(
        (merged.start.line, merged.start.column),
        (8, 7),
        "at the `<<` it came from"
    );
}

#[test]
fn line_widths_count_characters_and_end_lines_at_crlf_cr_and_lf() {
    use super::line_widths;
    assert_eq!(line_widths(""), [0]);
    assert_eq!(line_widths("x\n"), [1, 0]);
    assert_eq!(line_widths("a\r\nbé\rc\n\nd"), [1, 2, 1, 0, 1]);
    assert_eq!(line_widths("\r\r\n\n"), [0, 0, 0, 0]);
    assert_eq!(line_widths("key: «☃»"), [8]);
}

#[test]
fn an_error_at_the_end_of_the_text_is_placed_inside_it_either_way() {
    // The parser reports this unclosed flow sequence on line 2, past the text's one line.
    let text = "key: [a";
    let eager = parse(text);
    let lazy = parse_lazily(&std::sync::Arc::from(text), usize::MAX);
    assert_eq!(eager.errors, lazy.errors);
    assert_eq!(lazy.errors[0].span, Some(Span::point(1, 8)));
}

#[test]
fn a_document_cut_short_by_a_syntax_error_still_names_its_key() {
    for (text, key) in [
        ("key: a\nname: [x\n", "a"),
        // Written twice: the value the mapping would hold, the last.
        ("key: a\nkey: b\nname: [x\n", "b"),
    ] {
        let parsed = parse(text);
        assert!(parsed.documents.is_empty(), "{text:?}");
        assert_eq!(parsed.dropped_keys, [key], "{text:?}");
    }
    // A key whose value was never read names nothing.
    assert!(parse("name: x\nkey: [a\n").dropped_keys.is_empty());
}

/// saphyr-parser 0.3.4: a block scalar at a document's root, not indented, ends at the next
/// `---` (0.3.3 took that line and the flag after it into the scalar, so the flag was lost).
#[test]
fn a_document_marker_ends_a_root_block_scalar() {
    let parsed = parse("--- |\nnotes on this file\n---\nkey: second\n");
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let values: Vec<&Value> = parsed.documents.iter().map(|d| &d.value).collect();
    assert_eq!(
        values,
        [
            &Value::from("notes on this file\n"),
            &serde_json::json!({"key": "second"})
        ]
    );
}
