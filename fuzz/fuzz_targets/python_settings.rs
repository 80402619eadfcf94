//! /etc/synnefo/*.conf: the settings editor on one or two files (the input
//! is split at the first NUL byte), as Synnefo reads them in order.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use snf_upgrade::edits::settings::{convert, SettingsOptions};

fuzz_target!(|data: &[u8]| {
    let Some(text) = common::text(data) else { return };
    let files: Vec<(String, String)> = match text.split_once('\0') {
        Some((a, b)) => vec![
            ("10-snf-webproject-deploy.conf".into(), a.to_string()),
            ("20-snf-cyclades-app-api.conf".into(), b.to_string()),
        ],
        None => vec![("20-snf-cyclades-app-api.conf".into(), text.clone())],
    };
    let opts = SettingsOptions::default();
    match convert(&files, &opts) {
        Ok(results) => {
            let new: Vec<(String, String)> =
                files.iter().zip(&results).map(|((n, _), r)| (n.clone(), r.new.clone())).collect();
            if new != files {
                let again = convert(&new, &opts).unwrap_or_else(|e| panic!("converted settings do not parse: {e}"));
                for (r, (_, t)) in again.iter().zip(&new) {
                    assert_eq!(&r.new, t, "a second run changed the settings again");
                }
            }
        }
        Err(e) => {
            let file = match &e {
                snf_upgrade::edits::EditError::Parse { file, .. } => file.clone(),
                _ => String::new(),
            };
            let text = files.iter().find(|(n, _)| *n == file).map_or("", |(_, t)| t.as_str());
            common::located(text, &e);
        }
    }
});
