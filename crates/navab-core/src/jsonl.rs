//! JSON Lines: the streaming reader and atomic writer shared by the JSONL formats, and JSONL of
//! [`Triple`]s.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::atomic::write_atomically;
use crate::error::{io_error, Result};
use crate::read::{as_record, optional_str, required_str, strip_bom, Fault, Loaded, ReadOptions};
use crate::types::{Nation, StatementSet, Triple};

/// Reads a JSONL file line by line (never the whole file at once), converting each record with
/// `convert(value, line_number)`. Blank lines are not records. A line that is not UTF-8 or not
/// JSON is a bad record, like one `convert` rejects.
pub(crate) fn read_jsonl<T>(
    path: &Path,
    options: &ReadOptions,
    convert: impl FnMut(&Value, usize) -> std::result::Result<T, Fault>,
) -> Result<Loaded<T>> {
    read_jsonl_until(path, options, convert, |_| false)
}

/// As [`read_jsonl`], but stops reading, without looking at the rest of the file, as soon as
/// `enough(items so far)` says so after a good record.
pub(crate) fn read_jsonl_until<T>(
    path: &Path,
    options: &ReadOptions,
    mut convert: impl FnMut(&Value, usize) -> std::result::Result<T, Fault>,
    mut enough: impl FnMut(&[T]) -> bool,
) -> Result<Loaded<T>> {
    let mut reader = BufReader::new(File::open(path).map_err(io_error(path))?);
    let mut loaded = Loaded::default();
    let mut buffer = Vec::new();
    let mut index = 0;
    let mut line_number = 0;
    loop {
        buffer.clear();
        if reader
            .read_until(b'\n', &mut buffer)
            .map_err(io_error(path))?
            == 0
        {
            break;
        }
        line_number += 1;
        let bytes = if line_number == 1 {
            strip_bom(&buffer)
        } else {
            &buffer
        };
        let parsed = match std::str::from_utf8(bytes) {
            Err(e) => Err(Fault::record(format!("not valid UTF-8: {e}"))),
            Ok(line) if line.trim().is_empty() => continue,
            Ok(line) => serde_json::from_str::<Value>(line)
                .map_err(|e| Fault::record(format!("not valid JSON: {}", describe_json_error(&e)))),
        };
        match parsed.and_then(|value| convert(&value, line_number)) {
            Ok(item) => {
                loaded.items.push(item);
                if enough(&loaded.items) {
                    break;
                }
            }
            Err(fault) => loaded.reject(options, fault.at(path, index, Some(line_number)))?,
        }
        index += 1;
    }
    Ok(loaded)
}

/// serde_json's message with "line 1" dropped: within one JSONL line only the column means
/// anything, and the file's line number is reported beside it.
fn describe_json_error(e: &serde_json::Error) -> String {
    let message = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    match message.strip_suffix(&position) {
        Some(bare) => format!("{bare} at column {}", e.column()),
        None => message,
    }
}

/// Writes one compact JSON value per line, atomically (see the crate docs).
pub(crate) fn write_jsonl<T: Serialize>(path: &Path, items: &[T]) -> Result<()> {
    write_atomically(path, |out| {
        for item in items {
            serde_json::to_writer(&mut *out, item).map_err(std::io::Error::other)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    })
}

/// Reads triples from JSONL, one [`Triple`] in its serde form per line, as
/// [`write_triples_jsonl`] writes them:
///
/// ```json
/// {"id":"UK/quoted/00000","nation":"UK","set":"quoted","question":"…","statement":"…","reverse_statement":"…","source":"…","raw_news":"…"}
/// ```
///
/// `id`, `nation`, `set`, `question`, `statement` and `reverse_statement` are required, the text
/// ones not blank; `source` and `raw_news` are optional. Text is kept as written. `nation` and
/// `set` accept the names and aliases of their `FromStr`. Blank lines are ignored; other fields
/// too. Reading streams the file.
///
/// # Errors
/// [`crate::Error::Io`] if the file cannot be read; in strict mode, [`crate::Error::Record`]
/// for the first bad line (not JSON, not an object, a required field missing, blank or not a
/// string), with its record index, line number and field.
pub fn read_triples_jsonl(path: impl AsRef<Path>, options: &ReadOptions) -> Result<Loaded<Triple>> {
    read_jsonl(path.as_ref(), options, |value, _| triple_from_json(value))
}

// Checked by hand rather than by serde so that a bad record names the field at fault.
fn triple_from_json(value: &Value) -> std::result::Result<Triple, Fault> {
    let record = as_record(value)?;
    let nation: Nation = required_str(record, "nation")?
        .parse()
        .unwrap_or_else(|never| match never {});
    let set: StatementSet = required_str(record, "set")?
        .parse()
        .map_err(|e: crate::Error| Fault::field("set", e.to_string()))?;
    let text = |field: &str| required_str(record, field).map(str::to_string);
    Ok(Triple {
        id: text("id")?,
        nation,
        set,
        question: text("question")?,
        statement: text("statement")?,
        reverse_statement: text("reverse_statement")?,
        source: optional_str(record, "source")?.map(str::to_string),
        raw_news: optional_str(record, "raw_news")?.map(str::to_string),
    })
}

/// Writes triples as JSONL in their serde form, one per line, fields in declaration order:
/// the same input gives the same bytes. Atomic: a crash leaves the old file or the new one.
///
/// # Errors
/// [`crate::Error::Io`] if the file cannot be written.
pub fn write_triples_jsonl(path: impl AsRef<Path>, triples: &[Triple]) -> Result<()> {
    write_jsonl(path.as_ref(), triples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_report_the_column_not_line_one() {
        let e = serde_json::from_str::<Value>(r#"{"a": }"#).unwrap_err();
        let text = describe_json_error(&e);
        assert!(text.ends_with("at column 7"), "{text}");
        assert!(!text.contains("line"), "{text}");
    }

    #[test]
    fn triple_fields_are_named_when_wrong() {
        let fault = |json: Value| triple_from_json(&json).unwrap_err();
        let base = serde_json::json!({
            "id": "a", "nation": "UK", "set": "quoted",
            "question": "Q", "statement": "S", "reverse_statement": "RS"
        });
        assert!(triple_from_json(&base).is_ok());
        for field in [
            "id",
            "nation",
            "set",
            "question",
            "statement",
            "reverse_statement",
        ] {
            let mut json = base.clone();
            json.as_object_mut().unwrap().remove(field);
            assert_eq!(fault(json), Fault::field(field, "missing"));
        }
        let mut json = base.clone();
        json["set"] = "opinion".into();
        assert_eq!(fault(json).field.as_deref(), Some("set"));
        let mut json = base;
        json["source"] = 3.into();
        assert_eq!(fault(json).field.as_deref(), Some("source"));
        assert_eq!(fault(Value::from(1)).field, None);
    }
}
