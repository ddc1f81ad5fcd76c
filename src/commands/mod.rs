//! The subcommands: thin glue from settings to the core and back to the user.

pub mod ansible;
pub mod cert;
pub mod doctor;
pub mod planfile;
pub mod rollback;
pub mod source;
pub mod trust;
pub mod validate;
