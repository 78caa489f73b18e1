//! `book/rules-history.toml`: renamed rules keep their old IDs as aliases; retired IDs are
//! never reused.

use std::collections::BTreeMap;
use std::path::Path;

use crate::Diagnostic;

/// Former rule IDs.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct History {
    /// Old ID -> current ID. A case may still cite the old ID.
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
    /// ID -> reason. A retired ID can never name a new rule.
    #[serde(default)]
    pub retired: BTreeMap<String, String>,
}

impl History {
    /// Reads the file; a missing file is an empty history.
    pub fn load(path: &Path, diags: &mut Vec<Diagnostic>) -> History {
        let Ok(text) = std::fs::read_to_string(path) else {
            return History::default();
        };
        match toml::from_str(&text) {
            Ok(h) => h,
            Err(e) => {
                diags.push(Diagnostic::new(
                    "../rules-history.toml",
                    1,
                    format!("malformed rules history: {e}"),
                ));
                History::default()
            }
        }
    }
}
