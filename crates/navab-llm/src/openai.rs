//! An OpenAI-compatible chat backend on `async-openai` (feature `openai`).
//!
//! ```no_run
//! use std::time::Duration;
//! use navab_llm::openai::{OpenAiChatModel, OpenAiConfig};
//! use navab_llm::stage::run_stage;
//! use navab_llm::steps::SourceJudgment;
//!
//! # async fn demo() -> navab_llm::Result<()> {
//! // A local vLLM server (`vllm serve meta-llama/Meta-Llama-3-8B-Instruct --api-key ...`):
//! // the key is read from the environment variable named here, never written in code or logs.
//! let mut config = OpenAiConfig::new("http://127.0.0.1:8000/v1", "meta-llama/Meta-Llama-3-8B-Instruct")
//!     .with_api_key_env("VLLM_API_KEY");
//! config.timeout = Duration::from_secs(60);
//! config.max_concurrency = 32;
//! // Ollama speaks the same API: OpenAiConfig::new("http://127.0.0.1:11434/v1", "llama3").
//! let model = OpenAiChatModel::new(config)?;
//!
//! let inputs = vec![SourceJudgment { statement: "張炳良認為民主派應該派人參選特首。".into() }];
//! let run = run_stage(&model, &inputs, 32, |_progress| {}).await;
//! println!("{:?}; {:?}", run.summary, model.stats());
//! # Ok(()) }
//! ```
//!
//! # What happens to a call
//!
//! 1. [`ChatRequest::check`] rejects a request no server would accept (no retry).
//! 2. A permit of a [`tokio::sync::Semaphore`] of [`OpenAiConfig::max_concurrency`] is taken
//!    for each HTTP attempt (and given back while waiting to retry, so a backing-off call does
//!    not hold a slot).
//! 3. `async-openai` sends `POST {base_url}/chat/completions` with `model`, `messages`,
//!    `temperature`, `top_p`, `max_tokens`, `seed` and `stop` as the request says.
//! 4. On a transient failure the call is retried up to [`OpenAiConfig::max_retries`] times,
//!    after a delay drawn uniformly from `0..=min(backoff_max, backoff_base * 2^retry)` ("full
//!    jitter"), or after the server's `Retry-After` (seconds or an HTTP date, capped by
//!    [`OpenAiConfig::retry_after_max`]) when it sent one. Transient: HTTP 408, 429 and 5xx, a
//!    timeout, a refused or dropped connection, a truncated body, a body that is not a chat
//!    completion (a proxy's garbage). Anything else (401, 400, 404, ...) fails at once.
//! 5. A failure is [`Error::Http`]: the URL, the last status, the attempts, the last message.
//!
//! # How `async-openai` is wired
//!
//! `async-openai` 0.43 retries 429/5xx by itself (three times, without jitter) and drops the
//! response headers of a failed call, so `Retry-After` is lost. This backend therefore
//! installs its own HTTP service ([`async_openai::Client::with_http_service`], feature
//! `middleware`): a plain [`async_openai::middleware::ReqwestService`] (no retry layer) under a
//! thin layer that turns a non-2xx response into an error carrying the status, `Retry-After`
//! and the body. The `reqwest` client under it carries [`OpenAiConfig::timeout`] as its total
//! per-request timeout (connect, send, and reading the body). Retries, backoff and the
//! concurrency bound live here, in one loop.
//!
//! # The API key
//!
//! Only the *name* of an environment variable is configured ([`OpenAiConfig::api_key_env`]);
//! the key is read once in [`OpenAiChatModel::new`], sent as `Authorization: Bearer`, and
//! replaced by `[redacted]` in any error message (a server may echo headers in its error body).
//! No `Debug` output shows it. Without `api_key_env` no key is sent (local servers); the
//! `OPENAI_API_KEY`, `OPENAI_ORG_ID` and `OPENAI_PROJECT_ID` variables that `async-openai` would
//! read by default are ignored on purpose.
//!
//! # HTTPS
//!
//! Feature `openai` speaks plain HTTP, which is what local servers use and keeps the build
//! free of a TLS stack; feature `openai-tls` adds rustls for `https://` endpoints.
//!
//! Available with the crate feature `openai`.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::{HttpRequestFactory, ReqwestService};
use async_openai::types::chat::{
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestMessage,
    ChatCompletionRequestSystemMessage, ChatCompletionRequestUserMessage,
    CreateChatCompletionRequest, CreateChatCompletionResponse, FinishReason as OaFinishReason,
    StopConfiguration,
};
use async_openai::types::embeddings::{
    CreateEmbeddingRequest, CreateEmbeddingResponse, EmbeddingInput, EncodingFormat,
};
use tokio::sync::Semaphore;

