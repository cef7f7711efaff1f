//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong in this crate.
///
/// Per-item failures of an LLM step are not errors: they are recorded as
/// [`ItemFailure`](crate::ItemFailure)s and the batch goes on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter is out of range; see the `check()` of the parameter struct.
    #[error("invalid parameter {name} = {value}: {reason}")]
    InvalidParam {
        /// The field.
        name: &'static str,
        /// Its value, as written by `Debug`.
        value: String,
        /// The accepted range.
        reason: &'static str,
    },
    /// Reading or writing the NaVAB layout or preference JSONL failed (navab-core's error names
    /// the file and record).
    #[error(transparent)]
    Core(#[from] navab_core::Error),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A verification sheet is malformed: a missing column, a bad mark, a row with no mark or
    /// several, e.g. `sheet.csv: row 12 (id UK/quoted/00003): marked both align and conflict`.
    #[error("{}: row {row}{}: {reason}", path.display(), id.as_deref().map(|id| format!(" (id {id})")).unwrap_or_default())]
    Sheet {
        /// The sheet's file (or `<rows>` for rows given in memory).
        path: PathBuf,
        /// 1-based data row (the header is row 0; for CSV, rows spanning lines count once).
        row: usize,
        /// The row's id, when it has one.
        id: Option<String>,
        /// What is wrong.
        reason: String,
    },
}

/// The crate's `Result`.
pub type Result<T> = std::result::Result<T, Error>;

/// Turns an I/O error into [`Error::Io`] naming `path`.
pub(crate) fn io_error(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}
