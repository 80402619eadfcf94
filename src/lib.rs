//! snf-upgrade: rolling, resumable upgrades of Synnefo sites and Ganeti
//! clusters.
//!
//! Data flows one way: inventory + facts from the hosts → checks → plan →
//! apply → journal → report. Each module owns one of those jobs (see
//! `DESIGN.md`'s table); `cli` only wires them to the command line.

pub mod actions;
pub mod apt_sources;
pub mod checks;
pub mod cli;
pub mod edits;
pub mod engine;
pub mod facts;
pub mod fsutil;
pub mod ganeti;
pub mod inventory;
pub mod journal;
pub mod planner;
pub mod remote;
pub mod report;
pub mod runbook;
pub mod text;

/// How a command ended, as the process exit status. Every command maps its
/// outcome to one of these, and only `main` turns it into a number, so
/// scripts can rely on them; the numbers are in `--help`, the man page and
/// the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 0: done; nothing wrong, or nothing to do.
    Success,
    /// 1: the command ran and found something the operator must look at: a
    /// check that FAILed, a host that could not be reached, changes shown but
    /// not written.
    Findings,
    /// 2: bad input or an error before anything changed (malformed inventory,
    /// unparseable config file, unknown version).
    Error,
    /// 3: a step of `apply` failed; the site is where `status` says.
    StepFailed,
    /// 4: refused before any change: preconditions not met, or a stale plan.
    Refused,
    /// 5: another run holds the cluster's lock.
    LockHeld,
    /// 130: interrupted by the operator (128 + SIGINT, as shells report it).
    Interrupted,
}

impl Status {
    /// The process exit status.
    pub fn code(self) -> u8 {
        match self {
            Status::Success => 0,
            Status::Findings => 1,
            Status::Error => 2,
            Status::StepFailed => 3,
            Status::Refused => 4,
            Status::LockHeld => 5,
            Status::Interrupted => 130,
        }
    }

    /// The status an exit code stands for (for callers reading one back).
    pub fn from_code(code: u8) -> Option<Status> {
        [
            Status::Success,
            Status::Findings,
            Status::Error,
            Status::StepFailed,
            Status::Refused,
            Status::LockHeld,
            Status::Interrupted,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }

    /// The more severe of two outcomes (for commands that do several things).
    pub fn worst(self, other: Status) -> Status {
        let rank = |s: Status| match s {
            Status::Success => 0,
            Status::Findings => 1,
            Status::Error => 2,
            Status::Refused => 3,
            Status::LockHeld => 4,
            Status::StepFailed => 5,
            Status::Interrupted => 6,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

impl From<Status> for std::process::ExitCode {
    fn from(status: Status) -> Self {
        status.code().into()
    }
}
