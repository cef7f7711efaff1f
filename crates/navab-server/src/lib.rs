#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod api;
mod config;
mod error;
mod routes;
mod serve;
/// Test doubles and the conformance check for [`PromptScorer`]s (from `navab-eval`).
pub use navab_eval::testing;

pub use config::ServerConfig;
pub use error::{Error, Result};
pub use navab_eval::{Prompt, PromptLogprobs, PromptScorer, ScoreOptions, TokenLogprob};
pub use routes::{router, Backends, MAX_TOP_LOGPROBS};
pub use serve::{serve, Server};
