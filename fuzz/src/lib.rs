//! The parsers of snf-upgrade compiled alone for fuzzing: the very source
//! files of `src/edits*`, `src/inventory*` and the htools format (through
//! `#[path]`), without the rest of the crate (its SSH, RAPI and async
//! stacks), so a fuzz build stays small enough for CI. `edits` needs from the
//! crate `Status` (mirrored here) and the modules below; `inventory` and
//! `ganeti` reach no further than `text` and `fsutil`.

/// Mirror of `snf_upgrade::Status` (the only item `edits` uses from its crate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Success,
    Findings,
    Error,
}

#[path = "../../src/edits.rs"]
pub mod edits;

// What `edits` uses from the crate: the one APT parser, atomic writes and
// line/column positions.
#[path = "../../src/apt_sources.rs"]
pub mod apt_sources;
#[path = "../../src/fsutil.rs"]
pub mod fsutil;
#[path = "../../src/text.rs"]
pub mod text;

#[path = "../../src/inventory.rs"]
pub mod inventory;

#[path = "../../src/ganeti"]
pub mod ganeti {
    pub mod htools;
    pub mod model;
}
