//! Lossless config editors (Python settings, APT sources, Apache sites). Bytes
//! an editor does not understand round-trip unchanged; every edit yields a
//! diff, applies atomically with a backup, and validates its result.
