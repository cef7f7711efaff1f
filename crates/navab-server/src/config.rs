//! [`ServerConfig`]: where to listen, who may call, and how much work to accept.

use std::net::{Ipv4Addr, SocketAddr};

use crate::error::{Error, Result};

/// How the server listens and what it accepts.
///
/// [`ServerConfig::new`] gives the safe defaults: loopback only (`127.0.0.1:8080`), 4 MiB
/// request bodies, one backend call at a time with up to 64 waiting. There is no `Default`: the
/// model id names what you serve.
///
/// ```
/// use navab_server::ServerConfig;
///
/// let config = ServerConfig::new("SmolLM2-135M-Instruct").with_bearer_token("s3cret");
/// config.check().unwrap();
/// assert_eq!(config.addr.to_string(), "127.0.0.1:8080");
///
/// // A public address without a token is refused unless asked for explicitly.
/// let open = ServerConfig::new("m").with_addr("0.0.0.0:8080".parse().unwrap());
/// assert!(open.check().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free port (see [`crate::Server::local_addr`]).
    pub addr: SocketAddr,
    /// When set, every `/v1/*` request must send `Authorization: Bearer <token>`; others get 401.
    pub bearer_token: Option<String>,
    /// Largest request body, in bytes; larger requests get 413.
    pub max_body_bytes: usize,
    /// Longest wait for a request's whole body; a client that stalls gets 408 and its
    /// connection's slot back.
    pub body_timeout: std::time::Duration,
    /// The model id the server answers to (in `/v1/models`, and the `model` field requests must
    /// name; an unknown model gets 404).
    pub model_id: String,
    /// Backend calls (chat and scoring together) running at once. A local model on one device
    /// gains little from more than 1 or 2.
    pub max_concurrency: usize,
    /// Requests that may wait for a backend slot; past that the server answers 503 at once
    /// rather than queueing without bound.
    pub max_queue: usize,
    /// Allow a non-loopback `addr` without a bearer token. Off by default: an open model server
    /// on a public interface is rarely what anyone meant.
    pub allow_public_without_token: bool,
}

impl ServerConfig {
    /// Default listening address: loopback only.
    pub const DEFAULT_ADDR: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 8080);
    /// Default body limit: 4 MiB, room for a batch of long scoring prompts.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
    /// Default body timeout: 30 s, ample for 4 MiB over any working link.
    pub const DEFAULT_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
    /// Default number of backend calls at once.
    pub const DEFAULT_MAX_CONCURRENCY: usize = 1;
    /// Default number of requests that may wait.
    pub const DEFAULT_MAX_QUEUE: usize = 64;

    /// The defaults (see the type's docs) for serving `model_id`.
    pub fn new(model_id: impl Into<String>) -> Self {
        Self {
            addr: Self::DEFAULT_ADDR,
            bearer_token: None,
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            body_timeout: Self::DEFAULT_BODY_TIMEOUT,
            model_id: model_id.into(),
            max_concurrency: Self::DEFAULT_MAX_CONCURRENCY,
            max_queue: Self::DEFAULT_MAX_QUEUE,
            allow_public_without_token: false,
        }
    }

    /// Sets the listening address.
    pub fn with_addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Requires this bearer token.
    pub fn with_bearer_token(mut self, token: impl Into<String>) -> Self {
        self.bearer_token = Some(token.into());
        self
    }

    /// Sets the body limit in bytes.
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Sets how many backend calls run at once and how many requests may wait.
    pub fn with_concurrency(mut self, max_concurrency: usize, max_queue: usize) -> Self {
        self.max_concurrency = max_concurrency;
        self.max_queue = max_queue;
        self
    }

    /// Checks every field; the error names the one at fault.
    pub fn check(&self) -> Result<()> {
        let bad = |field, reason: &str| {
            Err(Error::Config {
                field,
                reason: reason.to_string(),
            })
        };
        if self.model_id.trim().is_empty() {
            return bad("model_id", "is empty");
        }
        if self.model_id.chars().any(char::is_control) {
            return bad("model_id", "holds a control character");
        }
        if let Some(token) = &self.bearer_token {
            // A header value must be visible ASCII; an empty token would let `Bearer ` through.
            if token.is_empty() {
                return bad("bearer_token", "is empty (use None for no authentication)");
            }
            if !token.bytes().all(|b| b.is_ascii_graphic()) {
                return bad(
                    "bearer_token",
                    "must be visible ASCII without spaces, as HTTP headers require",
                );
            }
        }
        if self.max_body_bytes == 0 {
            return bad("max_body_bytes", "is 0: no request could be read");
        }
        if self.body_timeout.is_zero() {
            return bad("body_timeout", "is 0: no request body could arrive");
        }
        if self.max_concurrency == 0 {
            return bad("max_concurrency", "is 0: no request would ever run");
        }
        if !self.addr.ip().is_loopback()
            && self.bearer_token.is_none()
            && !self.allow_public_without_token
        {
            return Err(Error::Config {
                field: "addr",
                reason: format!(
                    "{} is not a loopback address and no bearer token is set; set one, or set \
                     allow_public_without_token to serve anyone who can reach it",
                    self.addr
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_safe_and_valid() {
        let config = ServerConfig::new("m");
        config.check().unwrap();
        assert!(config.addr.ip().is_loopback());
        assert_eq!(config.bearer_token, None);
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            (ServerConfig::new(" "), "model_id"),
            (ServerConfig::new("m").with_bearer_token(""), "bearer_token"),
            (
                ServerConfig::new("m").with_bearer_token("a b"),
                "bearer_token",
            ),
            (
                ServerConfig::new("m").with_max_body_bytes(0),
                "max_body_bytes",
            ),
            (
                ServerConfig::new("m").with_concurrency(0, 4),
                "max_concurrency",
            ),
            (
                ServerConfig::new("m").with_addr("0.0.0.0:1".parse().unwrap()),
                "addr",
            ),
        ];
        for (config, field) in cases {
            match config.check() {
                Err(Error::Config { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{config:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn public_address_with_token_or_explicit_opt_in_is_allowed() {
        let public: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        ServerConfig::new("m")
            .with_addr(public)
            .with_bearer_token("t")
            .check()
            .unwrap();
        let mut open = ServerConfig::new("m").with_addr(public);
        open.allow_public_without_token = true;
        open.check().unwrap();
    }
}
