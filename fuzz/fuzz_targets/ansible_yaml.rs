//! Ansible YAML inventories through `inventory import-ansible` (see ansible.rs).
#![no_main]

mod ansible;
mod site;

libfuzzer_sys::fuzz_target!(|data: &[u8]| ansible::check(data, "hosts.yml"));
