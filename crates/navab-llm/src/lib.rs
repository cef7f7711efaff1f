//! placeholder
mod chat;
mod error;
mod step;
pub mod steps;
pub mod testing;
mod text;

pub use chat::{
    BoxFuture, ChatMessage, ChatModel, ChatRequest, ChatResponse, FinishReason, Role, Sampling,
    Usage,
};
pub use error::{Error, Result};
pub use step::{run_step, run_step_with, ParseError, Step, StepName, StepOutcome};
pub use text::squash_whitespace;
