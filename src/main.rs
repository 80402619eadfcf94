//! The `snf-upgrade` binary: parse the command line, run, map the outcome to
//! an exit status. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = snf_upgrade::cli::Cli::parse();
    snf_upgrade::cli::init_logging(cli.verbose, cli.quiet);
    match snf_upgrade::cli::run(cli) {
        Ok(status) => status.into(),
        Err(err) => {
            // One clear sentence for the operator; the cause chain only at -v.
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            snf_upgrade::Status::Error.into()
        }
    }
}
