//! The `certsd` binary: parse the command line, run, print one error line, exit.
//!
//! Errors are printed here rather than returned from `main` so that a
//! `RUST_BACKTRACE=1` environment does not turn every bad input into a backtrace.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Ansible runs a binary module as `certsd ARGS_FILE`; no normal command
    // line has that shape (README "certsd as an Ansible module").
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(code) = certsd::run_as_ansible_module(&args) {
        return code;
    }
    let cli = match certsd::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return certsd::exit_codes::clap_error(&err),
    };
    match certsd::run(&cli) {
        Ok(code) => code.into(),
        Err(err) => {
            if certsd::exit_codes::is_broken_pipe(&err) {
                return certsd::exit_codes::Code::Success.into();
            }
            let code = certsd::exit_codes::Code::for_error(&err);
            let _ = writeln!(std::io::stderr(), "error: {err:#}");
            code.into()
        }
    }
}
