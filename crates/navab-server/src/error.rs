//! The crate's error type.

use std::net::SocketAddr;

/// Everything that can go wrong configuring or running the server, or in a [`PromptScorer`]
/// backend.
///
/// [`PromptScorer`]: crate::PromptScorer
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A [`ServerConfig`](crate::ServerConfig) field that cannot be used; names the field.
    #[error("server config: {field}: {reason}")]
    Config {
        /// The field at fault.
        field: &'static str,
        /// Why it cannot be used.
        reason: String,
    },
    /// Binding the listening socket failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The server stopped on an I/O error.
    #[error("server: {0}")]
    Serve(#[source] std::io::Error),
    /// Input a backend cannot score (empty prompt, too many tokens, an unknown token id). The
    /// server answers 400 with this message.
    #[error("{0}")]
    InvalidInput(String),
    /// A request a backend does not support (e.g. token-id prompts). The server answers 400.
    #[error("not supported by this backend: {0}")]
    Unsupported(String),
    /// The backend failed (model error, inconsistent output). The server answers 500.
    #[error("backend: {0}")]
    Backend(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
