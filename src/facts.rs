//! What each host runs now: OS suite, APT sources, package versions, services,
//! disk, migration state. Gathered through `remote`; never changes a host.
