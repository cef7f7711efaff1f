//! The crate's error type.

use crate::step::ParseError;

/// Everything that can go wrong calling a chat model or reading its reply.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The backend failed to answer (network, server, quota, ...). `backend` names it, e.g. the
    /// endpoint URL or `scripted`.
    #[error("chat backend {backend}: {message}")]
    Backend {
        /// Which backend failed.
        backend: String,
        /// What it said.
        message: String,
    },
    /// A request that no backend should accept (empty messages, temperature out of range, ...).
    #[error("invalid chat request: {0}")]
    InvalidRequest(String),
    /// A reply that the step's parser could not read; the raw reply is kept.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A [`ScriptedChatModel`](crate::testing::ScriptedChatModel) was asked for more replies than
    /// it was given.
    #[error(
        "scripted chat model ran out of replies after serving {served}; script one more reply"
    )]
    ScriptExhausted {
        /// How many replies it had served.
        served: usize,
    },
    /// An HTTP chat backend gave up on a request: a permanent failure (4xx other than 408/429,
    /// a malformed request) or a transient one that outlived its retries. Names the URL, the
    /// last HTTP status if there was one, and how many attempts were made; never the API key.
    #[error("POST {url}: {}after {attempts} attempt(s): {message}", status.map(|s| format!("HTTP {s} ")).unwrap_or_default())]
    Http {
        /// The endpoint, e.g. `http://127.0.0.1:8000/v1/chat/completions`.
        url: String,
        /// The last HTTP status, if the server answered with one.
        status: Option<u16>,
        /// Requests sent for this call, retries included.
        attempts: u32,
        /// What went wrong on the last attempt (timeout, connection reset, server message, ...).
        message: String,
    },
    /// A backend configuration that cannot work; names the field.
    #[error("invalid chat backend configuration: {field}: {message}")]
    InvalidConfig {
        /// The field at fault, e.g. `max_concurrency`.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The environment variable that should hold the API key is unset or empty.
    #[error("API key environment variable {var} is not set (or empty)")]
    MissingApiKey {
        /// The variable's name (its value is never shown).
        var: String,
    },
    /// Reading or writing the response cache failed.
    #[error("response cache {}: {source}", path.display())]
    CacheIo {
        /// The file or folder at fault.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// JSON (de)serialisation of a request or response failed.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

impl Error {
    /// Whether no later call to the same backend can succeed: the server refused the
    /// credentials (HTTP 401 or 403) or could not be reached at all after the retries. A batch
    /// should stop at such an error instead of failing every remaining item the same way.
    pub fn stops_run(&self) -> bool {
        match self {
            Error::Http {
                status: Some(401 | 403),
                ..
            } => true,
            Error::Http {
                status: None,
                message,
                ..
            } => message.starts_with(UNREACHABLE),
            Error::MissingApiKey { .. } | Error::InvalidConfig { .. } => true,
            _ => false,
        }
    }
}

/// How [`Error::Http`] messages about an endpoint that refused the connection begin.
pub(crate) const UNREACHABLE: &str = "could not connect";

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
