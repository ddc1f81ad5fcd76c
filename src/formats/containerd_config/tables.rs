//! Where things are in a config.toml, for readers that judge the file as
//! each containerd would read it (doctor): the declared `version` and its
//! line, every plugin table, and every CRI `registry` table under any of the
//! names containerd has used, not only the one the file's version reads.

use toml_edit::{Document, Item, Key, Table, TableLike};

use super::{ContainerdConfig, dotted};
use crate::formats::toml_util::line_col;
use crate::version::ConfigVersion;

/// The plugin names that have held the CRI `registry` table: the version 1
/// short name, the 1.x (version 2) name, and the 2.x images plugin.
pub const REGISTRY_PLUGINS: [&str; 3] = [
    "cri",
    "io.containerd.grpc.v1.cri",
    "io.containerd.cri.v1.images",
];

/// One `plugins.<name>.registry` table as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenRegistry {
    /// The plugin name (one of [`REGISTRY_PLUGINS`]).
    pub plugin: &'static str,
    /// The dotted table name, for messages.
    pub name: String,
    /// The table's line (its header, or the key that opens it).
    pub line: usize,
    /// `config_path` when it is a string.
    pub config_path: Option<String>,
    /// The line of `config_path` (0 when absent).
    pub config_path_line: usize,
    /// The legacy keys present and not empty (`mirrors`, `configs`,
    /// `auths`), each with its line.
    pub legacy: Vec<(&'static str, usize)>,
    /// Every key that sets something (empty sub-tables left out).
    pub keys: Vec<String>,
}

impl ContainerdConfig {
    /// The `version` the file declares and its line; `None` when it has no
    /// `version` key (containerd then reads it as version 1).
    pub fn declared_version(&self) -> Option<(ConfigVersion, usize)> {
        let doc = self.spanned()?;
        doc.get("version")?;
        Some((self.version, self.key_line(doc.as_table(), "version")))
    }

    /// The text parsed again with spans (the editable document has none);
    /// it parsed once already, so this only fails for a template.
    fn spanned(&self) -> Option<Document<&str>> {
        Document::parse(self.original.as_str()).ok()
    }

    /// The line of the `config_path` the file itself points at (0 when absent).
    pub fn config_path_line(&self) -> usize {
        let Ok(effective) = self.effective(None) else {
            return 0;
        };
        let plugin = effective.table.path()[1];
        self.registry_tables()
            .into_iter()
            .find(|t| t.plugin == plugin)
            .map_or(0, |t| t.config_path_line)
    }

    /// Every `plugins.<name>` table, with its line, in file order.
    pub fn plugin_tables(&self) -> Vec<(String, usize)> {
        let Some(doc) = self.spanned() else {
            return Vec::new();
        };
        let Some(plugins) = doc.get("plugins").and_then(Item::as_table_like) else {
            return Vec::new();
        };
        plugins
            .iter()
            .filter(|(_, item)| item.is_table_like())
            .map(|(name, item)| (name.to_string(), self.item_line(plugins, name, item)))
            .collect()
    }

    /// Every CRI `registry` table, under whichever plugin name it is written.
    pub fn registry_tables(&self) -> Vec<WrittenRegistry> {
        let Some(doc) = self.spanned() else {
            return Vec::new();
        };
        let Some(plugins) = doc.get("plugins").and_then(Item::as_table_like) else {
            return Vec::new();
        };
        REGISTRY_PLUGINS
            .iter()
            .filter_map(|plugin| {
                let cri = plugins.get(plugin)?.as_table_like()?;
                let item = cri.get("registry")?;
                let table = item.as_table_like()?;
                Some(self.registry_table(plugin, table, self.item_line(cri, "registry", item)))
            })
            .collect()
    }

    fn registry_table(
        &self,
        plugin: &'static str,
        table: &dyn TableLike,
        line: usize,
    ) -> WrittenRegistry {
        let mut legacy = Vec::new();
        for key in ["mirrors", "configs", "auths"] {
            let Some(item) = table.get(key) else {
                continue;
            };
            // Empty tables (1.x's default config has all three) change nothing.
            if !item.as_table_like().is_some_and(TableLike::is_empty) {
                legacy.push((key, self.item_line(table, key, item)));
            }
        }
        WrittenRegistry {
            plugin,
            name: dotted(&["plugins", plugin, "registry"]),
            line,
            config_path: table
                .get("config_path")
                .and_then(Item::as_str)
                .map(String::from),
            config_path_line: self.key_line(table, "config_path"),
            legacy,
            keys: table
                .iter()
                .filter(|(_, item)| !item.as_table_like().is_some_and(TableLike::is_empty))
                .map(|(k, _)| k.to_string())
                .collect(),
        }
    }

    /// The line of a key (0 when absent or unplaced).
    fn key_line(&self, table: &dyn TableLike, key: &str) -> usize {
        table
            .key(key)
            .and_then(Key::span)
            .map_or(0, |s| line_col(&self.original, s.start).0)
    }

    /// A table's header line, else the line of the key that names it.
    fn item_line(&self, parent: &dyn TableLike, key: &str, item: &Item) -> usize {
        item.as_table().and_then(Table::span).map_or_else(
            || self.key_line(parent, key),
            |s| line_col(&self.original, s.start).0,
        )
    }
}
