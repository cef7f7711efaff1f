//! The routes, their shared state, authentication and the bounded backend queue.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use navab_llm::{ChatMessage, ChatModel, ChatRequest, ChatResponse};
use serde_json::{json, Map, Value};
use tokio::sync::Semaphore;

use crate::api::{
    parse_prompts, ApiError, ChatCompletionRequest, CompletionRequest, Content, OpenAiJson,
    OwnedPrompt,
};
use crate::config::ServerConfig;
use crate::error::Result;
use navab_eval::{Prompt, PromptLogprobs, PromptScorer, ScoreOptions, TokenLogprob};

/// Most alternatives per position a request may ask for (`logprobs: N`), as vLLM's default.
pub const MAX_TOP_LOGPROBS: u32 = 20;

/// The models behind the routes. Either may be absent: its routes then answer 400 saying so.
///
/// ```
/// use navab_llm::testing::ScriptedChatModel;
/// use navab_server::testing::FakePromptScorer;
/// use navab_server::Backends;
///
/// let backends = Backends::new()
///     .with_chat(ScriptedChatModel::new(["hello"]))
///     .with_scorer(FakePromptScorer::new("fake"));
/// assert!(backends.chat.is_some() && backends.scorer.is_some());
/// ```
#[derive(Clone, Default)]
pub struct Backends {
    /// Answers `/v1/chat/completions`.
    pub chat: Option<Arc<dyn ChatModel>>,
    /// Answers `/v1/completions` (prompt scoring, and one greedy token).
    pub scorer: Option<Arc<dyn PromptScorer>>,
}

impl Backends {
    /// No backends yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the chat backend.
    pub fn with_chat(mut self, chat: impl ChatModel + 'static) -> Self {
        self.chat = Some(Arc::new(chat));
        self
    }

    /// Sets the scoring backend.
    pub fn with_scorer(mut self, scorer: impl PromptScorer + 'static) -> Self {
        self.scorer = Some(Arc::new(scorer));
        self
    }
}

impl std::fmt::Debug for Backends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backends")
            .field("chat", &self.chat.as_ref().map(|c| c.model_id()))
            .field(
                "scorer",
                &self.scorer.as_ref().map(|s| s.model_id().to_string()),
            )
            .finish()
    }
}

struct AppState {
    model_id: String,
    backends: Backends,
    /// Backend calls running at once.
    slots: Arc<Semaphore>,
    /// Requests running or waiting for a slot.
    admitted: Arc<AtomicUsize>,
    /// Most requests running or waiting.
    capacity: usize,
    next_id: AtomicU64,
}

/// Gives back an admission when the work ends, whether it finished or its client went away.
struct Admission(Arc<AtomicUsize>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl AppState {
    /// Runs `work` on a blocking thread once a slot is free; 503 at once when the queue is full.
    async fn run_blocking<T, F>(&self, work: F) -> std::result::Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        if self.admitted.fetch_add(1, Ordering::SeqCst) >= self.capacity {
            self.admitted.fetch_sub(1, Ordering::SeqCst);
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is busy (every backend slot and queue place is taken); retry later",
            ));
        }
        let admission = Admission(self.admitted.clone());
        let permit = self.slots.clone().acquire_owned().await.map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is shutting down",
            )
        })?;
        // The permit and admission move into the task: a client that hangs up does not free a
        // slot whose work is still running.
        tokio::task::spawn_blocking(move || {
            let _held = (permit, admission);
            work()
        })
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the backend panicked: {e}"),
            )
        })
    }

    fn next_id(&self, prefix: &str) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}-{:x}{n:06x}", unix_time())
    }

    /// 404 for a model other than the one served; a request without `model` gets it.
    fn check_model(&self, model: Option<&str>) -> std::result::Result<(), ApiError> {
        match model {
            Some(m) if m != self.model_id => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "the model `{m}` does not exist on this server; it serves `{}`",
                    self.model_id
                ),
            )
            .with_code("model_not_found")),
            _ => Ok(()),
        }
    }
}

fn unix_time() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The router, for tests and for embedding in a larger app: every route, authentication, the
/// body limit and the backend queue. Checks `config` first.
pub fn router(config: &ServerConfig, backends: Backends) -> Result<Router> {
    config.check()?;
    let state = Arc::new(AppState {
        model_id: config.model_id.clone(),
        backends,
        slots: Arc::new(Semaphore::new(config.max_concurrency)),
        admitted: Arc::new(AtomicUsize::new(0)),
        capacity: config.max_concurrency.saturating_add(config.max_queue),
        next_id: AtomicU64::new(0),
    });
    let token: Option<Arc<str>> = config.bearer_token.as_deref().map(Arc::from);
    let api = Router::new()
        .route("/v1/models", get(list_models))
        .route("/v1/models/{*id}", get(get_model))
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/completions", post(completions))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(token, require_bearer));
    Ok(api
        .merge(Router::new().route("/health", get(|| async { "ok" })))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .with_state(state))
}

