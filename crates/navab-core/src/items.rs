//! Any evaluation data as [`PreferenceItem`]s: the NaVAB layout, triples JSONL, preference JSONL
//! and LLaMA-Factory JSON arrays behind one reader, so every evaluation reads the same inputs.

use std::path::Path;

use crate::error::Result;
use crate::read::{Loaded, ReadOptions};
use crate::types::{PreferenceItem, StatementSet, Triple};
use crate::{
    read_navab_dir, read_navab_file, read_preferences_json, read_preferences_jsonl,
    read_triples_jsonl, PreferenceFields,
};

/// The layout of evaluation data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DataFormat {
    /// Guess from the path: a directory or a `*_statement_result.json` is NaVAB, another `*.json`
    /// is a JSON array of preference records (LLaMA-Factory DPO), a `*.jsonl` whose first
    /// record has `reverse_statement` is triples, any other `*.jsonl` preference data.
    #[default]
    Auto,
    /// The published NaVAB layout (`<Nation>/{human,official}_statement_result.json`), a
    /// directory of nations or one file.
    Navab,
    /// JSONL of triples as navab-core writes them.
    Triples,
    /// Preference JSONL (MVPBench-style or LLaMA-Factory lines).
    Preferences,
    /// A JSON array of preference records (LLaMA-Factory's DPO file).
    PreferencesJson,
}

/// Reads `path` as `format` into preference items (triples through [`Triple::to_preference`],
/// so they carry `nation` and `set` in their metadata).
pub fn read_items(
    path: &Path,
    format: DataFormat,
    options: &ReadOptions,
) -> Result<Loaded<PreferenceItem>> {
    let triples = |loaded: Loaded<Triple>| Loaded {
        items: loaded.items.iter().map(Triple::to_preference).collect(),
        skipped: loaded.skipped,
    };
    let fields = PreferenceFields::default();
    match resolve(path, format)? {
        DataFormat::Navab if path.is_dir() => Ok(triples(read_navab_dir(path, options)?)),
        DataFormat::Navab => {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let set: StatementSet = name.parse()?;
            let nation = path
                .parent()
                .and_then(|p| p.canonicalize().ok())
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_default()
                .parse()
                .unwrap_or_else(|never| match never {});
            Ok(triples(read_navab_file(path, nation, set, options)?))
        }
        DataFormat::Triples => Ok(triples(read_triples_jsonl(path, options)?)),
        DataFormat::PreferencesJson => read_preferences_json(path, options, &fields),
        _ => read_preferences_jsonl(path, options, &fields),
    }
}

/// The concrete format of `path` for [`DataFormat::Auto`].
fn resolve(path: &Path, format: DataFormat) -> Result<DataFormat> {
    if format != DataFormat::Auto {
        return Ok(format);
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    if path.is_dir() || name.ends_with("_statement_result.json") {
        return Ok(DataFormat::Navab);
    }
    if name.ends_with(".json") {
        return Ok(DataFormat::PreferencesJson);
    }
    let text = std::fs::read_to_string(path).map_err(crate::error::io_error(path))?;
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    Ok(if first.contains("\"reverse_statement\"") {
        DataFormat::Triples
    } else {
        DataFormat::Preferences
    })
}
