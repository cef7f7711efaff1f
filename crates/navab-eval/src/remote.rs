//! [`RemoteScorer`]: scores continuations through any OpenAI-compatible server that returns
//! prompt log-probabilities (`/v1/completions` with `echo` and `logprobs`; feature `remote`).

use std::time::Duration;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde::Deserialize;

use crate::scorer::{LogLikelihood, ScoreRequest, Scorer};
use crate::{Error, Result};

/// Where and how a [`RemoteScorer`] calls its server.
///
/// [`RemoteScorerConfig::new`] gives the defaults: 8 prompts per HTTP request, 4 requests in
/// flight, a 300 s timeout per request, 3 retries on 429, 5xx and connection failures, and one
/// generated token per prompt (see [`generated_tokens`](Self::generated_tokens)).
///
/// Available with the crate feature `remote`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteScorerConfig {
    /// The server's base URL (`http://127.0.0.1:8000/v1`), or its full completions URL (ending
    /// in `/completions`).
    pub url: String,
    /// The `model` field to send.
    pub model: String,
    /// Sent as `Authorization: Bearer <key>` when set.
    pub api_key: Option<String>,
    /// Prompts per HTTP request.
    pub batch_size: usize,
    /// HTTP requests in flight at once.
    pub max_concurrency: usize,
    /// Limit for one HTTP request, connection to last byte.
    pub timeout: Duration,
    /// Retries of a request that failed with 429, a 5xx status, a timeout or a connection error;
    /// waits 0.25 s, 0.5 s, 1 s, ... between tries, or the server's `Retry-After`.
    pub max_retries: u32,
    /// `max_tokens` to send: 1 (default) as lm-evaluation-harness does, since vLLM refuses 0;
    /// the generated token is dropped. 0 for servers that accept it (OpenAI's legacy API, this
    /// project's `navab-server`).
    pub generated_tokens: u32,
}

impl RemoteScorerConfig {
    /// The defaults (see the type's docs) for `model` at `url`.
    pub fn new(url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            model: model.into(),
            api_key: None,
            batch_size: 8,
            max_concurrency: 4,
            timeout: Duration::from_secs(300),
            max_retries: 3,
            generated_tokens: 1,
        }
    }

    /// Sets the bearer token.
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Sets prompts per request and requests in flight.
    pub fn with_batching(mut self, batch_size: usize, max_concurrency: usize) -> Self {
        self.batch_size = batch_size;
        self.max_concurrency = max_concurrency;
        self
    }

    /// Checks every field; the error names the one at fault.
    pub fn check(&self) -> Result<()> {
        let bad = |what: String| Err(Error::InvalidOptions(format!("remote scorer: {what}")));
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return bad(format!(
                "url {:?} must start with http:// or https://",
                self.url
            ));
        }
        if self.model.trim().is_empty() {
            return bad("model is empty".into());
        }
        if self.batch_size == 0 || self.max_concurrency == 0 {
            return bad("batch_size and max_concurrency must be at least 1".into());
        }
        if self.timeout.is_zero() {
            return bad("timeout is 0".into());
        }
        if self.generated_tokens > 1 {
            return bad(format!(
                "generated_tokens is {}; use 0 or 1",
                self.generated_tokens
            ));
        }
        Ok(())
    }

    /// The completions endpoint: `url` itself when it ends in `/completions`, else
    /// `url + "/completions"`.
    pub fn endpoint(&self) -> String {
        let url = self.url.trim_end_matches('/');
        if url.ends_with("/completions") {
            url.to_string()
        } else {
            format!("{url}/completions")
        }
    }
}