use crate::chat::{BoxFuture, ChatModel, ChatRequest, ChatResponse, FinishReason, Role, Usage};
use crate::error::{Error, Result, UNREACHABLE};

/// Settings of an [`OpenAiChatModel`].
///
/// No `Default`: the endpoint and model depend on the deployment. [`OpenAiConfig::new`] fills
/// in the rest with values that suit a local vLLM server.
#[derive(Clone, PartialEq, Eq)]
pub struct OpenAiConfig {
    /// The API root, ending in `/v1` for OpenAI-compatible servers, e.g.
    /// `http://127.0.0.1:8000/v1`. `/chat/completions` is appended.
    pub base_url: String,
    /// The model name the server knows, sent with every request.
    pub model: String,
    /// What [`ChatModel::model_id`] says, and so what keys a response cache and a pipeline's
    /// resume. `None` (the default): `<model> @ <base_url>`, so that two servers that both
    /// call their model `default` are two models. Set it to keep a cache valid when the same
    /// model moves to another address.
    pub model_id: Option<String>,
    /// The *name* of the environment variable holding the API key; `None` sends no key.
    pub api_key_env: Option<String>,
    /// Total time limit of one HTTP attempt (connect, send, read the whole body). Default 120 s.
    pub timeout: Duration,
    /// Retries after the first attempt, for transient failures. Default 6.
    pub max_retries: u32,
    /// The first retry waits up to this long; each later one up to twice as long. Default 0.5 s.
    pub backoff_base: Duration,
    /// Upper bound of the backoff window. Default 30 s.
    pub backoff_max: Duration,
    /// Longest `Retry-After` honoured; a longer one is cut to this. Default 120 s.
    pub retry_after_max: Duration,
    /// Most HTTP requests in flight at once from this model. Default 16.
    pub max_concurrency: usize,
}

impl OpenAiConfig {
    /// A config for `model` at `base_url`, no API key, and the defaults documented on the fields.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            model: model.into(),
            model_id: None,
            api_key_env: None,
            timeout: Duration::from_secs(120),
            max_retries: 6,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            retry_after_max: Duration::from_secs(120),
            max_concurrency: 16,
        }
    }

    /// Reads the API key from the environment variable `var`.
    pub fn with_api_key_env(mut self, var: impl Into<String>) -> Self {
        self.api_key_env = Some(var.into());
        self
    }

    /// Checks every field: an `http://` (or, with feature `openai-tls`, `https://`) base URL, a
    /// model name, a non-zero timeout and concurrency, `backoff_base <= backoff_max`, and a
    /// plausible environment variable name.
    pub fn check(&self) -> Result<()> {
        let invalid = |field, message: String| Err(Error::InvalidConfig { field, message });
        let url = self.base_url.trim();
        let https = url.starts_with("https://");
        if !(url.starts_with("http://") || https) || url.len() <= "https://".len() {
            return invalid(
                "base_url",
                format!("{url:?} is not an http:// or https:// URL"),
            );
        }
        if https && !cfg!(feature = "openai-tls") {
            return invalid(
                "base_url",
                format!("{url:?} needs TLS: build navab-llm with feature `openai-tls`"),
            );
        }
        if self.model.trim().is_empty() {
            return invalid("model", "is empty".into());
        }
        if let Some(var) = &self.api_key_env {
            if var.is_empty() || var.contains('=') || var.contains('\0') {
                return invalid(
                    "api_key_env",
                    format!("{var:?} is not an environment variable name"),
                );
            }
        }
        if self.timeout.is_zero() {
            return invalid("timeout", "is zero".into());
        }
        if self.max_concurrency == 0 {
            return invalid("max_concurrency", "is zero".into());
        }
        if self.backoff_base > self.backoff_max {
            return invalid(
                "backoff_base",
                format!(
                    "{:?} is more than backoff_max {:?}",
                    self.backoff_base, self.backoff_max
                ),
            );
        }
        Ok(())
    }

    /// `{base_url}/chat/completions`, the URL errors name.
    pub fn endpoint(&self) -> String {
        format!(
            "{}/chat/completions",
            self.base_url.trim().trim_end_matches('/')
        )
    }
}

