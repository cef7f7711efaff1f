//! The published NaVAB layout: nation folders holding `human_statement_result.json` (the quoted
//! set) and `official_statement_result.json` (the official set), each a JSON array of records.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::atomic::write_atomically;
use crate::error::{io_error, Error, Result};
use crate::read::{
    as_record, json_kind, optional_str, required_str, strip_bom, Fault, Loaded, ReadOptions,
};
use crate::types::{Nation, StatementSet, Triple};

// Field names of the published files. The generator also wrote `filter_flag` and `full_source`
// (its intermediate LLM answers); readers ignore them and the writer leaves them out.
const FIELD_RAW_NEWS: &str = "raw_news";
const FIELD_STATEMENT: &str = "statement";
const FIELD_SOURCE: &str = "source";
const FIELD_QUESTION: &str = "generated Q";
const FIELD_REVERSE: &str = "generated reverse statement";
const FIELD_RAW_GENERATION: &str = "generated raw data";

/// The `source` the generator writes when it found no speaker (as ` unknown`, with the space).
const UNKNOWN_SOURCE: &str = "unknown";

const EXPECTED_LAYOUT: &str = "expected a NaVAB dataset: nation folders (China/, US/, UK/, \
     french/, german/, or any other name) holding human_statement_result.json and/or \
     official_statement_result.json, or one nation's folder holding those files directly";

/// Reads one `*_statement_result.json` file of the published NaVAB layout, for a nation and set
/// the caller names (the file name and its folder are not consulted).
///
/// The file is a JSON array of records. Each record maps onto a [`Triple`]:
///
/// | field | becomes | |
/// |---|---|---|
/// | `generated Q` | [`Triple::question`] | required |
/// | `statement` | [`Triple::statement`] | required |
/// | `generated reverse statement` | [`Triple::reverse_statement`] | required |
/// | `source` | [`Triple::source`] | `unknown` or empty → `None` |
/// | `raw_news` | [`Triple::raw_news`] | empty → `None` |
///
/// Text is trimmed (the published files have leading spaces). A required field that is missing,
/// not a string, or blank makes the record bad, as does a record that is not an object; see
/// [`ReadOptions`] for what happens then. Ids are `<nation folder>/<set>/<index>` as made by
/// [`Triple::navab_id`], e.g. `China/official/00007`.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read, [`Error::Json`] if it is not JSON (in both modes),
/// [`Error::Format`] if it is not an array, [`Error::Record`] for a bad record in strict mode.
pub fn read_navab_file(
    path: impl AsRef<Path>,
    nation: Nation,
    set: StatementSet,
    options: &ReadOptions,
) -> Result<Loaded<Triple>> {
    let path = path.as_ref();
    let bytes = fs::read(path).map_err(io_error(path))?;
    let json: Value = serde_json::from_slice(strip_bom(&bytes)).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })?;
    let Value::Array(records) = json else {
        return Err(Error::Format {
            path: path.to_path_buf(),
            reason: format!(
                "expected a JSON array of records, found {}",
                json_kind(&json)
            ),
        });
    };
    let mut loaded = Loaded::default();
    for (index, record) in records.iter().enumerate() {
        match triple_from_record(record, &nation, set, index) {
            Ok(triple) => loaded.items.push(triple),
            Err(fault) => loaded.reject(options, fault.at(path, index, None))?,
        }
    }
    Ok(loaded)
}

fn triple_from_record(
    record: &Value,
    nation: &Nation,
    set: StatementSet,
    index: usize,
) -> std::result::Result<Triple, Fault> {
    let record = as_record(record)?;
    let question = required_str(record, FIELD_QUESTION)?.trim().to_string();
    let statement = required_str(record, FIELD_STATEMENT)?.trim().to_string();
    let reverse_statement = required_str(record, FIELD_REVERSE)?.trim().to_string();
    let source = optional_str(record, FIELD_SOURCE)?
        .map(str::trim)
        .filter(|s| !s.is_empty() && !s.eq_ignore_ascii_case(UNKNOWN_SOURCE))
        .map(str::to_string);
    let raw_news = optional_str(record, FIELD_RAW_NEWS)?
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    Ok(Triple {
        id: Triple::navab_id(nation, set, index),
        nation: nation.clone(),
        set,
        question,
        statement,
        reverse_statement,
        source,
        raw_news,
    })
}

