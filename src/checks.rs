//! Preflight and post-flight checks: facts and the Ganeti model in, a list of
//! PASS/WARN/FAIL findings out. Checks only read; they never change a host.
