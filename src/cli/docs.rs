//! `certsd completions SHELL` and `certsd man`: both generated from the
//! clap model, so they never drift from the flags.

use std::io::Write;

use anyhow::Result;
use clap::CommandFactory;

use super::Cli;

/// Writes the completion script for `shell`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) -> Result<()> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "certsd", out);
    out.flush()?;
    Ok(())
}

/// Writes the man page (roff): options, then the subcommands with their summaries.
pub fn man(out: &mut dyn Write) -> Result<()> {
    clap_mangen::Man::new(Cli::command()).render(out)?;
    out.flush()?;
    Ok(())
}
