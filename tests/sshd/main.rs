//! Integration tests against a real OpenSSH server on loopback (started by
//! each test, see `harness`): the remote transport and facts gathering.

mod facts;
mod forgery;
mod halfopen;
mod harness;
mod jump;
mod netns;
mod remote;