/// Reads one nation's folder that holds `human_statement_result.json` and/or
/// `official_statement_result.json` directly, for a nation the caller names. Quoted triples
/// come first, then official ones, each in file order. Records are read as by
/// [`read_navab_file`].
///
/// # Errors
/// [`Error::Layout`] if `path` is not a directory or holds neither file; otherwise as
/// [`read_navab_file`].
pub fn read_navab_nation_dir(
    path: impl AsRef<Path>,
    nation: Nation,
    options: &ReadOptions,
) -> Result<Loaded<Triple>> {
    let dir = path.as_ref();
    check_is_dir(dir)?;
    if !holds_a_set_file(dir) {
        return Err(Error::Layout {
            path: dir.to_path_buf(),
            reason: "holds neither human_statement_result.json nor \
                     official_statement_result.json"
                .into(),
        });
    }
    read_nation_folder(dir, nation, options)
}

/// Reads a NaVAB dataset directory: every nation in it.
///
/// Accepts the published layout, `<dataset>/<nation>/{human,official}_statement_result.json`,
/// where the folder name gives the nation (`China`, `US`, `UK`, `french`, `german`, aliases as
/// [`Nation`]'s `FromStr`, any other name → [`Nation::Other`]), and also a single nation's folder
/// holding the files directly (its nation from the folder's own name; use
/// [`read_navab_nation_dir`] to name it yourself). A sub-folder with neither file is ignored.
///
/// Triples come sorted by nation folder name, then quoted before official, then file order.
/// Records are read as by [`read_navab_file`].
///
/// # Errors
/// [`Error::Layout`] if `path` is missing or not a directory, if no file of the layout is found,
/// or if two folders name the same nation (their ids would clash); otherwise as
/// [`read_navab_file`].
pub fn read_navab_dir(path: impl AsRef<Path>, options: &ReadOptions) -> Result<Loaded<Triple>> {
    let root = path.as_ref();
    check_is_dir(root)?;

    // (folder, folder name): the root itself first if it holds the files, then its sub-folders.
    let mut folders: Vec<(PathBuf, String)> = Vec::new();
    if holds_a_set_file(root) {
        folders.push((root.to_path_buf(), own_folder_name(root)));
    }
    let mut nation_folders = Vec::new();
    for entry in fs::read_dir(root).map_err(io_error(root))? {
        let entry = entry.map_err(io_error(root))?;
        let dir = entry.path();
        if dir.is_dir() && holds_a_set_file(&dir) {
            nation_folders.push((dir, entry.file_name().to_string_lossy().into_owned()));
        }
    }
    nation_folders.sort_by(|a, b| a.1.cmp(&b.1));
    folders.extend(nation_folders);
    if folders.is_empty() {
        return Err(Error::Layout {
            path: root.to_path_buf(),
            reason: format!("no statement files found; {EXPECTED_LAYOUT}"),
        });
    }

    let mut folder_of_nation: BTreeMap<Nation, String> = BTreeMap::new();
    let mut loaded = Loaded::default();
    for (dir, name) in folders {
        let nation: Nation = name.parse().unwrap_or_else(|never| match never {});
        if let Some(previous) = folder_of_nation.insert(nation.clone(), name.clone()) {
            return Err(Error::Layout {
                path: root.to_path_buf(),
                reason: format!(
                    "folders `{previous}` and `{name}` both name nation {nation}; \
                     their triples would get the same ids"
                ),
            });
        }
        loaded.extend(read_nation_folder(&dir, nation, options)?);
    }
    Ok(loaded)
}

/// Reads whichever set files `dir` holds, quoted first.
fn read_nation_folder(dir: &Path, nation: Nation, options: &ReadOptions) -> Result<Loaded<Triple>> {
    let mut loaded = Loaded::default();
    for set in StatementSet::ALL {
        let file = dir.join(set.file_name());
        if file.is_file() {
            loaded.extend(read_navab_file(&file, nation.clone(), set, options)?);
        }
    }
    Ok(loaded)
}

fn holds_a_set_file(dir: &Path) -> bool {
    StatementSet::ALL
        .iter()
        .any(|set| dir.join(set.file_name()).is_file())
}