impl fmt::Debug for OpenAiConfig {
    // Written out so that a future field holding a secret cannot slip into logs unnoticed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("model_id", &self.model_id)
            .field("api_key_env", &self.api_key_env)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("backoff_base", &self.backoff_base)
            .field("backoff_max", &self.backoff_max)
            .field("retry_after_max", &self.retry_after_max)
            .field("max_concurrency", &self.max_concurrency)
            .finish()
    }
}

/// Counts of an [`OpenAiChatModel`] since it was made (a snapshot; see
/// [`OpenAiChatModel::stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientStats {
    /// Calls to [`ChatModel::chat`].
    pub calls: u64,
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Requests that were retries.
    pub retries: u64,
    /// Calls that ended in an error (after their retries, or at once for an invalid request).
    pub failures: u64,
    /// Prompt tokens the server reported, summed.
    pub prompt_tokens: u64,
    /// Completion tokens the server reported, summed.
    pub completion_tokens: u64,
}

#[derive(Default)]
struct Counters {
    calls: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
    failures: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
}

/// A [`ChatModel`] that calls an OpenAI-compatible `/chat/completions` endpoint (vLLM, Ollama,
/// llama.cpp's server, OpenAI) through `async-openai`, with bounded concurrency, retries and a
/// per-request timeout. See the [module docs](self).
///
/// Needs a Tokio runtime (with the time driver) to be polled on.
pub struct OpenAiChatModel {
    client: async_openai::Client<OpenAIConfig>,
    /// The same transport, for [`ChatModel::check_ready`]'s `GET /models`.
    http: reqwest::Client,
    config: OpenAiConfig,
    endpoint: String,
    model_id: String,
    /// Kept only to scrub it from error messages.
    api_key: Option<String>,
    permits: Semaphore,
    counters: Counters,
    jitter_state: AtomicU64,
}

