//! Commands and files on hosts through the system OpenSSH client, with
//! connection multiplexing and verified host keys; a local transport for tests.
