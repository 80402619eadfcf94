//! Checks shared by the fuzz targets: an editor never panics; its errors
//! carry a line and column inside the input; what it converts parses again
//! and a second run changes nothing.

#![allow(dead_code)]
use snf_upgrade::edits::{text_from_bytes, EditError, Edited};

/// The input as text, or None after checking that invalid UTF-8 is located.
pub fn text(data: &[u8]) -> Option<String> {
    match text_from_bytes("fuzz", data.to_vec()) {
        Ok(t) => Some(t),
        Err(e) => {
            let valid = String::from_utf8_lossy(data).into_owned();
            located(&valid, &e);
            None
        }
    }
}

/// An error must name a line and column that exist in `text`.
pub fn located(text: &str, e: &EditError) {
    match e {
        EditError::Parse { line, column, .. } => {
            let lines: Vec<&str> = text.split('\n').collect();
            assert!(*line >= 1 && *line <= lines.len(), "line {line} outside the input: {e}");
            let width = lines[line - 1].chars().count();
            assert!(*column >= 1 && *column <= width + 1, "column {column} outside line {line}: {e}");
        }
        other => panic!("an error without a position (a validation failure is a bug): {other}"),
    }
}

/// Checks one editor run and, when it converted, that a second run is a no-op.
pub fn check(text: &str, result: Result<Edited, EditError>, again: impl Fn(&str) -> Result<Edited, EditError>) {
    match result {
        Ok(out) if out.new != text => {
            assert!(!out.changes.is_empty(), "text changed without a change listed");
            let second = again(&out.new).unwrap_or_else(|e| panic!("converted text does not parse: {e}\n{}", out.new));
            assert_eq!(second.new, out.new, "a second run changed the text again");
        }
        Ok(out) => assert!(out.changes.is_empty(), "changes listed but the text is the same"),
        Err(e) => located(text, &e),
    }
}

/// The suite pairs the APT targets map: the Synnefo one, the lab's, and one
/// more so that chains (a target that is also a source) are exercised.
pub fn suite_map() -> snf_upgrade::edits::apt::SuiteMap {
    let mut map = snf_upgrade::edits::apt::SuiteMap::default();
    map.add("wheezy", "jessie");
    map.add("bookworm", "trixie");
    map.add("buster", "bullseye");
    map
}
