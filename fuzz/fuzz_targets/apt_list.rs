//! One-line APT sources (.list): parser and suite mapping.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use snf_upgrade::edits::apt::convert_list;

fuzz_target!(|data: &[u8]| {
    let Some(text) = common::text(data) else { return };
    let map = common::suite_map();
    common::check(&text, convert_list("fuzz", &text, &map), |t| convert_list("fuzz", t, &map));
});
