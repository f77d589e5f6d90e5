//! Saved plans: `plan --out FILE` writes the changeset with a fingerprint of the live
//! state it was computed from; `apply FILE` runs exactly that changeset, and refuses
//! if the live state (or the plan file) changed since.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Changeset;

pub const SAVED_KIND: &str = "sagevpc-saved-plan";
pub const SAVED_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedPlan {
    pub kind: String,
    pub format_version: u32,
    /// The plan file the changeset was computed from (absolute path).
    pub plan_file: PathBuf,
    /// sha256 of the plan file's text when the changeset was computed.
    pub plan_sha256: String,
    /// `Observed::fingerprint()` of the state the changeset was computed from.
    pub observed_fingerprint: String,
    pub changeset: Changeset,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl SavedPlan {
    /// Read a saved plan if `path` is one (JSON with our `kind`); `Ok(None)` for
    /// anything else (a TOML plan file).
    pub fn read(path: &Path) -> Result<Option<SavedPlan>, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        if !text.trim_start().starts_with('{') {
            return Ok(None);
        }
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            format!(
                "{}:{}:{}: not a saved plan: {e}",
                path.display(),
                e.line(),
                e.column()
            )
        })?;
        if v.get("kind").and_then(|k| k.as_str()) != Some(SAVED_KIND) {
            return Err(format!(
                "{}: JSON file is not a sagevpc saved plan (kind {SAVED_KIND:?})",
                path.display()
            ));
        }
        let saved: SavedPlan = serde_json::from_value(v)
            .map_err(|e| format!("{}: saved plan is malformed: {e}", path.display()))?;
        if saved.format_version != SAVED_VERSION {
            return Err(format!(
                "{}: saved plan format {} is not supported (expected {SAVED_VERSION})",
                path.display(),
                saved.format_version
            ));
        }
        Ok(Some(saved))
    }

    pub fn write(&self, path: &Path) -> Result<(), String> {
        let text = serde_json::to_string_pretty(self).expect("saved plan serialises");
        std::fs::write(path, text + "\n")
            .map_err(|e| format!("{}: cannot write saved plan: {e}", path.display()))
    }
}
