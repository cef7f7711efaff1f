//! The crate's error type.

/// Everything that can go wrong in the topic-modeling stages.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A hyperparameter is out of range; each `*Params::check` says which and why.
    #[error("invalid parameter {name} = {value}: {reason}")]
    InvalidParam {
        /// The field's name.
        name: &'static str,
        /// Its value, as written by `Debug`.
        value: String,
        /// The accepted range.
        reason: &'static str,
    },
    /// The input cannot be used: empty, too few points, rows of different lengths, NaN or
    /// infinite values. The message names the row at fault where there is one.
    #[error("invalid input: {0}")]
    Input(String),
    /// Writing an output file (a map, a report) failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Drawing or writing a PNG figure failed (feature `map`).
    #[cfg(feature = "map")]
    #[error(transparent)]
    Plot(#[from] navab_plot::Error),
}

impl Error {
    /// An [`Error::InvalidParam`].
    pub(crate) fn param(
        name: &'static str,
        value: impl std::fmt::Debug,
        reason: &'static str,
    ) -> Self {
        Error::InvalidParam {
            name,
            value: format!("{value:?}"),
            reason,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
