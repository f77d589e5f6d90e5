//! Saved plans: `plan --out FILE` writes the changeset with a fingerprint of the live
//! state it was computed from; `apply FILE` runs exactly that changeset, and refuses if
//! the live state (or the plan file) changed since.
//!
//! A saved plan is self-contained, so it can travel as a CI artifact: it carries the
//! plan file's text and the files the plan names (policies), and a digest of its own
//! changeset, so that a hand-edited saved plan is refused rather than half-honoured.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Changeset;
use crate::observe::Observed;
use crate::plan::Plan;

pub const SAVED_KIND: &str = "sagevpc-saved-plan";
/// 2: per-kind ops, the plan's text and files, the changeset's digest.
pub const SAVED_VERSION: u32 = 2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedPlan {
    pub kind: String,
    pub format_version: u32,
    /// The sagevpc that wrote it.
    pub sagevpc_version: String,
    /// Where the plan file was when the changeset was computed (absolute path).
    pub plan_file: PathBuf,
    /// The plan file's text then.
    pub plan_text: String,
    /// The files the plan names (policy documents), by the path it names them with.
    pub plan_files: BTreeMap<String, String>,
    /// `Observed::fingerprint()` of the state the changeset was computed from.
    pub observed_fingerprint: String,
    pub changeset: Changeset,
    /// sha256 of the changeset as written: a saved plan edited by hand is refused.
    pub changeset_sha256: String,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn changeset_digest(cs: &Changeset) -> String {
    sha256_hex(&serde_json::to_vec(cs).expect("changeset serialises"))
}

/// Whether `path` holds a saved plan (JSON with our `kind`), without judging it.
pub fn is_saved_plan(text: &str) -> bool {
    text.trim_start().starts_with('{')
        && serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v.get("kind")?.as_str().map(|k| k == SAVED_KIND))
            .unwrap_or(false)
}

impl SavedPlan {
    /// The saved form of `cs`, computed from the plan at `path` and the state `obs`.
    pub fn new(
        path: &Path,
        plan: &Plan,
        obs: &Observed,
        cs: &Changeset,
    ) -> Result<SavedPlan, String> {
        let plan_text =
            std::fs::read_to_string(path).map_err(|e| format!("error: {}: {e}", path.display()))?;
        Ok(SavedPlan {
            kind: SAVED_KIND.into(),
            format_version: SAVED_VERSION,
            sagevpc_version: env!("CARGO_PKG_VERSION").into(),
            plan_file: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
            plan_text,
            plan_files: plan.files.clone(),
            observed_fingerprint: obs.fingerprint(),
            changeset_sha256: changeset_digest(cs),
            changeset: cs.clone(),
        })
    }

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
        let version = v
            .get("format_version")
            .and_then(|k| k.as_u64())
            .unwrap_or(0);
        let maker = |which: &str| {
            format!(
                "{}: saved plan format {version} was made by {which} sagevpc (this one reads format {SAVED_VERSION}); run `sagevpc plan --out` again with this version",
                path.display()
            )
        };
        match version.cmp(&u64::from(SAVED_VERSION)) {
            std::cmp::Ordering::Less => return Err(maker("an older")),
            std::cmp::Ordering::Greater => return Err(maker("a newer")),
            std::cmp::Ordering::Equal => {}
        }
        let saved: SavedPlan = serde_json::from_value(v)
            .map_err(|e| format!("{}: saved plan is malformed: {e}", path.display()))?;
        if changeset_digest(&saved.changeset) != saved.changeset_sha256 {
            return Err(format!(
                "{}: the saved changeset does not match its digest: the file was edited after `sagevpc plan --out` wrote it; run `sagevpc plan --out` again",
                path.display()
            ));
        }
        Ok(Some(saved))
    }

    /// The plan the changeset was computed from, as it was then. Refused when the plan
    /// file is still where it was and has changed since.
    pub fn plan(&self) -> Result<Plan, String> {
        if let Ok(now) = std::fs::read_to_string(&self.plan_file) {
            if now != self.plan_text {
                return Err(format!(
                    "error: saved plan is stale: plan file {} changed since the saved plan was made; run `sagevpc plan --out` again. Nothing was changed.",
                    self.plan_file.display()
                ));
            }
        }
        crate::plan::validate_with_files(&self.plan_file, &self.plan_text, &self.plan_files)
            .map_err(|e| format!("{e}\nerror: the plan inside the saved plan is invalid"))
    }

    pub fn write(&self, path: &Path) -> Result<(), String> {
        let text = serde_json::to_string_pretty(self).expect("saved plan serialises");
        std::fs::write(path, text + "\n")
            .map_err(|e| format!("error: {}: cannot write saved plan: {e}", path.display()))
    }
}