async fn require_bearer(
    State(token): State<Option<Arc<str>>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(expected) = token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            // The scheme is case-insensitive (RFC 9110).
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        let ok = given.is_some_and(|g| constant_time_eq(g.as_bytes(), expected.as_bytes()));
        if !ok {
            let message = if given.is_none() {
                "missing bearer token: send `Authorization: Bearer <token>`"
            } else {
                "invalid bearer token"
            };
            return ApiError::new(StatusCode::UNAUTHORIZED, message)
                .with_code("invalid_api_key")
                .into_response();
        }
    }
    next.run(request).await
}

/// Compares without stopping at the first difference, so timing does not reveal the prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn not_found(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no route {} {}; this server offers GET /v1/models, POST /v1/chat/completions, \
             POST /v1/completions",
            request.method(),
            request.uri().path()
        ),
    )
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    )
}

fn model_object(id: &str) -> Value {
    json!({"id": id, "object": "model", "created": 0, "owned_by": "navab"})
}

async fn list_models(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({"object": "list", "data": [model_object(&state.model_id)]}))
}

async fn get_model(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> std::result::Result<Json<Value>, ApiError> {
    state.check_model(Some(&id))?;
    Ok(Json(model_object(&state.model_id)))
}

/// Maps a backend error: the caller's fault is 400, anything else 500.
fn scorer_error(error: navab_eval::Error) -> ApiError {
    match error {
        navab_eval::Error::InvalidInput(_) | navab_eval::Error::Unsupported(_) => {
            ApiError::bad_request(error.to_string())
        }
        other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}

fn chat_error(error: navab_llm::Error) -> ApiError {
    match error {
        navab_llm::Error::InvalidRequest(_) => ApiError::bad_request(error.to_string()),
        other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}

fn to_chat_request(
    request: ChatCompletionRequest,
) -> std::result::Result<(ChatRequest, bool), ApiError> {
    if request.n.is_some_and(|n| n != 1) {
        return Err(ApiError::bad_param(
            "n",
            "n must be 1: this server returns one choice per request",
        ));
    }
    let mut messages = Vec::with_capacity(request.messages.len());
    for (i, message) in request.messages.into_iter().enumerate() {
        let content = match message.content {
            None => String::new(),
            Some(Content::Text(text)) => text,
            Some(Content::Parts(parts)) => {
                let mut text = String::new();
                for part in parts {
                    match (part.kind.as_str(), part.text) {
                        ("text", Some(t)) => text.push_str(&t),
                        (kind, _) => {
                            return Err(ApiError::bad_param(
                                "messages",
                                format!("messages[{i}]: content part of type `{kind}` is not supported; only text"),
                            ))
                        }
                    }
                }
                text
            }
        };
        let message = match message.role.as_str() {
            "system" | "developer" => ChatMessage::system(content),
            "user" => ChatMessage::user(content),
            "assistant" => ChatMessage::assistant(content),
            other => {
                return Err(ApiError::bad_param(
                    "messages",
                    format!(
                    "messages[{i}]: role `{other}` is not supported; use system, user or assistant"
                ),
                ))
            }
        };
        messages.push(message);
    }
    let mut chat = ChatRequest::new(messages);
    chat.temperature = request.temperature;
    chat.top_p = request.top_p;
    chat.max_tokens = request.max_completion_tokens.or(request.max_tokens);
    chat.seed = request.seed;
    chat.stop = request.stop.map(|s| s.into_vec()).unwrap_or_default();
    chat.check().map_err(chat_error)?;
    Ok((chat, request.stream.unwrap_or(false)))
}

async fn chat_completions(
    State(state): State<Arc<AppState>>,
    OpenAiJson(request): OpenAiJson<ChatCompletionRequest>,
) -> std::result::Result<Response, ApiError> {
    state.check_model(request.model.as_deref())?;
    let (chat_request, stream) = to_chat_request(request)?;
    let Some(model) = state.backends.chat.clone() else {
        return Err(ApiError::bad_request(
            "this server has no chat model; it only scores prompts on /v1/completions",
        ));
    };
    // The backend may block (a local model does), so it runs on a blocking thread like the
    // scorer; an async backend just holds that thread while it waits.
    let runtime = tokio::runtime::Handle::current();
    let reply: ChatResponse = state
        .run_blocking(move || runtime.block_on(model.chat(&chat_request)))
        .await?
        .map_err(chat_error)?;
    let id = state.next_id("chatcmpl");
    let created = unix_time();
    let finish_reason = reply
        .finish_reason
        .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    let usage = reply.usage.map(|u| {
        json!({
            "prompt_tokens": u.prompt_tokens,
            "completion_tokens": u.completion_tokens,
            "total_tokens": u.total_tokens(),
        })
    });
    if stream {
        // The backend answers whole, so the stream is one content chunk and a closing one.
        let chunk = |delta: Value, finish: Value| {
            json!({
                "id": id, "object": "chat.completion.chunk", "created": created,
                "model": state.model_id,
                "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
            })
        };
        let mut last = chunk(json!({}), finish_reason);
        if let Some(usage) = usage {
            last["usage"] = usage;
        }
        let events = [
            chunk(
                json!({"role": "assistant", "content": reply.content}),
                Value::Null,
            )
            .to_string(),
            last.to_string(),
            "[DONE]".to_string(),
        ]
        .map(|data| Ok::<_, Infallible>(Event::default().data(data)));
        return Ok(Sse::new(futures_util::stream::iter(events)).into_response());
    }
    let mut body = json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": state.model_id,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": reply.content},
            "logprobs": null,
            "finish_reason": finish_reason,
        }],
    });
    if let Some(usage) = usage {
        body["usage"] = usage;
    }
    Ok(Json(body).into_response())
}

