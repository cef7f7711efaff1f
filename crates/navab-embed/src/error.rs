//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong loading a sentence embedder or embedding texts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file of the model directory is missing or unreadable.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file of the model directory does not parse or lacks a field.
    #[error("{path}: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The model type or a module is not supported (e.g. a `Dense` layer after pooling).
    #[error("unsupported model: {0}")]
    Unsupported(String),
    /// The tokenizer failed on a text, or does not match the model.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A tensor operation failed (weights missing or of the wrong shape, device errors).
    #[cfg(feature = "local")]
    #[error("model: {0}")]
    Candle(#[from] candle_core::Error),
    /// An option is out of range.
    #[error("invalid option {name} = {value}: {reason}")]
    InvalidOption {
        /// The option.
        name: &'static str,
        /// Its value.
        value: String,
        /// The accepted range.
        reason: &'static str,
    },
    /// The on-disk cache is unusable (wrong dimension, unreadable header).
    #[error("cache {path}: {reason}")]
    Cache {
        /// The cache file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
