//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong evaluating.
///
/// A failing scorer call during [`crate::evaluate`] is not returned as an error: it is recorded
/// in [`crate::EvalRun::failures`] so that finished work is kept. These variants are for the
/// calls that stand alone (a scorer, parsing a method name, writing reports).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading the data failed.
    #[error(transparent)]
    Data(#[from] navab_core::Error),

    // ---- Model backend. The local (candle) model's errors, feature `local`. ----
    /// The local model failed.
    #[cfg(feature = "local")]
    #[error(transparent)]
    Model(navab_lm::Error),

    // ---- Any other backend. ----
    /// A scorer backend failed (server error, bad reply), or returned scores that cannot be
    /// used (a NaN log-likelihood, the wrong number of results).
    #[error("scorer: {0}")]
    Scorer(String),

    /// A scoring server answered with an error, an unusable reply, or not at all. `status` is
    /// the HTTP status when there was one.
    #[error("{url}: {}{message}", .status.map(|s| format!("HTTP {s}: ")).unwrap_or_default())]
    Remote {
        /// The endpoint called.
        url: String,
        /// The HTTP status, when the server answered.
        status: Option<u16>,
        /// What went wrong (the server's own error message when it sent one).
        message: String,
    },

    /// A method name or option that cannot be used.
    #[error("{0}")]
    InvalidOptions(String),

    /// Input a scorer cannot take: an empty prompt, one past the model's context, an unknown
    /// token id. A server answers 400 with this message.
    #[error("{0}")]
    InvalidInput(String),

    /// A request a scorer does not support (e.g. token-id prompts). A server answers 400.
    #[error("not supported by this backend: {0}")]
    Unsupported(String),

    /// Results could not be serialised to JSON.
    #[error("serialising {what}: {source}")]
    Json {
        /// What was being written (a file name or a record).
        what: String,
        /// What serde_json said.
        source: serde_json::Error,
    },

    /// Writing results failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },

    /// Drawing a PNG figure failed.
    #[error(transparent)]
    Plot(#[from] navab_plot::Error),
}

#[cfg(feature = "local")]
impl From<navab_lm::Error> for Error {
    /// Input the model refuses stays [`Error::InvalidInput`] (a server answers 400 to it).
    fn from(error: navab_lm::Error) -> Self {
        match error {
            navab_lm::Error::InvalidInput(message) => Error::InvalidInput(message),
            other => Error::Model(other),
        }
    }
}

#[cfg(feature = "local")]
impl From<candle_core::Error> for Error {
    fn from(error: candle_core::Error) -> Self {
        Error::Model(navab_lm::Error::from(error))
    }
}

/// The crate's `Result`.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_name_the_file() {
        let err = Error::Io {
            path: PathBuf::from("out/summary.csv"),
            source: std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied"),
        };
        assert_eq!(err.to_string(), "out/summary.csv: denied");
    }

    #[test]
    fn remote_errors_name_url_and_status() {
        let err = Error::Remote {
            url: "http://127.0.0.1:8000/v1/completions".into(),
            status: Some(503),
            message: "busy".into(),
        };
        assert_eq!(
            err.to_string(),
            "http://127.0.0.1:8000/v1/completions: HTTP 503: busy"
        );
        let err = Error::Remote {
            url: "http://x/v1/completions".into(),
            status: None,
            message: "connection refused".into(),
        };
        assert_eq!(
            err.to_string(),
            "http://x/v1/completions: connection refused"
        );
    }

    #[test]
    fn scorer_errors_say_where_they_come_from() {
        assert_eq!(
            Error::Scorer("HTTP 500".into()).to_string(),
            "scorer: HTTP 500"
        );
    }
}
