//! The crate's error type.

use std::fmt;
use std::path::{Path, PathBuf};

/// Everything that can go wrong reading or writing NaVAB data.
///
/// Every variant that concerns a file names it; [`Error::Record`] also names the record and, when
/// one is at fault, the field.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A whole file is not valid JSON (an error in lenient mode too: nothing in it can be trusted).
    #[error("{path}: not valid JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        source: serde_json::Error,
    },
    /// A file is valid JSON but not of the expected shape, e.g. an object where an array of
    /// records should be.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What was expected and what was found.
        reason: String,
    },
    /// One record is malformed, e.g. `data/China/official_statement_result.json: record 12:
    /// field "generated Q": missing`.
    #[error("{}: {reason}", RecordLocation::of(.path, .index, .line, .field))]
    Record {
        /// The file.
        path: PathBuf,
        /// 0-based index of the record in the file (in JSONL, blank lines are not records).
        index: usize,
        /// 1-based line number, for JSONL files.
        line: Option<usize>,
        /// The field at fault, if one is.
        field: Option<String>,
        /// What is wrong.
        reason: String,
    },
    /// A directory is missing or does not hold the expected layout, or a nation's folder name
    /// cannot be written.
    #[error("{path}: {reason}")]
    Layout {
        /// The directory.
        path: PathBuf,
        /// What was expected.
        reason: String,
    },
    /// A statement-set name that is neither quoted nor official.
    #[error("unknown statement set `{0}` (expected `quoted` or `official`)")]
    UnknownStatementSet(String),
}

/// The crate's `Result`.
pub type Result<T> = std::result::Result<T, Error>;

/// Turns an I/O error into [`Error::Io`] naming `path`: `.map_err(io_error(path))`.
pub(crate) fn io_error(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}

/// Formats where a record sits: `path: record 3 (line 5): field "x"`. Shared by
/// [`Error::Record`] and [`crate::Skipped`] so that both read the same.
pub(crate) struct RecordLocation<'a> {
    pub(crate) path: &'a Path,
    pub(crate) index: usize,
    pub(crate) line: Option<usize>,
    pub(crate) field: Option<&'a str>,
}

impl<'a> RecordLocation<'a> {
    /// From the fields of [`Error::Record`] or [`crate::Skipped`], as borrowed by `thiserror`.
    pub(crate) fn of(
        path: &'a Path,
        index: &usize,
        line: &Option<usize>,
        field: &'a Option<String>,
    ) -> Self {
        Self {
            path,
            index: *index,
            line: *line,
            field: field.as_deref(),
        }
    }
}

impl fmt::Display for RecordLocation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: record {}", self.path.display(), self.index)?;
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        if let Some(field) = self.field {
            write!(f, ": field \"{field}\"")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_error_names_file_record_line_and_field() {
        let navab = Error::Record {
            path: PathBuf::from("data/China/official_statement_result.json"),
            index: 12,
            line: None,
            field: Some("generated Q".into()),
            reason: "missing".into(),
        };
        assert_eq!(
            navab.to_string(),
            "data/China/official_statement_result.json: record 12: field \"generated Q\": missing"
        );
        let jsonl = Error::Record {
            path: PathBuf::from("prefs.jsonl"),
            index: 2,
            line: Some(4),
            field: None,
            reason: "not valid JSON".into(),
        };
        assert_eq!(
            jsonl.to_string(),
            "prefs.jsonl: record 2 (line 4): not valid JSON"
        );
    }

    #[test]
    fn io_error_names_the_path() {
        let err =
            io_error("some/file.json")(std::io::Error::new(std::io::ErrorKind::NotFound, "gone"));
        assert_eq!(err.to_string(), "some/file.json: gone");
    }
}
