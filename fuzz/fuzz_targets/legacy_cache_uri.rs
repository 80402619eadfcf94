//! Django 1.4 cache URIs and the derivation of the three 0.19 caches.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snf_upgrade::edits::settings::{derive_caches, parse_legacy_uri};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut parts = text.splitn(3, '\n');
    let (a, b, c) = (parts.next(), parts.next(), parts.next());
    if let Some(a) = a {
        let _ = parse_legacy_uri(a);
    }
    let _ = derive_caches(a, b, c, c.and_then(|c| c.parse().ok()));
});
