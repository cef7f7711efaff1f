//! Resumable evaluation: each item's results are appended to a journal as its scorer call
//! finishes, and a rerun scores only the items the journal lacks.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use navab_core::PreferenceItem;

use crate::evaluate::{evaluate_with, EvalOptions, EvalRun, ItemFailure, ItemRecord};
use crate::method::Method;
use crate::scorer::Scorer;
use crate::{Error, Result};

/// The journal's first line: what its results were computed with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Header {
    journal: String,
    scorer: String,
    methods: Vec<String>,
}

/// One finished item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Entry {
    item_id: String,
    records: Vec<ItemRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    failures: Vec<ItemFailure>,
}

const KIND: &str = "navab-eval item journal v1";

/// [`crate::evaluate`], resumable through the JSONL journal at `journal`.
///
/// Each item whose scorer call succeeded is appended (and flushed) as soon as its call
/// finishes, with its records and any per-method failures; a crash loses at most the call in
/// flight. Run again with the same scorer, methods and journal, only the items the journal lacks
/// are scored (items whose call failed are tried again). The returned run is always read back
/// from the journal, in item order, so an interrupted-then-resumed run and an uninterrupted one
/// give the same records to the last bit, and [`crate::write_reports`] the same bytes.
///
/// A journal written by another scorer or other methods is an error rather than a mix; a torn
/// last line (a crash mid-write) is cut off and its item scored again.
///
/// # Example
///
/// ```no_run
/// # use navab_eval::{evaluate_resumable, EvalOptions, Method, Scorer};
/// # fn demo(scorer: &dyn Scorer, items: &[navab_core::PreferenceItem]) -> navab_eval::Result<()> {
/// let methods = Method::parse_list("paper,ab-swap")?;
/// let run = evaluate_resumable(
///     scorer, items, &methods, &EvalOptions::default(), "runs/m/progress.jsonl".as_ref(),
///     &mut |_, _| {},
/// )?;
/// # Ok(()) }
/// ```
pub fn evaluate_resumable<S: Scorer + ?Sized>(
    scorer: &S,
    items: &[PreferenceItem],
    methods: &[Method],
    options: &EvalOptions,
    journal: &Path,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<EvalRun> {
    let header = Header {
        journal: KIND.into(),
        scorer: scorer.name(),
        methods: methods.iter().map(ToString::to_string).collect(),
    };
    let mut done = read_journal(journal, &header)?;
    let todo: Vec<PreferenceItem> = items
        .iter()
        .filter(|item| !done.contains_key(&item.id))
        .cloned()
        .collect();
    let already = items.len() - todo.len();
    let mut writer = open_for_append(journal, &header)?;
    let mut on_scored =
        |item: &PreferenceItem, records: &[ItemRecord], failures: &[ItemFailure]| {
            let entry = Entry {
                item_id: item.id.clone(),
                records: records.to_vec(),
                failures: failures.to_vec(),
            };
            append(&mut writer, &entry).map_err(|e| format!("{}: {e}", journal.display()))
        };
    let fresh = evaluate_with(
        scorer,
        &todo,
        methods,
        options,
        &mut |n, _| progress(already + n, items.len()),
        &mut on_scored,
    );
    drop(writer);
    if let Some(reason) = fresh.stopped_early.as_deref() {
        if reason.starts_with(&journal.display().to_string()) {
            return Err(Error::Io {
                path: journal.to_path_buf(),
                source: std::io::Error::other(reason.to_string()),
            });
        }
    }
    // Read back what is on disk, so every run builds its reports from the same bytes.
    done = read_journal(journal, &header)?;
    let mut run = EvalRun {
        scorer: header.scorer,
        methods: methods.to_vec(),
        records: Vec::new(),
        failures: Vec::new(),
        stopped_early: fresh.stopped_early,
    };
    let mut call_failures: HashMap<&str, Vec<&ItemFailure>> = HashMap::new();
    for failure in fresh.failures.iter().filter(|f| f.method.is_none()) {
        call_failures
            .entry(&failure.item_id)
            .or_default()
            .push(failure);
    }
    for item in items {
        match done.get(&item.id) {
            Some(entry) => {
                run.records.extend(entry.records.iter().cloned());
                run.failures.extend(entry.failures.iter().cloned());
            }
            None => run.failures.extend(
                call_failures
                    .get(item.id.as_str())
                    .into_iter()
                    .flatten()
                    .map(|f| (*f).clone()),
            ),
        }
    }
    Ok(run)
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The finished items of the journal at `path` (none if it does not exist). Cuts off a torn
/// last line; refuses a journal of another scorer or other methods.
fn read_journal(path: &Path, header: &Header) -> Result<HashMap<String, Entry>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(io_error(path)(e)),
    };
    let mut entries = HashMap::new();
    let mut good_end = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let complete = line.ends_with('\n');
        if index == 0 {
            let found: Option<Header> = serde_json::from_str(line.trim_end()).ok();
            match found {
                Some(found) if found == *header => {}
                Some(found) if complete => {
                    return Err(Error::InvalidOptions(format!(
                        "{}: this journal holds results of scorer `{}` with methods {:?}; this \
                         run is `{}` with {:?}. Use another output directory, or delete the \
                         journal to start over",
                        path.display(),
                        found.scorer,
                        found.methods,
                        header.scorer,
                        header.methods
                    )))
                }
                _ if !complete => break,
                _ => {
                    return Err(Error::InvalidOptions(format!(
                        "{}: not a navab-eval journal (first line is not its header)",
                        path.display()
                    )))
                }
            }
        } else {
            // A crash mid-write leaves a partial last line; its item is scored again.
            if !complete {
                break;
            }
            match serde_json::from_str::<Entry>(line.trim_end()) {
                Ok(entry) => {
                    entries.insert(entry.item_id.clone(), entry);
                }
                Err(e) => {
                    return Err(Error::InvalidOptions(format!(
                        "{}: line {}: {e}",
                        path.display(),
                        index + 1
                    )))
                }
            }
        }
        good_end += line.len();
    }
    if good_end < text.len() {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io_error(path))?;
        file.set_len(good_end as u64).map_err(io_error(path))?;
    }
    Ok(entries)
}

/// Opens the journal for appending, writing its header first when it is new or empty.
fn open_for_append(path: &Path, header: &Header) -> Result<BufWriter<File>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io_error(path))?;
    let empty = file.metadata().map_err(io_error(path))?.len() == 0;
    let mut writer = BufWriter::new(file);
    if empty {
        append(&mut writer, header).map_err(io_error(path))?;
    }
    Ok(writer)
}

/// One JSON line, flushed to the OS at once.
fn append<T: Serialize>(writer: &mut BufWriter<File>, value: &T) -> std::io::Result<()> {
    serde_json::to_writer(&mut *writer, value)?;
    writer.write_all(b"\n")?;
    writer.flush()
}