/// A [`Scorer`] that asks an OpenAI-compatible server for prompt log-probabilities: vLLM,
/// this project's `navab-server`, or anything offering `/v1/completions` with `echo: true`
/// and `logprobs`.
///
/// Each request's `context + continuation` is sent as one prompt. The server's `text_offset`s
/// (characters, as OpenAI and vLLM count them) tell which tokens belong to the continuation:
/// those that end after the context, counting back from the prompt's end, so a BOS token the
/// server prepends shifts nothing. Tokens without a log-probability (the first) count nowhere,
/// as in [`crate::LocalScorer`]. Offsets must follow the text: a server whose token strings do
/// not add up to the prompt (byte-level pieces of one character shown as `�`) can misplace the
/// boundary by a token.
///
/// [`Scorer::score`] is blocking: the scorer owns a single-threaded tokio runtime and drives up
/// to `max_concurrency` HTTP requests on it. Call it from ordinary threads; inside an async
/// runtime it returns an error rather than panicking (wrap it in `spawn_blocking`).
///
/// ```no_run
/// use navab_eval::{RemoteScorer, RemoteScorerConfig, ScoreRequest, Scorer};
///
/// # fn main() -> navab_eval::Result<()> {
/// // vllm serve Qwen/Qwen2.5-0.5B   (an OpenAI-compatible server on :8000)
/// let scorer = RemoteScorer::new(RemoteScorerConfig::new("http://127.0.0.1:8000/v1", "Qwen/Qwen2.5-0.5B"))?;
/// let ll = scorer.score(&[ScoreRequest::new("My answer is", " A")])?;
/// println!("{:.3}", ll[0].continuation_logprob);
/// # Ok(()) }
/// ```
///
/// Available with the crate feature `remote`.
#[derive(Debug)]
pub struct RemoteScorer {
    config: RemoteScorerConfig,
    endpoint: String,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

#[derive(Debug, Deserialize)]
struct CompletionResponse {
    choices: Vec<Choice>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    logprobs: Option<WireLogprobs>,
}

#[derive(Debug, Deserialize)]
struct WireLogprobs {
    tokens: Vec<String>,
    token_logprobs: Vec<Option<f64>>,
    text_offset: Vec<usize>,
}

impl RemoteScorer {
    /// Checks `config` and builds the HTTP client and runtime.
    pub fn new(config: RemoteScorerConfig) -> Result<Self> {
        config.check()?;
        let endpoint = config.endpoint();
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| Error::Remote {
                url: endpoint.clone(),
                status: None,
                message: format!("cannot build the HTTP client: {e}"),
            })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Remote {
                url: endpoint.clone(),
                status: None,
                message: format!("cannot start the async runtime: {e}"),
            })?;
        Ok(Self {
            config,
            endpoint,
            client,
            runtime,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RemoteScorerConfig {
        &self.config
    }

    fn error(&self, status: Option<u16>, message: impl Into<String>) -> Error {
        Error::Remote {
            url: self.endpoint.clone(),
            status,
            message: message.into(),
        }
    }

    /// Posts `body`, retrying 429, 5xx and transport failures.
    async fn post(&self, body: &serde_json::Value) -> Result<CompletionResponse> {
        let mut attempt = 0;
        loop {
            let mut request = self.client.post(&self.endpoint).json(body);
            if let Some(key) = &self.config.api_key {
                request = request.bearer_auth(key);
            }
            let (error, retry_after) = match request.send().await {
                Ok(response) if response.status().is_success() => {
                    return response.json().await.map_err(|e| {
                        self.error(Some(200), format!("unreadable completions reply: {e}"))
                    });
                }
                Ok(response) => {
                    let status = response.status();
                    let retry_after = response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(|s| Duration::from_secs(s.min(30)));
                    let text = response.text().await.unwrap_or_default();
                    let error = self.error(Some(status.as_u16()), server_message(&text));
                    if !(status.as_u16() == 429 || status.is_server_error()) {
                        return Err(error);
                    }
                    (error, retry_after)
                }
                Err(e) => {
                    let error = self.error(None, error_chain(&e));
                    if !(e.is_timeout() || e.is_connect() || e.is_request()) {
                        return Err(error);
                    }
                    (error, None)
                }
            };
            if attempt >= self.config.max_retries {
                return Err(error);
            }
            let backoff = Duration::from_millis(250 << attempt.min(6));
            tokio::time::sleep(retry_after.unwrap_or(backoff)).await;
            attempt += 1;
        }
    }

    async fn score_batch(&self, batch: &[ScoreRequest]) -> Result<Vec<LogLikelihood>> {
        let prompts: Vec<String> = batch
            .iter()
            .map(|r| format!("{}{}", r.context, r.continuation))
            .collect();
        let body = serde_json::json!({
            "model": self.config.model,
            "prompt": prompts,
            "echo": true,
            "max_tokens": self.config.generated_tokens,
            "logprobs": 1,
            "temperature": 0,
        });
        let mut reply = self.post(&body).await?;
        if reply.choices.len() != batch.len() {
            return Err(self.error(
                Some(200),
                format!(
                    "{} choices for {} prompts",
                    reply.choices.len(),
                    batch.len()
                ),
            ));
        }
        // Choices carry their prompt's index; order by it, as the harness does.
        reply.choices.sort_by_key(|c| c.index);
        reply
            .choices
            .into_iter()
            .zip(batch)
            .map(|(choice, request)| {
                let logprobs = choice.logprobs.ok_or_else(|| {
                    self.error(
                        Some(200),
                        "the reply has no logprobs: does the server support echo + logprobs?",
                    )
                })?;
                split_at_continuation(
                    &logprobs,
                    request.continuation.chars().count(),
                    self.config.generated_tokens as usize,
                )
                .map_err(|reason| {
                    self.error(
                        Some(200),
                        format!(
                            "prompt {:?}: {reason}",
                            truncate(&format!("{}{}", request.context, request.continuation))
                        ),
                    )
                })
            })
            .collect()
    }
}

impl Scorer for RemoteScorer {
    fn score(&self, requests: &[ScoreRequest]) -> Result<Vec<LogLikelihood>> {
        if let Some(i) = requests.iter().position(|r| r.continuation.is_empty()) {
            return Err(Error::InvalidOptions(format!(
                "request {i} has an empty continuation: nothing to score"
            )));
        }
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(self.error(
                None,
                "RemoteScorer::score blocks; call it outside the async runtime \
                 (e.g. in tokio::task::spawn_blocking)",
            ));
        }
        self.runtime.block_on(async {
            let batches: Vec<Vec<LogLikelihood>> =
                stream::iter(requests.chunks(self.config.batch_size))
                    .map(|batch| self.score_batch(batch))
                    .buffered(self.config.max_concurrency)
                    .try_collect()
                    .await?;
            Ok(batches.into_iter().flatten().collect())
        })
    }

    fn name(&self) -> String {
        format!("{} via {}", self.config.model, self.endpoint)
    }
}

/// Splits a prompt's token log-probabilities into context and continuation.
///
/// `generated` trailing entries are generated tokens, dropped. The prompt ends where the first
/// of them starts, or else where the last token ends; the continuation is its last
/// `continuation_chars` characters. A token belongs to the continuation when it ends after the
/// boundary.
fn split_at_continuation(
    logprobs: &WireLogprobs,
    continuation_chars: usize,
    generated: usize,
) -> std::result::Result<LogLikelihood, String> {
    let n = logprobs.tokens.len();
    if logprobs.token_logprobs.len() != n || logprobs.text_offset.len() != n {
        return Err(format!(
            "{n} tokens, {} token_logprobs, {} text_offset entries",
            logprobs.token_logprobs.len(),
            logprobs.text_offset.len()
        ));
    }
    if n <= generated {
        return Err(format!(
            "{n} tokens, but {generated} of them should be generated"
        ));
    }
    if logprobs.text_offset.windows(2).any(|w| w[0] > w[1]) {
        return Err("text_offset is not in order".into());
    }
    let prompt_tokens = n - generated;
    let prompt_end = if generated > 0 {
        logprobs.text_offset[prompt_tokens]
    } else {
        logprobs.text_offset[n - 1] + logprobs.tokens[n - 1].chars().count()
    };
    let boundary = prompt_end.checked_sub(continuation_chars).ok_or_else(|| {
        format!(
            "the tokens cover {prompt_end} characters, fewer than the continuation's {continuation_chars}"
        )
    })?;
    let mut ll = LogLikelihood {
        context_logprob: 0.0,
        context_tokens: 0,
        continuation_logprob: 0.0,
        continuation_tokens: 0,
    };
    for k in 0..prompt_tokens {
        let Some(logprob) = logprobs.token_logprobs[k] else {
            continue;
        };
        let end = if k + 1 < n {
            logprobs.text_offset[k + 1]
        } else {
            prompt_end
        };
        if end > boundary {
            ll.continuation_logprob += logprob;
            ll.continuation_tokens += 1;
        } else {
            ll.context_logprob += logprob;
            ll.context_tokens += 1;
        }
    }
    if ll.continuation_tokens == 0 {
        return Err("no continuation token has a log-probability".into());
    }
    if !(ll.context_logprob.is_finite() && ll.continuation_logprob.is_finite()) {
        return Err("a log-probability is not finite".into());
    }
    Ok(ll)
}

/// The `error.message` of an OpenAI-shaped error body, else the body, shortened.
fn server_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| truncate(body))
}

