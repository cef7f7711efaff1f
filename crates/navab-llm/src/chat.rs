//! Chat messages, requests and responses, and the [`ChatModel`] seam.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Role {
    /// Instructions that frame the conversation.
    System,
    /// The user's turn.
    User,
    /// The model's turn (a reply, or a few-shot example of one).
    Assistant,
}

/// One message of a chat, in the OpenAI shape (`{"role": "user", "content": "..."}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: Role,
    /// The text.
    pub content: String,
}

impl ChatMessage {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
        }
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// Sampling settings a step asks for; `None` leaves the choice to the backend.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Sampling {
    /// Softmax temperature, 0 to 2.
    pub temperature: Option<f32>,
    /// Nucleus sampling mass, in (0, 1].
    pub top_p: Option<f32>,
    /// Most tokens to generate.
    pub max_tokens: Option<u32>,
    /// Seed, for backends that honour one (vLLM, OpenAI best effort).
    pub seed: Option<u64>,
}

impl Sampling {
    /// The authors' pipeline settings for every generation step (temperature 0.6, top_p 0.8).
    pub const PIPELINE: Sampling = Sampling {
        temperature: Some(0.6),
        top_p: Some(0.8),
        max_tokens: None,
        seed: None,
    };
    /// Greedy decoding, for the judge: a verdict should not depend on the dice.
    pub const GREEDY: Sampling = Sampling {
        temperature: Some(0.0),
        top_p: None,
        max_tokens: None,
        seed: None,
    };
}

/// A chat completion request, backend-independent.
///
/// [`ChatRequest::canonical_json`] gives a stable byte form: fixed field order, absent options
/// left out, no whitespace. Equal requests give equal bytes, so it can key a response cache.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The conversation so far; the model answers the last message.
    pub messages: Vec<ChatMessage>,
    /// Softmax temperature, 0 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling mass, in (0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Most tokens to generate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Sampling seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Strings that end generation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
}

impl ChatRequest {
    /// A request with these messages and the backend's default sampling.
    pub fn new(messages: Vec<ChatMessage>) -> Self {
        Self {
            messages,
            ..Self::default()
        }
    }

    /// Sets temperature, top_p, max_tokens and seed from `sampling` (all four, `None` included).
    pub fn with_sampling(mut self, sampling: Sampling) -> Self {
        self.temperature = sampling.temperature;
        self.top_p = sampling.top_p;
        self.max_tokens = sampling.max_tokens;
        self.seed = sampling.seed;
        self
    }

    /// Adds a stop string.
    pub fn with_stop(mut self, stop: impl Into<String>) -> Self {
        self.stop.push(stop.into());
        self
    }

    /// The sampling part of the request.
    pub fn sampling(&self) -> Sampling {
        Sampling {
            temperature: self.temperature,
            top_p: self.top_p,
            max_tokens: self.max_tokens,
            seed: self.seed,
        }
    }

    /// Checks what every backend would reject: no messages, a temperature outside 0..=2 (or
    /// NaN), top_p outside (0, 1], `max_tokens` of 0.
    pub fn check(&self) -> Result<()> {
        if self.messages.is_empty() {
            return Err(Error::InvalidRequest("no messages".into()));
        }
        if let Some(t) = self.temperature {
            if !(0.0..=2.0).contains(&t) {
                return Err(Error::InvalidRequest(format!(
                    "temperature {t} is not in 0..=2"
                )));
            }
        }
        if let Some(p) = self.top_p {
            if !(p > 0.0 && p <= 1.0) {
                return Err(Error::InvalidRequest(format!("top_p {p} is not in (0, 1]")));
            }
        }
        if self.max_tokens == Some(0) {
            return Err(Error::InvalidRequest("max_tokens is 0".into()));
        }
        Ok(())
    }

    /// The stable JSON form (see the type's docs), for cache keys and logs.
    pub fn canonical_json(&self) -> String {
        // Only strings, integers and finite-or-null floats: serialisation cannot fail.
        serde_json::to_string(self).expect("a ChatRequest always serialises")
    }
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FinishReason {
    /// A natural end or a stop string.
    Stop,
    /// `max_tokens` reached: the reply may be cut short.
    Length,
    /// The provider's content filter.
    ContentFilter,
    /// Anything else a backend reports.
    #[serde(other)]
    Other,
}

/// Token counts a backend reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens in the prompt.
    pub prompt_tokens: u32,
    /// Tokens generated.
    pub completion_tokens: u32,
}

impl Usage {
    /// Prompt plus completion tokens.
    pub fn total_tokens(&self) -> u32 {
        self.prompt_tokens + self.completion_tokens
    }
}

/// A model's reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The reply text.
    pub content: String,
    /// Why generation stopped, when the backend says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<FinishReason>,
    /// Token counts, when the backend says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

impl ChatResponse {
    /// A reply with only its text.
    pub fn new(content: impl Into<String>) -> Self {
        Self {
            content: content.into(),
            finish_reason: Some(FinishReason::Stop),
            usage: None,
        }
    }
}

/// A boxed, `Send` future: what [`ChatModel::chat`] returns, so that `dyn ChatModel` works.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A chat model: anything that answers a [`ChatRequest`].
///
/// One required method. Backends (an OpenAI-compatible client, a cache wrapping another model,
/// a local model) implement it; the steps only see this trait. The future is boxed so that
/// `&dyn ChatModel` and `Arc<dyn ChatModel>` work; a generic caller pays one allocation per
/// call, nothing next to a model call.
pub trait ChatModel: Send + Sync {
    /// Answers `request`. Transport and server failures are [`Error::Backend`]; a backend never
    /// parses the reply.
    fn chat<'a>(&'a self, request: &'a ChatRequest) -> BoxFuture<'a, Result<ChatResponse>>;

    /// A name for the model behind this backend (e.g. `meta-llama/Meta-Llama-3-8B-Instruct`),
    /// for cache keys and reports; `None` when unknown.
    fn model_id(&self) -> Option<&str> {
        None
    }

    /// Checks, before a batch, that the backend can answer at all: for an HTTP backend, that
    /// the endpoint is reachable, accepts the credentials and serves the model. In-process
    /// backends have nothing to check (the default). An error here should stop the batch:
    /// every call would fail the same way.
    fn check_ready(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

impl<T: ChatModel + ?Sized> ChatModel for &T {
    fn chat<'a>(&'a self, request: &'a ChatRequest) -> BoxFuture<'a, Result<ChatResponse>> {
        (**self).chat(request)
    }
    fn model_id(&self) -> Option<&str> {
        (**self).model_id()
    }
    fn check_ready(&self) -> BoxFuture<'_, Result<()>> {
        (**self).check_ready()
    }
}

impl<T: ChatModel + ?Sized> ChatModel for Box<T> {
    fn chat<'a>(&'a self, request: &'a ChatRequest) -> BoxFuture<'a, Result<ChatResponse>> {
        (**self).chat(request)
    }
    fn model_id(&self) -> Option<&str> {
        (**self).model_id()
    }
    fn check_ready(&self) -> BoxFuture<'_, Result<()>> {
        (**self).check_ready()
    }
}

impl<T: ChatModel + ?Sized> ChatModel for Arc<T> {
    fn chat<'a>(&'a self, request: &'a ChatRequest) -> BoxFuture<'a, Result<ChatResponse>> {
        (**self).chat(request)
    }
    fn model_id(&self) -> Option<&str> {
        (**self).model_id()
    }
    fn check_ready(&self) -> BoxFuture<'_, Result<()>> {
        (**self).check_ready()
    }
}
