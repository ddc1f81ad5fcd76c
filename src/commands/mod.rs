//! One module per subcommand family: each turns clap arguments into settings
//! and calls the core.

pub mod cert;
