//! The site inventory: hosts, roles, SSH endpoints, Ganeti clusters. Parsing
//! and validation touch no network. Format: `docs/inventory.md`.
