//! Apache site files: the section parser and the X-Forwarded-Proto rule.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use snf_upgrade::edits::apache::convert_site;

fuzz_target!(|data: &[u8]| {
    let Some(text) = common::text(data) else { return };
    common::check(&text, convert_site("fuzz", &text), |t| convert_site("fuzz", t));
});
