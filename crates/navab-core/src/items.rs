//! Any evaluation data as [`PreferenceItem`]s: the NaVAB layout, triples JSONL, preference JSONL
//! and LLaMA-Factory JSON arrays behind one reader, so every evaluation reads the same inputs.

use std::path::Path;

use crate::error::{Error, Result};
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
    match resolve_format(path, format)? {
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

/// The concrete format of `path`: `format` itself, or for [`DataFormat::Auto`] the guess from the
/// path's name and, for JSONL, the fields of its first record that parses (triples have
/// `question`, `statement`, `reverse_statement`; preferences `chosen` and `rejected`). A record
/// with neither is an [`Error::Format`] that lists the fields it has.
pub fn resolve_format(path: &Path, format: DataFormat) -> Result<DataFormat> {
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
    guess_jsonl(path)
}

/// Triples or preferences from the first of the first 100 lines that is a JSON object. Lines
/// that do not parse (or are not UTF-8) are left to the reader, which names them.
fn guess_jsonl(path: &Path) -> Result<DataFormat> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).map_err(crate::error::io_error(path))?;
    for line in std::io::BufReader::new(file).split(b'\n').take(100) {
        let line = line.map_err(crate::error::io_error(path))?;
        let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice(&line) else {
            continue;
        };
        let has = |k: &str| fields.contains_key(k);
        if has("reverse_statement") || (has("statement") && has("question")) {
            return Ok(DataFormat::Triples);
        }
        if has("chosen") || has("rejected") || has("conversations") {
            return Ok(DataFormat::Preferences);
        }
        let keys: Vec<&str> = fields.keys().map(String::as_str).collect();
        return Err(Error::Format {
            path: path.to_path_buf(),
            reason: format!(
                "cannot tell the format from the fields of its first record ({}): triples have \
                 question, statement, reverse_statement; preferences have chosen and rejected",
                keys.join(", ")
            ),
        });
    }
    // Nothing parsed: the preference reader names the first bad line.
    Ok(DataFormat::Preferences)
}

impl DataFormat {
    /// What the format is, in words: "the NaVAB layout", "JSONL of triples", ...
    pub fn describe(self) -> &'static str {
        match self {
            DataFormat::Auto => "a format guessed from the path",
            DataFormat::Navab => "the NaVAB layout",
            DataFormat::Triples => "JSONL of triples",
            DataFormat::Preferences => "preference JSONL",
            DataFormat::PreferencesJson => "a JSON array of preference records",
        }
    }
}
