//! clap types for `certsd cert ...` (issue 3 fills these in).

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum CertCommand {}
