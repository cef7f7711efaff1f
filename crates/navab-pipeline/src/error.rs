//! The crate's error type.

use std::path::PathBuf;

/// What stops a pipeline run. LLM replies that do not parse and failed calls are not errors:
/// each stage records them with the item and goes on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A stage file or the corpus holds something unreadable.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line where known.
        reason: String,
    },
    /// A setting is out of range, or the corpus is empty.
    #[error("invalid input: {0}")]
    Input(String),
    /// The chat backend cannot answer at all (refused credentials, an unreachable endpoint,
    /// a model it does not serve): the run stops. Stages computed so far are kept; the one
    /// that met the error is recorded as incomplete.
    #[error("LLM backend unavailable (stage {stage}): {reason}")]
    LlmUnavailable {
        /// The stage that was running, or `start` for the check before the first stage.
        stage: String,
        /// The backend's error.
        reason: String,
    },
    /// The embedding stage failed.
    #[error("embedding: {0}")]
    Embed(#[from] navab_embed::Error),
    /// The topic stage failed.
    #[error("topics: {0}")]
    Topics(#[from] navab_topics::Error),
    /// Conflict Reduction failed (not a judge failure: those are recorded).
    #[error("conflict reduction: {0}")]
    Conflict(#[from] navab_conflict::Error),
    /// Source judgment, triples or dataset writing failed.
    #[error("triples: {0}")]
    Triples(#[from] navab_triples::Error),
    /// Writing the dataset failed.
    #[error("dataset: {0}")]
    Core(#[from] navab_core::Error),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
