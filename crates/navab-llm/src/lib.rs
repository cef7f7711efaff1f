#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "cache")]
#[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
pub mod cache;
mod chat;
mod error;
pub mod exec;
#[cfg(feature = "openai")]
#[cfg_attr(docsrs, doc(cfg(feature = "openai")))]
pub mod openai;
#[cfg(feature = "stage")]
#[cfg_attr(docsrs, doc(cfg(feature = "stage")))]
pub mod stage;
mod step;
pub mod steps;
pub mod testing;
mod text;

pub use chat::{
    BoxFuture, ChatMessage, ChatModel, ChatRequest, ChatResponse, FinishReason, Role, Sampling,
    Usage,
};
pub use error::{Error, ParseError, Result, StepName};
pub use step::{run_step, run_step_with, Step, StepOutcome};
pub use text::squash_whitespace;
