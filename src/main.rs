//! The `snf-upgrade` binary: parse the command line, run, map the outcome to
//! an exit status. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = snf_upgrade::cli::Cli::parse();
    let verbose = cli.verbose;
    snf_upgrade::cli::init_logging(cli.verbose, cli.quiet);
    match snf_upgrade::cli::run(cli) {
        Ok(status) => status.into(),
        Err(err) => {
            // One clear sentence for the operator: what failed and, when it
            // differs, the root cause; the whole chain only at -v.
            if verbose == 0 {
                let root = err.root_cause().to_string();
                if err.chain().count() > 1 && root != err.to_string() {
                    eprintln!("error: {err}: {root}");
                } else {
                    eprintln!("error: {err}");
                }
            } else {
                eprintln!("error: {err}");
                for cause in err.chain().skip(1) {
                    eprintln!("  caused by: {cause}");
                }
            }
            snf_upgrade::Status::Error.into()
        }
    }
}