/// How many characters of `text` start before each byte offset: the character offset, rounded
/// up inside a character, so "ends after byte b" and "ends after character c" agree whenever
/// `b` is a character boundary. `offsets` must be non-decreasing.
fn char_offsets(text: &str, offsets: &[usize]) -> Vec<usize> {
    let mut chars = text.char_indices().peekable();
    let mut count = 0;
    offsets
        .iter()
        .map(|&byte| {
            while chars.next_if(|&(i, _)| i < byte).is_some() {
                count += 1;
            }
            count
        })
        .collect()
}

/// An `f32` as the shortest decimal that reads back as the same `f32` (`-1.814`, not
/// `-1.8140000104904175`); null for an infinite log-probability, which JSON cannot hold.
fn wire_f32(x: f32) -> Value {
    format!("{x}")
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

fn top_object(alternatives: &[TokenLogprob], n: usize) -> Value {
    if alternatives.is_empty() {
        return Value::Null;
    }
    let mut map = Map::new();
    for alt in alternatives.iter().take(n) {
        map.entry(alt.token.clone())
            .or_insert_with(|| wire_f32(alt.logprob));
    }
    Value::Object(map)
}

/// One completions choice from a scored prompt.
fn completion_choice(
    index: usize,
    scored: PromptLogprobs,
    echo: bool,
    logprobs: Option<u32>,
) -> std::result::Result<Value, ApiError> {
    scored.check().map_err(scorer_error)?;
    let top_n = logprobs.unwrap_or(0) as usize;
    let prompt_chars = scored.text.chars().count();
    let mut offsets = char_offsets(&scored.text, &scored.text_offset);
    let mut tokens = scored.tokens;
    let mut token_logprobs = scored.token_logprobs;
    let mut tops: Vec<Value> = if scored.top_logprobs.is_empty() {
        vec![Value::Null; tokens.len()]
    } else {
        scored
            .top_logprobs
            .iter()
            .map(|alts| top_object(alts, top_n))
            .collect()
    };
    let mut text = if echo { scored.text } else { String::new() };
    let prompt_len = tokens.len();
    if let Some((next, alternatives)) = scored.next_token {
        text.push_str(&next.token);
        tokens.push(next.token);
        token_logprobs.push(Some(next.logprob));
        offsets.push(prompt_chars);
        tops.push(top_object(&alternatives, top_n));
    }
    let keep_from = if echo { 0 } else { prompt_len };
    let logprobs = logprobs.map(|_| {
        json!({
            "tokens": tokens[keep_from..],
            "token_logprobs": token_logprobs[keep_from..]
                .iter()
                .map(|lp| lp.map_or(Value::Null, wire_f32))
                .collect::<Vec<_>>(),
            "top_logprobs": tops[keep_from..],
            "text_offset": offsets[keep_from..],
        })
    });
    Ok(json!({
        "index": index,
        "text": text,
        "logprobs": logprobs,
        "finish_reason": "length",
    }))
}

async fn completions(
    State(state): State<Arc<AppState>>,
    OpenAiJson(request): OpenAiJson<CompletionRequest>,
) -> std::result::Result<Json<Value>, ApiError> {
    state.check_model(request.model.as_deref())?;
    if request.n.is_some_and(|n| n != 1) || request.best_of.is_some_and(|n| n != 1) {
        return Err(ApiError::bad_param(
            "n",
            "n and best_of must be 1: this server returns one choice per prompt",
        ));
    }
    if request.stream == Some(true) {
        return Err(ApiError::bad_param(
            "stream",
            "streaming is not supported on /v1/completions",
        ));
    }
    let echo = request.echo.unwrap_or(false);
    // OpenAI's default is 16; scoring clients send 0 or 1.
    let max_tokens = request.max_tokens.unwrap_or(if echo { 0 } else { 16 });
    if max_tokens > 1 {
        return Err(ApiError::bad_param(
            "max_tokens",
            format!(
                "max_tokens is {max_tokens}: /v1/completions here scores prompts (echo: true, \
                 logprobs: N) and generates at most one greedy token; generate text with \
                 /v1/chat/completions"
            ),
        ));
    }
    if !echo && max_tokens == 0 {
        return Err(ApiError::bad_param(
            "max_tokens",
            "max_tokens 0 without echo returns nothing; set echo: true to score the prompt",
        ));
    }
    if let Some(n) = request.logprobs.filter(|&n| n > MAX_TOP_LOGPROBS) {
        return Err(ApiError::bad_param(
            "logprobs",
            format!("logprobs is {n}; at most {MAX_TOP_LOGPROBS} alternatives per token"),
        ));
    }
    let prompts = parse_prompts(&request.prompt)?;
    let Some(scorer) = state.backends.scorer.clone() else {
        return Err(ApiError::bad_request(
            "this server has no scoring model; /v1/completions is not available",
        ));
    };
    let options = ScoreOptions {
        top_logprobs: request.logprobs.unwrap_or(0) as usize,
        // One generated token: the greedy one, whatever the temperature (this route scores,
        // it does not sample).
        next_token: max_tokens == 1,
    };
    let scored = state
        .run_blocking(move || {
            let borrowed: Vec<Prompt<'_>> = prompts
                .iter()
                .map(|p| match p {
                    OwnedPrompt::Text(t) => Prompt::Text(t),
                    OwnedPrompt::Tokens(ids) => Prompt::Tokens(ids),
                })
                .collect();
            let scored = scorer.score_prompts(&borrowed, &options)?;
            if scored.len() != borrowed.len() {
                return Err(navab_eval::Error::Scorer(format!(
                    "{} results for {} prompts",
                    scored.len(),
                    borrowed.len()
                )));
            }
            Ok(scored)
        })
        .await?
        .map_err(scorer_error)?;
    if options.next_token && scored.iter().any(|s| s.next_token.is_none()) {
        // Answering without it would make clients that drop the last entry as the generated
        // token (lm-evaluation-harness) drop a prompt token instead, silently.
        return Err(ApiError::bad_param(
            "max_tokens",
            "this backend does not predict a next token; send max_tokens: 0 with echo: true",
        ));
    }
    let prompt_tokens: usize = scored.iter().map(|s| s.tokens.len()).sum();
    let completion_tokens: usize = scored.iter().filter(|s| s.next_token.is_some()).count();
    let choices = scored
        .into_iter()
        .enumerate()
        .map(|(i, s)| completion_choice(i, s, echo, request.logprobs))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(Json(json!({
        "id": state.next_id("cmpl"),
        "object": "text_completion",
        "created": unix_time(),
        "model": state.model_id,
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_offsets_round_up_inside_characters() {
        let text = "a香b"; // bytes: a=0, 香=1..4, b=4
        assert_eq!(char_offsets(text, &[0, 1, 2, 4, 5]), [0, 1, 2, 2, 3]);
    }

    #[test]
    fn floats_go_out_short_and_read_back_exactly() {
        for x in [-1.814f32, -0.05, -4.049, -1e-7, -23.5] {
            let v = wire_f32(x);
            assert_eq!(v.as_f64().unwrap() as f32, x);
            assert!(v.to_string().len() <= 8, "{v}");
        }
        assert_eq!(wire_f32(f32::NEG_INFINITY), Value::Null);
    }

    #[test]
    fn constant_time_eq_compares_whole_strings() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
