//! Rolling upgrade planner: groups of nodes and the moves that empty them.
//! Pure: no I/O, no clock, no randomness.
