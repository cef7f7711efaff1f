//! The [`PromptScorer`] seam: a backend that gives the log-probability of every prompt token.

use std::sync::Arc;

use crate::error::{Error, Result};

/// What to score: a text, or token ids (as lm-evaluation-harness sends them by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt<'a> {
    /// A text, tokenized by the backend.
    Text(&'a str),
    /// Token ids of the backend's tokenizer.
    Tokens(&'a [u32]),
}

/// What the caller wants besides each token's own log-probability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScoreOptions {
    /// How many most likely alternatives to report per position (the request's `logprobs: N`);
    /// 0 for none.
    pub top_logprobs: usize,
    /// Also predict the greedy next token after the prompt (for `max_tokens: 1`, which
    /// lm-evaluation-harness sends and then drops).
    pub next_token: bool,
}

/// A token with its log-probability.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLogprob {
    /// The token's text.
    pub token: String,
    /// Natural log-probability.
    pub logprob: f32,
}

/// Log-probabilities of a prompt's tokens: the legacy completions `logprobs` object, before it
/// goes on the wire.
///
/// Token `k` covers `text[text_offset[k]..text_offset[k + 1]]` (the last one runs to the end of
/// `text`). Offsets are **bytes** here; the server turns them into character offsets on the
/// wire, as OpenAI and vLLM count them. Parallel vectors have one entry per token;
/// `top_logprobs` is empty when none were asked for or the backend has none. A special token
/// the tokenizer adds (BOS) covers no text: it sits at offset 0 with the next token also at 0,
/// and its log-probability is `None`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PromptLogprobs {
    /// The text the offsets index: the prompt itself, or the decoded ids of a token prompt.
    pub text: String,
    /// Each token's text.
    pub tokens: Vec<String>,
    /// `log p(token k | tokens < k)`; `None` for the first token, which has no prediction.
    pub token_logprobs: Vec<Option<f32>>,
    /// Per token, the most likely alternatives at its position, best first (empty for none).
    pub top_logprobs: Vec<Vec<TokenLogprob>>,
    /// Byte offset in `text` where each token starts; non-decreasing.
    pub text_offset: Vec<usize>,
    /// The greedy next token and its alternatives, when [`ScoreOptions::next_token`] asked.
    pub next_token: Option<(TokenLogprob, Vec<TokenLogprob>)>,
}

impl PromptLogprobs {
    /// Checks that the vectors line up and the offsets are non-decreasing and inside `text`.
    /// The server runs it on every backend answer and turns a failure into a 500.
    pub fn check(&self) -> Result<()> {
        let n = self.tokens.len();
        if self.token_logprobs.len() != n || self.text_offset.len() != n {
            return Err(Error::Scorer(format!(
                "inconsistent prompt logprobs: {n} tokens, {} logprobs, {} offsets",
                self.token_logprobs.len(),
                self.text_offset.len()
            )));
        }
        if !self.top_logprobs.is_empty() && self.top_logprobs.len() != n {
            return Err(Error::Scorer(format!(
                "inconsistent prompt logprobs: {n} tokens, {} top_logprobs entries",
                self.top_logprobs.len()
            )));
        }
        let mut previous = 0;
        for (k, &offset) in self.text_offset.iter().enumerate() {
            if offset < previous || offset > self.text.len() {
                return Err(Error::Scorer(format!(
                    "token {k} offset {offset} is out of order or past the text's {} bytes",
                    self.text.len()
                )));
            }
            previous = offset;
        }
        if let Some(k) = self
            .token_logprobs
            .iter()
            .position(|lp| lp.is_some_and(f32::is_nan))
        {
            return Err(Error::Scorer(format!(
                "token {k} has a NaN log-probability"
            )));
        }
        Ok(())
    }
}

/// A backend that scores prompts: the log-probability of every token given the ones before.
///
/// Blocking: the server calls it on a blocking thread (`spawn_blocking`), a bounded number at a
/// time, so a local candle model needs no async code. Implement it for `navab-lm`'s model, or
/// use [`crate::testing::FakePromptScorer`] in tests, and run
/// [`crate::testing::check_prompt_scorer`] on your implementation.
///
/// What clients need: `navab-eval`'s `RemoteScorer` needs only tokens, log-probabilities and
/// offsets. lm-evaluation-harness's `local-completions` also needs `top_logprobs` (it compares
/// each continuation token with the best alternative) and the next token (it sends
/// `max_tokens: 1` and drops the last entry); a backend that leaves
/// [`PromptLogprobs::next_token`] empty when asked makes the server refuse `max_tokens: 1`
/// rather than let such a client drop a prompt token.
pub trait PromptScorer: Send + Sync {
    /// The model's name (for logs and reports; `navab-server` answers to its own configured id).
    fn model_id(&self) -> &str;

    /// Scores one prompt. Input the backend cannot take is [`Error::InvalidInput`] or
    /// [`Error::Unsupported`] (e.g. [`Prompt::Tokens`] for a backend without token input); a
    /// model failure is [`Error::Scorer`].
    fn score_prompt(&self, prompt: Prompt<'_>, options: &ScoreOptions) -> Result<PromptLogprobs>;

    /// Scores several prompts (one request's `prompt` list), one result per prompt, in order.
    /// The default scores them one by one; a backend that batches overrides it.
    fn score_prompts(
        &self,
        prompts: &[Prompt<'_>],
        options: &ScoreOptions,
    ) -> Result<Vec<PromptLogprobs>> {
        prompts
            .iter()
            .map(|p| self.score_prompt(*p, options))
            .collect()
    }
}

impl<T: PromptScorer + ?Sized> PromptScorer for &T {
    fn model_id(&self) -> &str {
        (**self).model_id()
    }
    fn score_prompt(&self, prompt: Prompt<'_>, options: &ScoreOptions) -> Result<PromptLogprobs> {
        (**self).score_prompt(prompt, options)
    }
    fn score_prompts(
        &self,
        prompts: &[Prompt<'_>],
        options: &ScoreOptions,
    ) -> Result<Vec<PromptLogprobs>> {
        (**self).score_prompts(prompts, options)
    }
}

impl<T: PromptScorer + ?Sized> PromptScorer for Box<T> {
    fn model_id(&self) -> &str {
        (**self).model_id()
    }
    fn score_prompt(&self, prompt: Prompt<'_>, options: &ScoreOptions) -> Result<PromptLogprobs> {
        (**self).score_prompt(prompt, options)
    }
    fn score_prompts(
        &self,
        prompts: &[Prompt<'_>],
        options: &ScoreOptions,
    ) -> Result<Vec<PromptLogprobs>> {
        (**self).score_prompts(prompts, options)
    }
}

impl<T: PromptScorer + ?Sized> PromptScorer for Arc<T> {
    fn model_id(&self) -> &str {
        (**self).model_id()
    }
    fn score_prompt(&self, prompt: Prompt<'_>, options: &ScoreOptions) -> Result<PromptLogprobs> {
        (**self).score_prompt(prompt, options)
    }
    fn score_prompts(
        &self,
        prompts: &[Prompt<'_>],
        options: &ScoreOptions,
    ) -> Result<Vec<PromptLogprobs>> {
        (**self).score_prompts(prompts, options)
    }
}
