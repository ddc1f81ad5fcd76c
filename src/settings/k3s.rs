//! placeholder
use std::path::Path;
use anyhow::Result;
use super::RegistryEntry;
pub struct K3s { pub registries: Vec<RegistryEntry>, pub warnings: Vec<String> }
pub fn read(_file: &str, _base: &Path, _bytes: &[u8]) -> Result<K3s> { anyhow::bail!("todo") }