impl fmt::Debug for OpenAiChatModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiChatModel")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl OpenAiChatModel {
    /// Checks `config`, reads the API key from its environment variable and builds the HTTP
    /// client. Fails with [`Error::InvalidConfig`] or [`Error::MissingApiKey`].
    pub fn new(config: OpenAiConfig) -> Result<Self> {
        config.check()?;
        let api_key = match &config.api_key_env {
            None => None,
            Some(var) => match std::env::var(var) {
                Ok(key) if !key.trim().is_empty() => Some(key.trim().to_string()),
                _ => return Err(Error::MissingApiKey { var: var.clone() }),
            },
        };
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| Error::InvalidConfig {
                field: "timeout",
                message: format!("cannot build the HTTP client: {e}"),
            })?;
        let base = config.base_url.trim().trim_end_matches('/').to_string();
        // Set key, organisation and project explicitly (empty when none): OpenAIConfig would
        // otherwise fall back to OPENAI_API_KEY & co. and send them to whatever server this is.
        let openai_config = OpenAIConfig::new()
            .with_api_base(base)
            .with_api_key(api_key.clone().unwrap_or_default())
            .with_org_id("")
            .with_project_id("");
        let client = async_openai::Client::with_config(openai_config)
            .with_http_service(StatusService(ReqwestService::new(http.clone())));
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        Ok(Self {
            endpoint: config.endpoint(),
            model_id: config
                .model_id
                .clone()
                .unwrap_or_else(|| format!("{} @ {}", config.model.trim(), config.base_url.trim())),
            http,
            permits: Semaphore::new(config.max_concurrency),
            client,
            config,
            api_key,
            counters: Counters::default(),
            jitter_state: AtomicU64::new(seed),
        })
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &OpenAiConfig {
        &self.config
    }

    /// The counts so far.
    pub fn stats(&self) -> ClientStats {
        let c = &self.counters;
        ClientStats {
            calls: c.calls.load(Ordering::Relaxed),
            requests: c.requests.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
            prompt_tokens: c.prompt_tokens.load(Ordering::Relaxed),
            completion_tokens: c.completion_tokens.load(Ordering::Relaxed),
        }
    }

    fn to_openai(&self, request: &ChatRequest) -> CreateChatCompletionRequest {
        let messages = request
            .messages
            .iter()
            .map(|m| match m.role {
                Role::System => ChatCompletionRequestSystemMessage::from(m.content.as_str()).into(),
                Role::User => ChatCompletionRequestUserMessage::from(m.content.as_str()).into(),
                Role::Assistant => {
                    ChatCompletionRequestAssistantMessage::from(m.content.as_str()).into()
                }
            })
            .collect::<Vec<ChatCompletionRequestMessage>>();
        let stop = match request.stop.len() {
            0 => None,
            1 => Some(StopConfiguration::String(request.stop[0].clone())),
            _ => Some(StopConfiguration::StringArray(request.stop.clone())),
        };
        // `max_tokens` and `seed` are deprecated in OpenAI's own API but are what vLLM, Ollama
        // and llama.cpp read; OpenAI still accepts them for chat models.
        #[allow(deprecated)]
        CreateChatCompletionRequest {
            messages,
            model: self.config.model.clone(),
            temperature: request.temperature,
            top_p: request.top_p,
            max_tokens: request.max_tokens,
            seed: request.seed.map(|s| s as i64),
            stop,
            ..Default::default()
        }
    }

    async fn call(&self, request: &ChatRequest) -> Result<ChatResponse> {
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = request.check() {
            self.counters.failures.fetch_add(1, Ordering::Relaxed);
            return Err(e);
        }
        let body = self.to_openai(request);
        let endpoint = self.endpoint.clone();
        self.with_retries(&endpoint, || async {
            match self.client.chat().create(body.clone()).await {
                Ok(response) => self.convert(response),
                Err(e) => Err(classify(e)),
            }
        })
        .await
    }

    /// `POST {base_url}/embeddings` with the configured model: one vector per input, in input
    /// order, under the same concurrency bound, retries, timeout and key handling as chat
    /// calls (what `/v1/embeddings` of vLLM, text-embeddings-inference and Ollama serve).
    /// Counted in [`OpenAiChatModel::stats`] as calls like any other.
    pub async fn embeddings(&self, inputs: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        let body = CreateEmbeddingRequest {
            model: self.config.model.clone(),
            input: EmbeddingInput::StringArray(inputs.iter().map(|s| s.to_string()).collect()),
            encoding_format: Some(EncodingFormat::Float),
            ..Default::default()
        };
        let endpoint = format!(
            "{}/embeddings",
            self.config.base_url.trim().trim_end_matches('/')
        );
        self.with_retries(&endpoint, || async {
            match self.client.embeddings().create(body.clone()).await {
                Ok(response) => vectors_in_order(response, inputs.len()),
                Err(e) => Err(classify(e)),
            }
        })
        .await
    }

    /// Runs `attempt` until it succeeds, fails for good or runs out of retries. A permit is
    /// held only while a request is in flight, so a call waiting to retry frees its slot.
    async fn with_retries<T, F, Fut>(&self, url: &str, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, Failure>>,
    {
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let result = {
                // The semaphore is never closed, so acquiring cannot fail.
                let _permit = self.permits.acquire().await;
                self.counters.requests.fetch_add(1, Ordering::Relaxed);
                attempt().await
            };
            let failure = match result {
                Ok(value) => return Ok(value),
                Err(failure) => failure,
            };
            if failure.transient && attempts <= self.config.max_retries {
                self.counters.retries.fetch_add(1, Ordering::Relaxed);
                let wait = self.delay(attempts, failure.retry_after);
                // Said at info level so that a down endpoint is not a silent minute.
                tracing::info!(
                    "POST {}: {}; retry {attempts} of {} in {:.1} s",
                    self.endpoint,
                    self.redact(failure.message.clone()),
                    self.config.max_retries,
                    wait.as_secs_f64()
                );
                tokio::time::sleep(wait).await;
                continue;
            }
            self.counters.failures.fetch_add(1, Ordering::Relaxed);
            return Err(Error::Http {
                url: url.to_string(),
                status: failure.status,
                attempts,
                message: self.redact(failure.message),
            });
        }
    }

    /// `GET {base_url}/models`, once, without retries: the endpoint answers, takes the key,
    /// and lists the model (a server without the route is given the benefit of the doubt).
    async fn check(&self) -> Result<()> {
        let url = format!(
            "{}/models",
            self.config.base_url.trim().trim_end_matches('/')
        );
        let mut request = self
            .http
            .get(&url)
            .timeout(self.config.timeout.min(Duration::from_secs(20)));
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let http_error = |status: Option<u16>, message: String| Error::Http {
            url: url.clone(),
            status,
            attempts: 1,
            message: self.redact(message),
        };
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) if e.is_connect() => {
                return Err(http_error(
                    None,
                    format!("{UNREACHABLE}: {}", error_chain(&e)),
                ))
            }
            // A reset, a dropped or timed-out reply once connected is no verdict on the
            // endpoint: the calls that follow retry such faults, so the check lets them.
            Err(_) => return Ok(()),
        };
        let status = response.status().as_u16();
        if status == 401 || status == 403 {
            let body = response.text().await.unwrap_or_default();
            return Err(http_error(
                Some(status),
                format!(
                    "the server refused the credentials: {}",
                    server_message(&body)
                ),
            ));
        }
        if !response.status().is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        let listed: Vec<String> = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                v["data"].as_array().map(|models| {
                    models
                        .iter()
                        .filter_map(|m| m["id"].as_str().map(str::to_string))
                        .collect()
                })
            })
            .unwrap_or_default();
        if listed.is_empty() || listed.iter().any(|m| m == self.config.model.trim()) {
            return Ok(());
        }
        Err(Error::InvalidConfig {
            field: "model",
            message: format!(
                "{url} does not serve {:?}; it serves {}",
                self.config.model,
                listed.join(", ")
            ),
        })
    }

    fn convert(
        &self,
        response: CreateChatCompletionResponse,
    ) -> std::result::Result<ChatResponse, Failure> {
        let Some(choice) = response.choices.into_iter().next() else {
            return Err(Failure::transient(
                None,
                "the response has no choices".into(),
            ));
        };
        let usage = response.usage.map(|u| Usage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
        });
        if let Some(u) = usage {
            let c = &self.counters;
            c.prompt_tokens
                .fetch_add(u.prompt_tokens.into(), Ordering::Relaxed);
            c.completion_tokens
                .fetch_add(u.completion_tokens.into(), Ordering::Relaxed);
        }
        let finish_reason = choice.finish_reason.map(|r| match r {
            OaFinishReason::Stop => FinishReason::Stop,
            OaFinishReason::Length => FinishReason::Length,
            OaFinishReason::ContentFilter => FinishReason::ContentFilter,
            _ => FinishReason::Other,
        });
        let message = choice.message;
        Ok(ChatResponse {
            content: message.content.or(message.refusal).unwrap_or_default(),
            finish_reason,
            usage,
        })
    }

    /// The wait before retry number `retry` (1-based).
    fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(self.config.retry_after_max);
        }
        let window = self
            .config
            .backoff_base
            .saturating_mul(
                1u32.checked_shl(retry.saturating_sub(1))
                    .unwrap_or(u32::MAX),
            )
            .min(self.config.backoff_max);
        // Full jitter: uniform in 0..=window, so that many clients failing together spread out.
        let unit = (self.next_random() >> 11) as f64 / (1u64 << 53) as f64;
        window.mul_f64(unit)
    }

    /// splitmix64 on an atomic counter: lock-free, good enough for jitter.
    fn next_random(&self) -> u64 {
        let mut z = self
            .jitter_state
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The message with the key (as is, and as `Debug` escapes it) replaced by `[redacted]`.
    fn redact(&self, message: String) -> String {
        let Some(key) = &self.api_key else {
            return message;
        };
        let escaped = key.escape_debug().to_string();
        message
            .replace(key.as_str(), "[redacted]")
            .replace(escaped.as_str(), "[redacted]")
    }
}

