//! The crate's error type.

use std::net::SocketAddr;

/// Everything that can go wrong configuring or running the server. A scoring backend's errors
/// are `navab_eval::Error`s: input it refuses is a 400, anything else a 500.
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
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