fn truncate(text: &str) -> String {
    const MAX: usize = 300;
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// reqwest's error with its causes ("error sending request: connection refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(tokens: &[&str], logprobs: &[Option<f64>], offsets: &[usize]) -> WireLogprobs {
        WireLogprobs {
            tokens: tokens.iter().map(|t| t.to_string()).collect(),
            token_logprobs: logprobs.to_vec(),
            text_offset: offsets.to_vec(),
        }
    }

    #[test]
    fn splits_at_the_continuation_counting_from_the_end() {
        // "My answer is A": context "My answer is", continuation " A".
        let lp = wire(
            &["My", " answer", " is", " A"],
            &[None, Some(-1.0), Some(-2.0), Some(-0.5)],
            &[0, 2, 9, 12],
        );
        let ll = split_at_continuation(&lp, 2, 0).unwrap();
        assert_eq!((ll.context_logprob, ll.context_tokens), (-3.0, 2));
        assert_eq!((ll.continuation_logprob, ll.continuation_tokens), (-0.5, 1));
    }

    #[test]
    fn a_bos_token_and_a_generated_token_shift_nothing() {
        // vLLM-style: a BOS string shifts every offset; max_tokens 1 appends " the".
        let lp = wire(
            &["<s>", "My", " answer", " is", " A", " the"],
            &[
                None,
                Some(-4.0),
                Some(-1.0),
                Some(-2.0),
                Some(-0.5),
                Some(-0.1),
            ],
            &[0, 3, 5, 12, 15, 17],
        );
        let ll = split_at_continuation(&lp, 2, 1).unwrap();
        assert_eq!((ll.context_logprob, ll.context_tokens), (-7.0, 3));
        assert_eq!((ll.continuation_logprob, ll.continuation_tokens), (-0.5, 1));
    }

    #[test]
    fn a_token_straddling_the_boundary_belongs_to_the_continuation() {
        // "The abcdef": context "The abc", continuation "def"; " abcdef" is one token.
        let lp = wire(&["The", " abcdef"], &[None, Some(-3.0)], &[0, 3]);
        let ll = split_at_continuation(&lp, 3, 0).unwrap();
        assert_eq!((ll.context_tokens, ll.continuation_tokens), (0, 1));
        assert_eq!(ll.continuation_logprob, -3.0);
    }

    #[test]
    fn inconsistent_replies_are_errors() {
        let short = wire(&["a", "b"], &[None], &[0, 1]);
        assert!(split_at_continuation(&short, 1, 0)
            .unwrap_err()
            .contains("token_logprobs"));
        let unordered = wire(&["a", "b"], &[None, Some(-1.0)], &[1, 0]);
        assert!(split_at_continuation(&unordered, 1, 0)
            .unwrap_err()
            .contains("order"));
        let too_long = wire(&["a", "b"], &[None, Some(-1.0)], &[0, 1]);
        assert!(split_at_continuation(&too_long, 5, 0)
            .unwrap_err()
            .contains("fewer"));
        let only_first = wire(&["ab"], &[None], &[0]);
        assert!(split_at_continuation(&only_first, 1, 0)
            .unwrap_err()
            .contains("no continuation"));
        let all_generated = wire(&["a"], &[Some(-1.0)], &[0]);
        assert!(split_at_continuation(&all_generated, 1, 1)
            .unwrap_err()
            .contains("generated"));
    }

    #[test]
    fn endpoint_and_config_checks() {
        let config = RemoteScorerConfig::new("http://127.0.0.1:8000/v1/", "m");
        assert_eq!(config.endpoint(), "http://127.0.0.1:8000/v1/completions");
        let full = RemoteScorerConfig::new("https://h/v1/completions", "m");
        assert_eq!(full.endpoint(), "https://h/v1/completions");
        config.check().unwrap();
        for bad in [
            RemoteScorerConfig::new("127.0.0.1:8000", "m"),
            RemoteScorerConfig::new("http://h", " "),
            RemoteScorerConfig::new("http://h", "m").with_batching(0, 1),
            RemoteScorerConfig {
                generated_tokens: 2,
                ..RemoteScorerConfig::new("http://h", "m")
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }
}
