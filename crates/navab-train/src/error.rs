//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong training or saving adapters.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A hyperparameter outside its valid range.
    #[error("invalid parameter `{name}` = {value}: {reason}")]
    InvalidParam {
        /// The parameter.
        name: &'static str,
        /// Its value, printed.
        value: String,
        /// What is allowed.
        reason: &'static str,
    },
    /// Input that cannot be trained on (no pairs, a pair with an empty answer, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// An adapter folder or checkpoint that does not fit this model.
    #[error("{path}: {reason}")]
    Adapter {
        /// The folder or file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The loss or a gradient became NaN or infinite.
    #[error(
        "non-finite {what} at optimizer step {step}: lower the learning rate or check the data"
    )]
    NonFinite {
        /// What went bad (`loss`, `gradient norm`).
        what: &'static str,
        /// The optimizer step.
        step: usize,
    },
    /// The model could not be loaded or run.
    #[error(transparent)]
    Model(#[from] navab_lm::Error),
    /// A tensor operation failed.
    #[error(transparent)]
    Tensor(#[from] candle_core::Error),
    /// JSON that could not be read or written.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What serde said.
        source: serde_json::Error,
    },
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// Maps an I/O error to [`Error::Io`] for `path`.
pub(crate) fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Maps a JSON error to [`Error::Json`] for `path`.
pub(crate) fn json_error(path: &std::path::Path) -> impl FnOnce(serde_json::Error) -> Error + '_ {
    move |source| Error::Json {
        path: path.to_path_buf(),
        source,
    }
}