impl ChatModel for OpenAiChatModel {
    fn chat<'a>(&'a self, request: &'a ChatRequest) -> BoxFuture<'a, Result<ChatResponse>> {
        Box::pin(self.call(request))
    }

    fn model_id(&self) -> Option<&str> {
        Some(&self.model_id)
    }

    fn check_ready(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.check())
    }
}

/// The vectors of an embeddings response, put in input order by their `index`; a response
/// that does not hold exactly one vector per input is treated like a broken body (retried).
fn vectors_in_order(
    response: CreateEmbeddingResponse,
    expected: usize,
) -> std::result::Result<Vec<Vec<f32>>, Failure> {
    let mut out: Vec<Option<Vec<f32>>> = vec![None; expected];
    for item in response.data {
        match out.get_mut(item.index as usize) {
            Some(slot @ None) => *slot = Some(item.embedding),
            _ => {
                return Err(Failure::transient(
                    None,
                    format!(
                        "the embeddings response has a bad or repeated index {}",
                        item.index
                    ),
                ))
            }
        }
    }
    out.into_iter().collect::<Option<Vec<_>>>().ok_or_else(|| {
        Failure::transient(
            None,
            format!("the embeddings response lacks vectors for some of the {expected} inputs"),
        )
    })
}

/// What one failed attempt tells the retry loop.
struct Failure {
    transient: bool,
    status: Option<u16>,
    retry_after: Option<Duration>,
    message: String,
}

