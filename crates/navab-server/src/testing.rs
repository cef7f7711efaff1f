//! Test doubles: [`FakePromptScorer`], a deterministic [`PromptScorer`] that needs no model.
//!
//! For tests, examples and docs only.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::scorer::{Prompt, PromptLogprobs, PromptScorer, ScoreOptions, TokenLogprob};

/// A deterministic [`PromptScorer`]: a toy tokenizer and log-probabilities from a hash.
///
/// Tokens are a run of ASCII letters and digits, one other character (CJK included), or
/// whitespace glued to the token that follows it (`"My answer"` → `"My"`, `" answer"`). Token
/// `k`'s log-probability is a hash of tokens `k - 1` and `k`, in `(-4.05, -0.05]`; the greedy
/// alternative at every position is `" the"` at -0.04. Token-id prompts are read as Unicode
/// scalar values, one character per token.
///
/// ```
/// use navab_server::testing::FakePromptScorer;
/// use navab_server::{Prompt, PromptScorer, ScoreOptions};
///
/// let scorer = FakePromptScorer::new("fake");
/// let scored = scorer.score_prompt(Prompt::Text("My answer is 是"), &ScoreOptions::default()).unwrap();
/// assert_eq!(scored.tokens, ["My", " answer", " is", " 是"]);
/// assert_eq!(scored.text_offset, [0, 2, 9, 12]);
/// assert_eq!(scored.token_logprobs[0], None);
/// ```
#[derive(Debug)]
pub struct FakePromptScorer {
    model_id: String,
    fail_on: Option<String>,
    delay: Duration,
    calls: AtomicUsize,
}

/// The greedy alternative the fake reports at every position.
pub const FAKE_GREEDY_TOKEN: &str = " the";
/// Its log-probability, above every scored token's.
pub const FAKE_GREEDY_LOGPROB: f32 = -0.04;

impl FakePromptScorer {
    /// A fake model with this id.
    pub fn new(model_id: impl Into<String>) -> Self {
        Self {
            model_id: model_id.into(),
            fail_on: None,
            delay: Duration::ZERO,
            calls: AtomicUsize::new(0),
        }
    }

    /// Fails with [`Error::Backend`] on any prompt containing `needle`.
    pub fn failing_on(mut self, needle: impl Into<String>) -> Self {
        self.fail_on = Some(needle.into());
        self
    }

    /// Sleeps this long in every call (to test queueing and overload).
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// How many prompts it has scored or refused.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// The toy tokenizer: `(byte offset, token)` pairs covering `text`.
    pub fn tokenize(text: &str) -> Vec<(usize, &str)> {
        let mut tokens = Vec::new();
        let mut start = 0;
        let mut chars = text.char_indices().peekable();
        while let Some(&(i, c)) = chars.peek() {
            // Leading whitespace joins the token after it.
            if c.is_whitespace() {
                chars.next();
                continue;
            }
            chars.next();
            let mut end = i + c.len_utf8();
            if c.is_ascii_alphanumeric() {
                while let Some(&(j, d)) = chars.peek() {
                    if !d.is_ascii_alphanumeric() {
                        break;
                    }
                    end = j + d.len_utf8();
                    chars.next();
                }
            }
            tokens.push((start, &text[start..end]));
            start = end;
        }
        if start < text.len() {
            // Trailing whitespace is a token of its own.
            tokens.push((start, &text[start..]));
        }
        tokens
    }

    /// The fake log-probability of `token` after `previous`.
    pub fn logprob(previous: &str, token: &str) -> f32 {
        // FNV-1a: stable across runs and platforms, unlike std's hasher.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in previous.bytes().chain([0]).chain(token.bytes()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        -0.05 - (hash % 1000) as f32 / 250.0
    }

    fn alternatives(actual: &TokenLogprob, n: usize) -> Vec<TokenLogprob> {
        let mut top = vec![TokenLogprob {
            token: FAKE_GREEDY_TOKEN.into(),
            logprob: FAKE_GREEDY_LOGPROB,
        }];
        if actual.token != FAKE_GREEDY_TOKEN {
            top.push(actual.clone());
        }
        top.truncate(n);
        top
    }
}