/// A missing path and a file get their own messages: both are common slips on the command line.
fn check_is_dir(path: &Path) -> Result<()> {
    match fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(Error::Layout {
            path: path.to_path_buf(),
            reason: "is a file, not a dataset directory (read a single statement file with \
                     read_navab_file)"
                .into(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::Layout {
            path: path.to_path_buf(),
            reason: format!("no such directory; {EXPECTED_LAYOUT}"),
        }),
        Err(e) => Err(io_error(path)(e)),
    }
}

/// The directory's own name, resolving `.` and the like.
fn own_folder_name(dir: &Path) -> String {
    dir.canonicalize()
        .ok()
        .as_deref()
        .unwrap_or(dir)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

/// Writes triples in the published NaVAB layout, `<dir>/<nation folder>/<set file>`, with the
/// published field names, so that tools written for the published dataset read it unchanged.
///
/// Each file is a JSON array, pretty-printed with a 4-space indent and UTF-8 text unescaped (as
/// Python's `json.dump(..., ensure_ascii=False, indent=4)`), records in the order given. Fields:
/// `raw_news` (empty when `None`), `statement`, `source` (`unknown` when `None`), `generated Q`,
/// `generated reverse statement`, and `generated raw data` rebuilt as `Q: … ## S: … ## RS: …`.
/// Ids are not stored: reading back numbers records by position, so trimmed triples with ids
/// from [`Triple::navab_id`] read back equal. Files are replaced atomically; other files in `dir`
/// are left alone.
///
/// # Errors
/// [`Error::Layout`] if a nation's folder name is not a plain folder name (empty, `..`, or with a
/// path separator), checked before anything is written; [`Error::Io`] if a file cannot be
/// written.
pub fn write_navab_dir(dir: impl AsRef<Path>, triples: &[Triple]) -> Result<()> {
    let dir = dir.as_ref();
    let mut files: BTreeMap<(&str, StatementSet), Vec<Value>> = BTreeMap::new();
    for triple in triples {
        files
            .entry((triple.nation.dataset_folder(), triple.set))
            .or_default()
            .push(record_of(triple));
    }
    for (folder, _) in files.keys() {
        check_folder_name(dir, folder)?;
    }
    for ((folder, set), records) in &files {
        write_atomically(&dir.join(folder).join(set.file_name()), |out| {
            let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
            let mut serializer = serde_json::Serializer::with_formatter(&mut *out, formatter);
            records
                .serialize(&mut serializer)
                .map_err(std::io::Error::other)?;
            writeln!(out)
        })?;
    }
    Ok(())
}

/// A triple as a published record, fields in the published order.
fn record_of(triple: &Triple) -> Value {
    let text = |s: &str| Value::String(s.to_string());
    let mut record = Map::new();
    record.insert(
        FIELD_RAW_NEWS.into(),
        text(triple.raw_news.as_deref().unwrap_or("")),
    );
    record.insert(FIELD_STATEMENT.into(), text(&triple.statement));
    record.insert(
        FIELD_SOURCE.into(),
        text(triple.source.as_deref().unwrap_or(UNKNOWN_SOURCE)),
    );
    record.insert(FIELD_QUESTION.into(), text(&triple.question));
    record.insert(FIELD_REVERSE.into(), text(&triple.reverse_statement));
    record.insert(
        FIELD_RAW_GENERATION.into(),
        Value::String(format!(
            "Q: {} ## S: {} ## RS: {}",
            triple.question, triple.statement, triple.reverse_statement
        )),
    );
    Value::Object(record)
}

/// A nation's folder must be one plain path component, so that writing stays inside `dir`.
fn check_folder_name(dir: &Path, folder: &str) -> Result<()> {
    let mut components = Path::new(folder).components();
    match (components.next(), components.next()) {
        (Some(Component::Normal(_)), None) if !folder.contains(['/', '\\']) => Ok(()),
        _ => Err(Error::Layout {
            path: dir.to_path_buf(),
            reason: format!("`{folder}` cannot be a nation's folder name"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_that_escape_the_dataset_are_refused() {
        let dir = Path::new("out");
        assert!(check_folder_name(dir, "China").is_ok());
        assert!(check_folder_name(dir, "Hong Kong").is_ok());
        for bad in ["", ".", "..", "a/b", "/abs", "a\\b"] {
            assert!(check_folder_name(dir, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn record_fields_come_in_the_published_order() {
        let triple = Triple {
            id: "x".into(),
            nation: Nation::China,
            set: StatementSet::Official,
            question: "Q?".into(),
            statement: "S.".into(),
            reverse_statement: "RS.".into(),
            source: None,
            raw_news: None,
        };
        let record = record_of(&triple);
        let keys: Vec<_> = record.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "raw_news",
                "statement",
                "source",
                "generated Q",
                "generated reverse statement",
                "generated raw data"
            ]
        );
        assert_eq!(record["source"], "unknown");
        assert_eq!(record["generated raw data"], "Q: Q? ## S: S. ## RS: RS.");
    }
}
