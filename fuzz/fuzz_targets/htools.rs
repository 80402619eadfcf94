//! The htools text format: a file that parses is written back and parses
//! to the same snapshot (and the writer is stable); an error names a line
//! and column inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snf_upgrade::ganeti::htools::{parse, write};
use snf_upgrade::ganeti::model::ModelError;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse(text, "fuzz.data") {
        Ok(snap) => {
            let written = write(&snap);
            let again = parse(&written, "written.data")
                .unwrap_or_else(|e| panic!("the written file does not parse: {e}\n{written}"));
            assert_eq!(
                again, snap,
                "the written file is another snapshot:\n{written}"
            );
            assert_eq!(write(&again), written, "writing again changed the text");
        }
        Err(ModelError::Parse {
            line,
            column,
            message,
            ..
        }) => {
            let lines: Vec<&str> = text.split('\n').collect();
            assert!(
                line >= 1 && line <= lines.len().max(1),
                "line {line} outside the input: {message}"
            );
            let width = lines.get(line - 1).map_or(0, |l| l.chars().count());
            assert!(
                column >= 1 && column <= width + 1,
                "column {column} outside line {line}: {message}"
            );
        }
        Err(e) => panic!("an error without a position: {e}"),
    }
});
