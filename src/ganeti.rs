//! Typed Ganeti RAPI client and the cluster snapshot model shared with the
//! planner.
