//! [`LocalChatModel`]: a `navab_llm::ChatModel` that generates with a local [`LanguageModel`]
//! (feature `chat`).

use std::sync::Arc;

use navab_llm::{BoxFuture, ChatModel, ChatRequest, ChatResponse, FinishReason, Role, Usage};

use crate::{GenerateOptions, LanguageModel, StopReason, TemplateMessage};

/// Answers chat requests with a local model: the model's chat template, then greedy or seeded
/// nucleus sampling as the request asks.
///
/// Generation runs on the calling thread inside the returned future (candle is synchronous):
/// in an async server, call it from a blocking task (e.g. `tokio::task::spawn_blocking`).
///
/// Available with the crate feature `chat`.
#[derive(Debug, Clone)]
pub struct LocalChatModel {
    model: Arc<LanguageModel>,
    defaults: GenerateOptions,
}

impl LocalChatModel {
    /// Wraps `model`; `defaults` apply where a request leaves a setting out (its `stop` strings
    /// are added to the request's).
    pub fn new(model: Arc<LanguageModel>, defaults: GenerateOptions) -> Self {
        LocalChatModel { model, defaults }
    }

    /// The model.
    pub fn model(&self) -> &LanguageModel {
        &self.model
    }

    /// Answers `request` synchronously.
    pub fn chat_blocking(&self, request: &ChatRequest) -> navab_llm::Result<ChatResponse> {
        request.check()?;
        let backend = |e: crate::Error| navab_llm::Error::Backend {
            backend: format!("local:{}", self.model.name()),
            message: e.to_string(),
        };
        let messages: Vec<TemplateMessage<'_>> = request
            .messages
            .iter()
            .map(|m| TemplateMessage {
                role: role_name(m.role),
                content: &m.content,
            })
            .collect();
        let prompt = self
            .model
            .apply_chat_template(&messages, true)
            .map_err(backend)?;
        let mut options = self.defaults.clone();
        if let Some(t) = request.temperature {
            options.temperature = f64::from(t);
        }
        if let Some(p) = request.top_p {
            options.top_p = f64::from(p);
        }
        if let Some(n) = request.max_tokens {
            options.max_new_tokens = n as usize;
        }
        if let Some(seed) = request.seed {
            options.seed = seed;
        }
        options.stop.extend(request.stop.iter().cloned());
        let generation = self.model.generate(&prompt, &options).map_err(backend)?;
        Ok(ChatResponse {
            content: generation.text,
            finish_reason: Some(match generation.stop_reason {
                StopReason::Stop => FinishReason::Stop,
                StopReason::Length => FinishReason::Length,
            }),
            usage: Some(Usage {
                prompt_tokens: generation.prompt_tokens as u32,
                completion_tokens: generation.completion_tokens as u32,
            }),
        })
    }
}

impl ChatModel for LocalChatModel {
    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, navab_llm::Result<ChatResponse>> {
        Box::pin(async move { self.chat_blocking(request) })
    }

    fn model_id(&self) -> Option<&str> {
        Some(self.model.name())
    }
}

/// The role names chat templates expect.
fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        _ => "assistant",
    }
}
