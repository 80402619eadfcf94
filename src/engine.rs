//! Executes a plan: dependency order, concurrency, timeouts, retries, a SQLite
//! journal, resume, one lock per cluster. Every step observes, acts, verifies.
