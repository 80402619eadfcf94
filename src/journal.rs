//! The journal: where an apply keeps, durably, everything it did and is about
//! to do, so that a run killed at any moment can be resumed and explained.
//!
//! Embedded SQLite (Debian's libsqlite3 through rusqlite) in WAL mode with
//! `synchronous=FULL`: a write that returned survives a kill -9 or a power
//! loss. Each step's intent is written *before* it acts and its result after
//! it verifies; every state change is a row in `transitions` with its time.
//! Output kept here is bounded (`OUTPUT_LIMIT`, its tail) and scrubbed of
//! secrets (`scrub`). The journal never decides: it records what the engine
//! and the actions say, and answers what they ask.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::actions::{ActionError, Intent, IntentStore};
pub use crate::text::scrub;
use crate::text::tail;

pub use crate::text::OUTPUT_LIMIT;

/// The journal's own schema version (`PRAGMA user_version`).
const SCHEMA: i64 = 1;

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// Not started.
    Pending,
    /// Started (its intent may hold job ids); a resume observes it again.
    Running,
    /// Verified.
    Done,
    /// Failed; the error says why.
    Failed,
}

impl StepState {
    fn as_str(self) -> &'static str {
        match self {
            StepState::Pending => "pending",
            StepState::Running => "running",
            StepState::Done => "done",
            StepState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<StepState, JournalError> {
        Ok(match s {
            "pending" => StepState::Pending,
            "running" => StepState::Running,
            "done" => StepState::Done,
            "failed" => StepState::Failed,
            other => {
                return Err(JournalError::Corrupt(format!(
                    "unknown step state {other:?}"
                )))
            }
        })
    }
}

/// One step as the journal has it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRecord {
    pub id: String,
    pub state: StepState,
    pub attempts: u32,
    pub intent: Intent,
    /// Seconds since the epoch.
    pub started_at: Option<f64>,
    pub ended_at: Option<f64>,
    pub error: Option<String>,
    /// Bounded, scrubbed.
    pub output: String,
}

/// The journal could not be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
    #[error("journal is not usable: {0}")]
    Corrupt(String),
}