impl PromptScorer for FakePromptScorer {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn score_prompt(&self, prompt: Prompt<'_>, options: &ScoreOptions) -> Result<PromptLogprobs> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        let text = match prompt {
            Prompt::Text(text) => text.to_string(),
            Prompt::Tokens(ids) => ids
                .iter()
                .map(|&id| {
                    char::from_u32(id)
                        .ok_or_else(|| Error::InvalidInput(format!("unknown token id {id}")))
                })
                .collect::<Result<String>>()?,
        };
        if text.is_empty() {
            return Err(Error::InvalidInput("the prompt is empty".into()));
        }
        if let Some(needle) = self.fail_on.as_deref().filter(|n| text.contains(n)) {
            return Err(Error::Backend(format!(
                "fake failure on a prompt containing {needle:?}"
            )));
        }
        let pieces: Vec<(usize, String)> = match prompt {
            Prompt::Text(_) => Self::tokenize(&text)
                .into_iter()
                .map(|(offset, token)| (offset, token.to_string()))
                .collect(),
            Prompt::Tokens(_) => text
                .char_indices()
                .map(|(i, c)| (i, c.to_string()))
                .collect(),
        };
        let mut scored = PromptLogprobs {
            text,
            ..PromptLogprobs::default()
        };
        let mut previous: Option<&str> = None;
        for (offset, token) in &pieces {
            let logprob = previous.map(|p| Self::logprob(p, token));
            scored.tokens.push(token.clone());
            scored.token_logprobs.push(logprob);
            scored.text_offset.push(*offset);
            if options.top_logprobs > 0 {
                scored.top_logprobs.push(match logprob {
                    Some(logprob) => Self::alternatives(
                        &TokenLogprob {
                            token: token.clone(),
                            logprob,
                        },
                        options.top_logprobs,
                    ),
                    None => Vec::new(),
                });
            }
            previous = Some(token);
        }
        if options.next_token {
            let next = TokenLogprob {
                token: FAKE_GREEDY_TOKEN.into(),
                logprob: FAKE_GREEDY_LOGPROB,
            };
            let top = Self::alternatives(&next, options.top_logprobs);
            scored.next_token = Some((next, top));
        }
        Ok(scored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_cover_the_text() {
        for text in [
            "My answer is A",
            "  lead",
            "trail  ",
            "香港 是 city,ok",
            "a",
        ] {
            let tokens = FakePromptScorer::tokenize(text);
            let joined: String = tokens.iter().map(|(_, t)| *t).collect();
            assert_eq!(joined, text);
            for (offset, token) in tokens {
                assert_eq!(&text[offset..offset + token.len()], token);
            }
        }
    }

    #[test]
    fn scores_are_deterministic_and_below_the_greedy_token() {
        let scorer = FakePromptScorer::new("fake");
        let options = ScoreOptions {
            top_logprobs: 2,
            next_token: true,
        };
        let a = scorer
            .score_prompt(Prompt::Text("The city of 香港"), &options)
            .unwrap();
        let b = scorer
            .score_prompt(Prompt::Text("The city of 香港"), &options)
            .unwrap();
        assert_eq!(a, b);
        a.check().unwrap();
        for lp in a.token_logprobs.iter().flatten() {
            assert!(*lp < FAKE_GREEDY_LOGPROB && *lp > -4.06, "{lp}");
        }
        assert_eq!(a.top_logprobs[1][0].token, FAKE_GREEDY_TOKEN);
        assert_eq!(scorer.calls(), 2);
    }

    #[test]
    fn token_prompts_and_failures() {
        let scorer = FakePromptScorer::new("fake").failing_on("boom");
        let ids: Vec<u32> = "hi".chars().map(u32::from).collect();
        let scored = scorer
            .score_prompt(Prompt::Tokens(&ids), &ScoreOptions::default())
            .unwrap();
        assert_eq!(scored.tokens, ["h", "i"]);
        assert!(matches!(
            scorer.score_prompt(Prompt::Tokens(&[0xD800]), &ScoreOptions::default()),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            scorer.score_prompt(Prompt::Text("a boom"), &ScoreOptions::default()),
            Err(Error::Backend(_))
        ));
    }
}
