//! The parsers of snf-upgrade compiled alone for fuzzing: the very source
//! files of `src/edits*`, `src/inventory*` and the htools format (through
//! `#[path]`), without the rest of the crate (its SSH, RAPI and async
//! stacks), so a fuzz build stays small enough for CI: these modules reach
//! no further than `text` and `fsutil`. `edits` needs nothing from the crate
//! but `Status`, mirrored here.

/// Mirror of `snf_upgrade::Status` (the only item `edits` uses from its crate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Success,
    Findings,
    Error,
}

#[path = "../../src/edits.rs"]
pub mod edits;

#[path = "../../src/text.rs"]
pub mod text;

#[path = "../../src/fsutil.rs"]
pub mod fsutil;

#[path = "../../src/inventory.rs"]
pub mod inventory;

#[path = "../../src/ganeti"]
pub mod ganeti {
    pub mod htools;
    pub mod model;
}