/// An open journal.
pub struct Journal {
    conn: std::sync::Mutex<Connection>,
    path: String,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Journal {
    /// Opens (creating if missing) the journal at `path`, mode 0600.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        let shown = path.display().to_string();
        let err = |source| JournalError::Sqlite {
            path: shown.clone(),
            source,
        };
        let conn = Connection::open(path).map_err(err)?;
        // Private: it holds job ids, host names and command output.
        let _ = std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600));
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=FULL;
             PRAGMA busy_timeout=5000;",
        )
        .map_err(err)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(err)?;
        if version > SCHEMA {
            return Err(JournalError::Corrupt(format!(
                "{shown} has schema {version}, this snf-upgrade knows up to {SCHEMA}"
            )));
        }
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS steps (
                 id TEXT PRIMARY KEY,
                 state TEXT NOT NULL,
                 attempts INTEGER NOT NULL DEFAULT 0,
                 intent TEXT NOT NULL DEFAULT '{}',
                 started_at REAL,
                 ended_at REAL,
                 error TEXT,
                 output TEXT NOT NULL DEFAULT ''
             );
             CREATE TABLE IF NOT EXISTS transitions (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT,
                 step TEXT NOT NULL,
                 from_state TEXT NOT NULL,
                 to_state TEXT NOT NULL,
                 at REAL NOT NULL,
                 detail TEXT
             );
             CREATE TABLE IF NOT EXISTS samples (
                 at REAL NOT NULL,
                 instance TEXT NOT NULL,
                 up INTEGER NOT NULL,
                 source TEXT NOT NULL
             );
             PRAGMA user_version = 1;",
        )
        .map_err(err)?;
        Ok(Journal {
            conn: std::sync::Mutex::new(conn),
            path: shown,
        })
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> JournalError + '_ {
        |source| JournalError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Sets a value of the run (plan digest, owner...).
    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), JournalError> {
        self.conn
            .lock()
            .unwrap()
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map_err(self.err())?;
        Ok(())
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>, JournalError> {
        self.conn
            .lock()
            .unwrap()
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(self.err())
    }

    /// A step's record; a step never seen is pending.
    pub fn step(&self, id: &str) -> Result<StepRecord, JournalError> {
        let conn = self.conn.lock().unwrap();
        let row = conn
            .query_row(
                "SELECT state, attempts, intent, started_at, ended_at, error, output
                 FROM steps WHERE id = ?1",
                [id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, u32>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<f64>>(3)?,
                        r.get::<_, Option<f64>>(4)?,
                        r.get::<_, Option<String>>(5)?,
                        r.get::<_, String>(6)?,
                    ))
                },
            )
            .optional()
            .map_err(self.err())?;
        let Some((state, attempts, intent, started_at, ended_at, error, output)) = row else {
            return Ok(StepRecord {
                id: id.to_string(),
                state: StepState::Pending,
                attempts: 0,
                intent: Intent::default(),
                started_at: None,
                ended_at: None,
                error: None,
                output: String::new(),
            });
        };
        Ok(StepRecord {
            id: id.to_string(),
            state: StepState::parse(&state)?,
            attempts,
            intent: serde_json::from_str(&intent)
                .map_err(|e| JournalError::Corrupt(format!("step {id}: intent: {e}")))?,
            started_at,
            ended_at,
            error,
            output,
        })
    }

    /// Moves a step to `to`, with a transition row, in one transaction.
    /// `Running` counts an attempt and stamps the start; `Done` and `Failed`
    /// stamp the end (and `error` for a failure).
    pub fn transition(
        &self,
        id: &str,
        to: StepState,
        detail: Option<&str>,
    ) -> Result<(), JournalError> {
        let from = self.step(id)?.state;
        let mut conn = self.conn.lock().unwrap();
        let tx = conn.transaction().map_err(self.err())?;
        let at = now();
        tx.execute(
            "INSERT INTO steps (id, state) VALUES (?1, 'pending') ON CONFLICT(id) DO NOTHING",
            [id],
        )
        .map_err(self.err())?;
        match to {
            StepState::Running => tx.execute(
                "UPDATE steps SET state = 'running', attempts = attempts + 1,
                     started_at = COALESCE(started_at, ?2), ended_at = NULL, error = NULL
                 WHERE id = ?1",
                params![id, at],
            ),
            StepState::Done => tx.execute(
                "UPDATE steps SET state = 'done', ended_at = ?2, error = NULL WHERE id = ?1",
                params![id, at],
            ),
            StepState::Failed => tx.execute(
                "UPDATE steps SET state = 'failed', ended_at = ?2, error = ?3 WHERE id = ?1",
                params![id, at, detail],
            ),
            StepState::Pending => tx.execute(
                "UPDATE steps SET state = 'pending' WHERE id = ?1",
                params![id],
            ),
        }
        .map_err(self.err())?;
        tx.execute(
            "INSERT INTO transitions (step, from_state, to_state, at, detail)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, from.as_str(), to.as_str(), at, detail],
        )
        .map_err(self.err())?;
        tx.commit().map_err(self.err())
    }

    /// Appends to a step's output, keeping the last `OUTPUT_LIMIT` bytes,
    /// secrets scrubbed.
    pub fn append_output(&self, id: &str, text: &str) -> Result<(), JournalError> {
        let mut out = self.step(id)?.output;
        out.push_str(&scrub(text));
        let out = tail(&out, OUTPUT_LIMIT).to_string();
        let conn = self.conn.lock().unwrap();
        conn.execute(
            "INSERT INTO steps (id, state, output) VALUES (?1, 'pending', ?2)
             ON CONFLICT(id) DO UPDATE SET output = excluded.output",
            params![id, out],
        )
        .map_err(self.err())?;
        Ok(())
    }

    /// Every step's transitions in order: (step, from, to, time).
    pub fn transitions(&self) -> Result<Vec<(String, StepState, StepState, f64)>, JournalError> {
        let conn = self.conn.lock().unwrap();
        let mut stmt = conn
            .prepare("SELECT step, from_state, to_state, at FROM transitions ORDER BY seq")
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, f64>(3)?,
                ))
            })
            .map_err(self.err())?;
        let mut out = Vec::new();
        for row in rows {
            let (s, f, t, at) = row.map_err(self.err())?;
            out.push((s, StepState::parse(&f)?, StepState::parse(&t)?, at));
        }
        Ok(out)
    }

    /// One availability sample of an instance (the watcher's).
    pub fn sample(
        &self,
        at: f64,
        instance: &str,
        up: bool,
        source: &str,
    ) -> Result<(), JournalError> {
        self.conn
            .lock()
            .unwrap()
            .execute(
                "INSERT INTO samples (at, instance, up, source) VALUES (?1, ?2, ?3, ?4)",
                params![at, instance, up as i64, source],
            )
            .map_err(self.err())?;
        Ok(())
    }
}