impl Failure {
    fn transient(status: Option<u16>, message: String) -> Self {
        Self {
            transient: true,
            status,
            retry_after: None,
            message,
        }
    }
}

fn classify(error: OpenAIError) -> Failure {
    match error {
        OpenAIError::Boxed(boxed) => match boxed.downcast::<HttpStatusError>() {
            Ok(e) => Failure {
                transient: e.status == 408 || e.status == 429 || e.status >= 500,
                status: Some(e.status),
                retry_after: e.retry_after,
                message: format!("server said: {}", server_message(&e.body)),
            },
            Err(other) => Failure::transient(None, other.to_string()),
        },
        OpenAIError::Reqwest(e) => {
            let kind = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                UNREACHABLE
            } else if e.is_body() || e.is_decode() {
                "the response body broke off"
            } else {
                "the connection failed"
            };
            Failure {
                // A builder error is our bug or a bad URL: retrying cannot help.
                transient: !e.is_builder(),
                status: e.status().map(|s| s.as_u16()),
                retry_after: None,
                message: format!("{kind}: {}", error_chain(&e)),
            }
        }
        // Garbage or a cut-off JSON body with a 200: a proxy or an overloaded server.
        OpenAIError::JSONDeserialize(e, body) => Failure::transient(
            None,
            format!(
                "the response is not a chat completion ({e}): {}",
                preview(&body)
            ),
        ),
        other => Failure {
            transient: false,
            status: None,
            retry_after: None,
            message: other.to_string(),
        },
    }
}

/// An error and its sources, `: `-joined (reqwest's own message hides the cause).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = e.source();
    }
    out
}

/// The `error.message` (and `error.type`) of an OpenAI-style error body, or the body itself.
fn server_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let error = parsed.as_ref().map(|v| &v["error"]);
    match error.and_then(|e| Some((e["message"].as_str()?, e["type"].as_str()))) {
        Some((message, Some(kind))) => format!("{message} ({kind})"),
        Some((message, None)) => message.to_string(),
        None => preview(body),
    }
}

fn preview(body: &str) -> String {
    const MAX: usize = 300;
    let trimmed = body.trim();
    let mut out: String = trimmed.chars().take(MAX).collect();
    if trimmed.chars().nth(MAX).is_some() {
        out.push('…');
    }
    format!("{out:?}")
}

