//! One module per file format certsd reads or writes. Each parses into a
//! typed read model (with lines for messages) and offers `&mut`-free edits
//! that return the new text; none of them touches the disk.

pub mod containerd_config;
pub mod hosts_toml;
pub mod pem;
pub mod planfile;
pub mod spec;
mod templates;
pub mod toml_util;
