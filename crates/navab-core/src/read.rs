//! What every reader shares: [`ReadOptions`], the [`Loaded`] result with its [`Skipped`]
//! records, and the checks on JSON fields.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Error, RecordLocation, Result};

/// What to do with a malformed record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadMode {
    /// The first bad record is an [`Error::Record`] naming file, record and field.
    #[default]
    Strict,
    /// Bad records are skipped and listed in [`Loaded::skipped`]; the good ones are kept.
    Lenient,
}

/// Options for every reader. The default is [`ReadMode::Strict`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadOptions {
    /// Strict or lenient.
    pub mode: ReadMode,
}

impl ReadOptions {
    /// Fail on the first bad record (the default).
    pub fn strict() -> Self {
        Self {
            mode: ReadMode::Strict,
        }
    }

    /// Skip and report bad records.
    pub fn lenient() -> Self {
        Self {
            mode: ReadMode::Lenient,
        }
    }
}

/// A record a lenient reader skipped, where it sits and why.
///
/// Displays like the strict-mode error, e.g. `data/UK/official_statement_result.json: record 3:
/// field "generated Q": empty`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The file.
    pub path: PathBuf,
    /// 0-based index of the record in the file (in JSONL, blank lines are not records).
    pub index: usize,
    /// 1-based line number, for JSONL files.
    pub line: Option<usize>,
    /// The field at fault, if one is.
    pub field: Option<String>,
    /// What is wrong with the record.
    pub reason: String,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let location = RecordLocation::of(&self.path, &self.index, &self.line, &self.field);
        write!(f, "{location}: {}", self.reason)
    }
}

impl From<Skipped> for Error {
    fn from(s: Skipped) -> Self {
        Error::Record {
            path: s.path,
            index: s.index,
            line: s.line,
            field: s.field,
            reason: s.reason,
        }
    }
}

/// What a reader returns: the good records and, in lenient mode, the skipped ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded<T> {
    /// Records read successfully, in file order.
    pub items: Vec<T>,
    /// Records skipped in lenient mode, in file order (always empty in strict mode).
    pub skipped: Vec<Skipped>,
}

impl<T> Default for Loaded<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            skipped: Vec::new(),
        }
    }
}

impl<T> Loaded<T> {
    /// Appends another file's records.
    pub(crate) fn extend(&mut self, other: Loaded<T>) {
        self.items.extend(other.items);
        self.skipped.extend(other.skipped);
    }

    /// Handles a bad record: an error in strict mode, a skip in lenient mode.
    pub(crate) fn reject(&mut self, options: &ReadOptions, bad: Skipped) -> Result<()> {
        match options.mode {
            ReadMode::Strict => Err(bad.into()),
            ReadMode::Lenient => {
                self.skipped.push(bad);
                Ok(())
            }
        }
    }
}

/// Why one record is bad, before the reader attaches where it sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fault {
    pub(crate) field: Option<String>,
    pub(crate) reason: String,
}

impl Fault {
    /// The record as a whole is wrong (not an object, not JSON).
    pub(crate) fn record(reason: impl Into<String>) -> Self {
        Self {
            field: None,
            reason: reason.into(),
        }
    }

    /// One field is wrong.
    pub(crate) fn field(field: &str, reason: impl Into<String>) -> Self {
        Self {
            field: Some(field.to_string()),
            reason: reason.into(),
        }
    }

    /// Attaches the location.
    pub(crate) fn at(self, path: &Path, index: usize, line: Option<usize>) -> Skipped {
        Skipped {
            path: path.to_path_buf(),
            index,
            line,
            field: self.field,
            reason: self.reason,
        }
    }
}

/// "a string", "an object", ... for messages.
pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The record as an object, or a fault saying what it is instead.
pub(crate) fn as_record(value: &Value) -> std::result::Result<&Map<String, Value>, Fault> {
    value
        .as_object()
        .ok_or_else(|| Fault::record(format!("expected an object, found {}", json_kind(value))))
}

/// A required text field: present, a string, and not blank. Returned untrimmed.
pub(crate) fn required_str<'a>(
    record: &'a Map<String, Value>,
    field: &str,
) -> std::result::Result<&'a str, Fault> {
    match record.get(field) {
        None | Some(Value::Null) => Err(Fault::field(field, "missing")),
        Some(Value::String(s)) if s.trim().is_empty() => Err(Fault::field(field, "empty")),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(Fault::field(
            field,
            format!("expected a string, found {}", json_kind(other)),
        )),
    }
}

/// An optional text field: absent or null is `None`; any other non-string is a fault, since a
/// wrong type means the record is not what the reader thinks it is.
pub(crate) fn optional_str<'a>(
    record: &'a Map<String, Value>,
    field: &str,
) -> std::result::Result<Option<&'a str>, Fault> {
    match record.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(Fault::field(
            field,
            format!("expected a string, found {}", json_kind(other)),
        )),
    }
}

/// Strips a UTF-8 byte order mark, which some Windows tools put at the start of JSON files and
/// which JSON parsers reject.
pub(crate) fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_rejects_and_lenient_collects() {
        let bad = || Fault::field("statement", "missing").at(Path::new("f.json"), 3, None);
        let mut loaded = Loaded::<()>::default();
        let err = loaded.reject(&ReadOptions::strict(), bad()).unwrap_err();
        assert!(matches!(err, Error::Record { index: 3, .. }));
        loaded.reject(&ReadOptions::lenient(), bad()).unwrap();
        assert_eq!(loaded.skipped, [bad()]);
        assert_eq!(
            loaded.skipped[0].to_string(),
            "f.json: record 3: field \"statement\": missing"
        );
        assert_eq!(err.to_string(), loaded.skipped[0].to_string());
    }

    #[test]
    fn field_checks_name_the_field_and_the_type() {
        let record = serde_json::json!({"a": " x ", "blank": "  ", "n": 5, "null": null});
        let record = record.as_object().unwrap();
        assert_eq!(required_str(record, "a"), Ok(" x "));
        assert_eq!(
            required_str(record, "blank"),
            Err(Fault::field("blank", "empty"))
        );
        assert_eq!(
            required_str(record, "null"),
            Err(Fault::field("null", "missing"))
        );
        assert_eq!(
            required_str(record, "n"),
            Err(Fault::field("n", "expected a string, found a number"))
        );
        assert_eq!(optional_str(record, "absent"), Ok(None));
        assert!(optional_str(record, "n").is_err());
        assert_eq!(strip_bom(b"\xEF\xBB\xBF[]"), b"[]");
    }
}