/// A non-2xx response, as the HTTP layer hands it up through `async-openai`.
#[derive(Debug)]
struct HttpStatusError {
    status: u16,
    retry_after: Option<Duration>,
    body: String,
}

impl fmt::Display for HttpStatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}: {}", self.status, preview(&self.body))
    }
}

impl std::error::Error for HttpStatusError {}

/// `Retry-After` as a wait: delay-seconds or an HTTP date (a past date means "now").
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The transport under `async-openai`: plain reqwest, no retries, and a non-2xx response
/// turned into an [`HttpStatusError`] so that the status, `Retry-After` and body reach the
/// retry loop (`async-openai` keeps only the status and a parsed message).
#[derive(Clone)]
struct StatusService(ReqwestService);

impl tower::Service<HttpRequestFactory> for StatusService {
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = BoxFuture<'static, std::result::Result<reqwest::Response, OpenAIError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), OpenAIError>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: HttpRequestFactory) -> Self::Future {
        let sent = self.0.call(request);
        Box::pin(async move {
            let response = sent.await?;
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            // The body of an error is small; if it cannot be read, the status still tells.
            let body = response.text().await.unwrap_or_default();
            Err(OpenAIError::Boxed(Box::new(HttpStatusError {
                status: status.as_u16(),
                retry_after,
                body,
            })))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        // A date in the past: retry now.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn check_names_the_field_at_fault() {
        let ok = OpenAiConfig::new("http://127.0.0.1:8000/v1", "m");
        assert!(ok.check().is_ok());
        let field = |c: OpenAiConfig| match c.check() {
            Err(Error::InvalidConfig { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let mut c = ok.clone();
        c.base_url = "127.0.0.1:8000".into();
        assert_eq!(field(c), "base_url");
        let mut c = ok.clone();
        c.model = " ".into();
        assert_eq!(field(c), "model");
        let mut c = ok.clone();
        c.max_concurrency = 0;
        assert_eq!(field(c), "max_concurrency");
        let mut c = ok.clone();
        c.timeout = Duration::ZERO;
        assert_eq!(field(c), "timeout");
        let mut c = ok.clone();
        c.backoff_base = Duration::from_secs(60);
        assert_eq!(field(c), "backoff_base");
        assert_eq!(field(ok.clone().with_api_key_env("A=B")), "api_key_env");
        if !cfg!(feature = "openai-tls") {
            let mut c = ok;
            c.base_url = "https://api.example.org/v1".into();
            assert_eq!(field(c), "base_url");
        }
    }

    #[test]
    fn backoff_is_jittered_within_a_doubling_window() {
        let mut c = OpenAiConfig::new("http://127.0.0.1:1/v1", "m");
        c.backoff_base = Duration::from_millis(100);
        c.backoff_max = Duration::from_millis(350);
        let model = OpenAiChatModel::new(c).unwrap();
        for retry in 1..=40 {
            let window = Duration::from_millis(match retry {
                1 => 100,
                2 => 200,
                _ => 350,
            });
            let d = model.delay(retry, None);
            assert!(d <= window, "retry {retry}: {d:?} > {window:?}");
        }
        // Jitter: not every delay is the same.
        let delays: std::collections::HashSet<_> = (0..20).map(|_| model.delay(3, None)).collect();
        assert!(delays.len() > 10);
        // Retry-After wins, capped by retry_after_max.
        assert_eq!(
            model.delay(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            model.delay(1, Some(Duration::from_secs(10_000))),
            model.config().retry_after_max
        );
    }

    #[test]
    fn a_missing_key_variable_is_named_and_a_key_never_shows_in_debug() {
        let c = OpenAiConfig::new("http://127.0.0.1:1/v1", "m")
            .with_api_key_env("NAVAB_TEST_SURELY_UNSET_KEY_VAR");
        match OpenAiChatModel::new(c) {
            Err(e @ Error::MissingApiKey { .. }) => {
                assert!(e.to_string().contains("NAVAB_TEST_SURELY_UNSET_KEY_VAR"))
            }
            other => panic!("{other:?}"),
        }
    }
}
