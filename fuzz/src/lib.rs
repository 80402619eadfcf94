//! The config editors of snf-upgrade compiled alone for fuzzing: the very
//! source files of `src/edits*` (through `#[path]`), without the rest of the
//! crate (its SSH, RAPI and async stacks), so a fuzz build stays small enough
//! for CI. `edits` needs nothing from the crate but `Status`, mirrored here.

/// Mirror of `snf_upgrade::Status` (the only item `edits` uses from its crate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Success,
    Findings,
    Error,
}

#[path = "../../src/edits.rs"]
pub mod edits;
