//! snf-upgrade: rolling, resumable upgrades of Synnefo sites and Ganeti
//! clusters.
//!
//! Data flows one way: inventory + facts from the hosts → checks → plan →
//! apply → journal → report. Each module owns one of those jobs (see
//! `DESIGN.md`'s table); `cli` only wires them to the command line.

pub mod checks;
pub mod cli;
pub mod edits;
pub mod engine;
pub mod facts;
pub mod fsutil;
pub mod ganeti;
pub mod inventory;
pub mod planner;
pub mod remote;
pub mod report;
pub mod runbook;
pub mod text;

/// How a command ended, as the process exit status. Every command maps its
/// outcome to one of these in one place (`cli::run`), so scripts can rely on
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Done; nothing wrong, or nothing to do.
    Success,
    /// The command ran and found something the operator must look at: a check
    /// that FAILed, a host that could not be reached, changes shown but not
    /// written.
    Findings,
    /// Bad input or an error before anything changed (malformed inventory,
    /// unparseable config file, unknown version).
    Error,
}

impl From<Status> for std::process::ExitCode {
    fn from(status: Status) -> Self {
        match status {
            Status::Success => 0.into(),
            Status::Findings => 1.into(),
            Status::Error => 2.into(),
        }
    }
}
