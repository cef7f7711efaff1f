//! Test doubles and checks: [`FakePromptScorer`], a deterministic [`PromptScorer`] that needs
//! no model, and [`check_prompt_scorer`], the conformance test for any implementation.
//!
//! For tests, examples and docs only.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use navab_core::hash::fnv1a;

use crate::error::{Error, Result};
use crate::prompt::{Prompt, PromptLogprobs, PromptScorer, ScoreOptions, TokenLogprob};

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

    /// Fails with [`Error::Scorer`] on any prompt containing `needle`.
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
        let bytes: Vec<u8> = previous.bytes().chain([0]).chain(token.bytes()).collect();
        let hash = fnv1a(&bytes);
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
            return Err(Error::Scorer(format!(
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

/// Checks what every [`PromptScorer`] must do; run it on each implementation (a conformance
/// test, as burn's backend tests). Returns the first violation, described.
///
/// Checked: answers pass [`PromptLogprobs::check`] and keep the prompt's text; every token
/// after the first has a log-probability ≤ 0; the same prompt gives the same numbers, alone or
/// in a batch (to 1e-4); `top_logprobs: N` gives at most `N` alternatives, best first, the
/// best no worse than the token itself; `next_token` gives the best alternative at the end;
/// CJK text works; an empty prompt is [`Error::InvalidInput`].
///
/// ```
/// use navab_server::testing::{check_prompt_scorer, FakePromptScorer};
///
/// check_prompt_scorer(&FakePromptScorer::new("fake")).unwrap();
/// ```
pub fn check_prompt_scorer(scorer: &dyn PromptScorer) -> std::result::Result<(), String> {
    const TOLERANCE: f32 = 1e-4;
    let prompts = [
        "My answer is A",
        "香港是一個國際城市。My answer is B",
        "Statement: freedom of the press matters.\nAnswer:",
    ];
    let plain = ScoreOptions::default();
    let rich = ScoreOptions {
        top_logprobs: 2,
        next_token: true,
    };
    let fail = |prompt: &str, what: String| Err(format!("prompt {prompt:?}: {what}"));
    let mut alone = Vec::new();
    for prompt in prompts {
        let scored = scorer
            .score_prompt(Prompt::Text(prompt), &rich)
            .map_err(|e| format!("prompt {prompt:?}: {e}"))?;
        scored
            .check()
            .map_err(|e| format!("prompt {prompt:?}: {e}"))?;
        if scored.text != prompt {
            return fail(prompt, format!("text is {:?}", scored.text));
        }
        if scored.tokens.is_empty() {
            return fail(prompt, "no tokens".into());
        }
        for (k, lp) in scored.token_logprobs.iter().enumerate().skip(1) {
            match lp {
                Some(lp) if *lp <= TOLERANCE => {}
                other => return fail(prompt, format!("token {k} has log-probability {other:?}")),
            }
        }
        if scored.top_logprobs.len() != scored.tokens.len() {
            return fail(
                prompt,
                "top_logprobs asked for but not given per token".into(),
            );
        }
        for (k, top) in scored.top_logprobs.iter().enumerate().skip(1) {
            if top.is_empty() || top.len() > 2 {
                return fail(
                    prompt,
                    format!("token {k}: {} alternatives for N = 2", top.len()),
                );
            }
            if top.windows(2).any(|w| w[0].logprob < w[1].logprob) {
                return fail(prompt, format!("token {k}: alternatives not best first"));
            }
            let own = scored.token_logprobs[k].unwrap_or(0.0);
            if top[0].logprob + TOLERANCE < own {
                return fail(
                    prompt,
                    format!(
                        "token {k}: best alternative {} below the token's {own}",
                        top[0].logprob
                    ),
                );
            }
        }
        match &scored.next_token {
            Some((next, top))
                if top
                    .first()
                    .is_some_and(|best| (best.logprob - next.logprob).abs() <= TOLERANCE) => {}
            other => {
                return fail(
                    prompt,
                    format!("next_token is not the greedy choice: {other:?}"),
                )
            }
        }
        let again = scorer
            .score_prompt(Prompt::Text(prompt), &plain)
            .map_err(|e| format!("prompt {prompt:?}: {e}"))?;
        if again.tokens != scored.tokens
            || !close(&again.token_logprobs, &scored.token_logprobs, TOLERANCE)
        {
            return fail(
                prompt,
                "scoring again, or without top_logprobs, changes the result".into(),
            );
        }
        alone.push(again);
    }
    let batch: Vec<Prompt<'_>> = prompts.iter().map(|p| Prompt::Text(p)).collect();
    let together = scorer
        .score_prompts(&batch, &plain)
        .map_err(|e| format!("a batch of {} prompts: {e}", batch.len()))?;
    if together.len() != alone.len() {
        return Err(format!(
            "{} results for a batch of {}",
            together.len(),
            alone.len()
        ));
    }
    for ((prompt, a), b) in prompts.iter().zip(&alone).zip(&together) {
        if a.tokens != b.tokens || !close(&a.token_logprobs, &b.token_logprobs, TOLERANCE) {
            return fail(prompt, "scored in a batch differs from scored alone".into());
        }
    }
    match scorer.score_prompt(Prompt::Text(""), &plain) {
        Err(Error::InvalidInput(_)) => Ok(()),
        other => Err(format!("an empty prompt gave {other:?}, not InvalidInput")),
    }
}

fn close(a: &[Option<f32>], b: &[Option<f32>], tolerance: f32) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| match (x, y) {
            (Some(x), Some(y)) => (x - y).abs() <= tolerance,
            (None, None) => true,
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fake_passes_the_conformance_check() {
        check_prompt_scorer(&FakePromptScorer::new("fake")).unwrap();
    }

    /// A scorer that breaks one rule at a time must be caught.
    struct Broken(u8);

    impl PromptScorer for Broken {
        fn model_id(&self) -> &str {
            "broken"
        }
        fn score_prompt(
            &self,
            prompt: Prompt<'_>,
            options: &ScoreOptions,
        ) -> Result<PromptLogprobs> {
            let mut scored = FakePromptScorer::new("f").score_prompt(prompt, options)?;
            match self.0 {
                0 => scored.token_logprobs[1] = Some(0.5),
                1 => scored.top_logprobs.iter_mut().for_each(|t| t.reverse()),
                2 => scored.next_token = None,
                _ => scored.text.push('!'),
            }
            Ok(scored)
        }
    }

    #[test]
    fn the_conformance_check_catches_broken_scorers() {
        for (rule, needle) in [
            (0, "log-probability Some(0.5)"),
            (1, "best first"),
            (2, "greedy"),
            (3, "text is"),
        ] {
            let err = check_prompt_scorer(&Broken(rule)).unwrap_err();
            assert!(err.contains(needle), "rule {rule}: {err}");
        }
    }

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
            Err(Error::Scorer(_))
        ));
    }
}
