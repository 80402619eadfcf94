//! /etc/gunicorn.d/*: the gunicorn CONFIG editor.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use snf_upgrade::edits::gunicorn::convert;

fuzz_target!(|data: &[u8]| {
    let Some(text) = common::text(data) else { return };
    common::check(&text, convert("fuzz", &text), |t| convert("fuzz", t));
});
