//! An OpenAI-compatible HTTP server over NaVAB's local backends: chat completions through a
//! [`navab_llm::ChatModel`], and prompt scoring (`/v1/completions` with `echo` and `logprobs`)
//! through a [`PromptScorer`], so that `navab-eval` and lm-evaluation-harness can score
//! perplexity through it.
//!
//! ```no_run
//! use navab_llm::testing::ScriptedChatModel;
//! use navab_server::testing::FakePromptScorer;
//! use navab_server::{serve, Backends, ServerConfig};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), navab_server::Error> {
//!     // Put your model here: any `ChatModel`, any `PromptScorer` (the fakes need none).
//!     let backends = Backends::new()
//!         .with_chat(ScriptedChatModel::new(["Hello!"]))
//!         .with_scorer(FakePromptScorer::new("fake"));
//!     let config = ServerConfig::new("fake").with_bearer_token("s3cret");
//!     serve(config, backends).await // until Ctrl-C or SIGTERM
//! }
//! ```
//!
//! Then `curl -H 'Authorization: Bearer s3cret' 127.0.0.1:8080/v1/completions -d
//! '{"model": "fake", "prompt": "My answer is A", "echo": true, "max_tokens": 0, "logprobs": 1}'`.
//! `navab-eval`'s `RemoteScorer` (feature `remote`) scores through this server or any other
//! that offers the same, e.g. vLLM:
//!
//! ```ignore
//! use navab_eval::{RemoteScorer, RemoteScorerConfig, ScoreRequest, Scorer};
//!
//! // vllm serve meta-llama/Meta-Llama-3-8B --api-key s3cret   (listens on :8000)
//! let config = RemoteScorerConfig::new("http://127.0.0.1:8000/v1", "meta-llama/Meta-Llama-3-8B")
//!     .with_api_key("s3cret");
//! let scorer = RemoteScorer::new(config)?;
//! let scores = scorer.score(&[ScoreRequest::new("My answer is", " A")])?;
//! println!("{}", scores[0].continuation_perplexity());
//! ```
//!
//! # Routes
//!
//! | Route | Does |
//! |---|---|
//! | `GET /v1/models`, `GET /v1/models/{id}` | the one model served ([`ServerConfig::model_id`]) |
//! | `POST /v1/chat/completions` | one choice from the chat backend; `temperature`, `top_p`, `max_tokens` (or `max_completion_tokens`), `seed`, `stop` go to [`navab_llm::ChatRequest`]; `n` > 1 is a 400; `stream: true` answers in server-sent events (one content chunk, as the backend answers whole) |
//! | `POST /v1/completions` | prompt scoring: `echo: true`, `max_tokens` 0 or 1, `logprobs: N` (≤ 20); `prompt` a string, a list of strings, token ids or lists of them (token ids need a backend that takes them). `max_tokens: 1` appends the greedy next token, whatever the temperature, as lm-evaluation-harness's `local-completions` asks and then drops. More tokens are a 400: generate with chat |
//! | `GET /health` | `ok`, without authentication |
//!
//! The `logprobs` object is OpenAI's legacy one: `tokens`, `token_logprobs` (null for the first
//! token), `top_logprobs` (a `{token: logprob}` object per position, best first; null where
//! there is none) and `text_offset`, counted in **characters** of `text` as OpenAI and vLLM
//! count them (a [`PromptScorer`] gives bytes; an offset inside a character rounds up).
//!
//! Errors use OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`: 400 for bad JSON
//! (naming the field) or unusable fields, 401 without the bearer token, 404 for an unknown model
//! or route, 413 past the body limit, 500 when a backend fails, 503 when the queue is full.
//!
//! # Security defaults
//!
//! The server listens on `127.0.0.1:8080`: only this machine can reach it. A non-loopback
//! address needs a bearer token (or an explicit
//! [`allow_public_without_token`](ServerConfig::allow_public_without_token)); the token is
//! compared in constant time. Bodies are capped at 4 MiB. At most
//! [`max_concurrency`](ServerConfig::max_concurrency) backend calls run at once, on blocking
//! threads so a slow model never stalls the async executor, and at most
//! [`max_queue`](ServerConfig::max_queue) more wait; the rest get 503 at once. There is no
//! TLS: put a reverse proxy in front to serve beyond a trusted network.
//!
//! # Features
//! - `local`: `LocalPromptScorer`, a [`PromptScorer`] over a local `navab-lm` model (candle).
//! - `cuda`: `local` on the GPU through candle's CUDA backend.
//!
//! The crate always needs tokio and axum (HTTP/1 only).

mod api;
mod config;
mod embeddings;
mod error;
#[cfg(feature = "local")]
mod local;
mod routes;
mod scorer;
mod serve;
pub mod testing;

pub use config::ServerConfig;
pub use error::{Error, Result};
#[cfg(feature = "local")]
pub use local::LocalPromptScorer;
pub use routes::{router, Backends, MAX_TOP_LOGPROBS};
pub use scorer::{Prompt, PromptLogprobs, PromptScorer, ScoreOptions, TokenLogprob};
pub use serve::{serve, Server};