impl IntentStore for Journal {
    fn load(&self, step: &str) -> Result<Intent, ActionError> {
        self.step(step)
            .map(|r| r.intent)
            .map_err(|e| ActionError::Store(e.to_string()))
    }

    /// Durable when it returns (WAL, synchronous=FULL): the act follows.
    fn save(&self, step: &str, intent: &Intent) -> Result<(), ActionError> {
        let text = serde_json::to_string(intent).expect("intents serialise");
        self.conn
            .lock()
            .unwrap()
            .execute(
                "INSERT INTO steps (id, state, intent) VALUES (?1, 'running', ?2)
                 ON CONFLICT(id) DO UPDATE SET intent = excluded.intent",
                params![step, text],
            )
            .map(|_| ())
            .map_err(|e| ActionError::Store(format!("journal {}: {e}", self.path)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_move_through_states_with_a_transition_each() {
        let d = tempfile::tempdir().unwrap();
        let j = Journal::open(&d.path().join("j.sqlite")).unwrap();
        assert_eq!(j.step("a").unwrap().state, StepState::Pending);
        j.transition("a", StepState::Running, None).unwrap();
        j.transition("a", StepState::Failed, Some("boom")).unwrap();
        j.transition("a", StepState::Running, None).unwrap();
        j.transition("a", StepState::Done, None).unwrap();
        let r = j.step("a").unwrap();
        assert_eq!((r.state, r.attempts, r.error), (StepState::Done, 2, None));
        assert!(r.ended_at.unwrap() >= r.started_at.unwrap());
        let t: Vec<_> = j.transitions().unwrap().into_iter().map(|t| t.2).collect();
        assert_eq!(
            t,
            [
                StepState::Running,
                StepState::Failed,
                StepState::Running,
                StepState::Done
            ]
        );
    }

    #[test]
    fn intents_survive_reopening_and_output_is_bounded() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("j.sqlite");
        {
            let j = Journal::open(&path).unwrap();
            let i = Intent {
                started: true,
                jobs: vec![42],
                ..Intent::default()
            };
            j.save("m", &i).unwrap();
            j.append_output("m", &"x".repeat(OUTPUT_LIMIT)).unwrap();
            j.append_output("m", "last line\n").unwrap();
        }
        let j = Journal::open(&path).unwrap();
        assert_eq!(j.load("m").unwrap().jobs, vec![42]);
        let out = j.step("m").unwrap().output;
        assert_eq!(out.len(), OUTPUT_LIMIT);
        assert!(out.ends_with("last line\n"));
        let mode = std::fs::metadata(&path).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
    }
}
