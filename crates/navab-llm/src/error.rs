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
    /// JSON (de)serialisation of a request or response failed.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
