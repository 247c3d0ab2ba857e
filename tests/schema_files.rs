//! The committed `schemas/*.json` are exactly what `flagops::schema::generate(None)` produces.

use std::fs;

use crate::support::crate_dir;

#[test]
fn committed_schemas_are_current() {
    let files = flagops::schema::generate(None);
    assert_eq!(
        files.iter().map(|f| f.name).collect::<Vec<_>>(),
        [
            "flagops.schema.json",
            "posthog-flag.schema.json",
            "mixpanel-flag.schema.json"
        ]
    );
    for file in files {
        let path = crate_dir().join("schemas").join(file.name);
        let committed = fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == file.content,
            "`schemas/{}` is out of date: run `cargo run -- schema` and commit the result",
            file.name
        );
    }
}

/// Draft 7: the newest draft `yaml-language-server` (the modeline's editor support) and
/// VS Code's JSON service fully support; with 2020-12 they warn that the draft is "not yet
/// fully supported".
#[test]
fn schemas_are_self_contained_draft_07() {
    for file in flagops::schema::generate(None) {
        let value: serde_json::Value = serde_json::from_str(&file.content).expect("valid JSON");
        assert_eq!(
            value["$schema"], "http://json-schema.org/draft-07/schema#",
            "{}",
            file.name
        );
        // Offline: every `$ref` points inside the document.
        let text = file.content.as_str();
        for (i, _) in text.match_indices("\"$ref\"") {
            let rest = &text[i..];
            let target = rest.split('"').nth(3).unwrap_or_default();
            assert!(
                target.starts_with("#/"),
                "{}: remote $ref `{target}`",
                file.name
            );
        }
    }
}
