//! Preference pairs as token ids: the prompt, then each completion tokenized on its own (as
//! TRL does), with a separator before the completion.

use navab_core::PreferenceItem;
use navab_lm::TextTokenizer;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// How pairs become token ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncodeOptions {
    /// Put before each completion (default `" "`: Q, then " S" or " RS").
    pub separator: String,
    /// Let the tokenizer add its special tokens to the prompt (BOS for Llama 3; none for
    /// SmolLM or Qwen), as `tokenizer(prompt)` does in transformers (default `true`).
    pub add_special_tokens: bool,
    /// Longest prompt; longer prompts keep their last tokens (default 512).
    pub max_prompt_tokens: usize,
    /// Longest prompt + completion; longer completions are cut at the end (default 1024).
    pub max_tokens: usize,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        Self {
            separator: " ".into(),
            add_special_tokens: true,
            max_prompt_tokens: 512,
            max_tokens: 1024,
        }
    }
}

/// One pair as token ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncodedPair {
    /// The item's id.
    pub id: String,
    /// Prompt tokens.
    pub prompt: Vec<u32>,
    /// Chosen completion tokens.
    pub chosen: Vec<u32>,
    /// Rejected completion tokens.
    pub rejected: Vec<u32>,
}

impl EncodedPair {
    /// Tokens the policy runs over: both sequences, prompts included.
    pub fn policy_tokens(&self) -> usize {
        2 * self.prompt.len() + self.chosen.len() + self.rejected.len()
    }
}

/// An item that could not be encoded, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedItem {
    /// The item's id.
    pub id: String,
    /// What was wrong.
    pub reason: String,
}

/// Encodes `items`; items whose prompt or completions come out empty are skipped and listed.
///
/// # Errors
/// [`Error::InvalidParam`] for zero limits, [`Error::Model`] if the tokenizer fails.
pub fn encode_pairs(
    tokenizer: &TextTokenizer,
    items: &[PreferenceItem],
    options: &EncodeOptions,
) -> Result<(Vec<EncodedPair>, Vec<SkippedItem>)> {
    if options.max_prompt_tokens == 0 || options.max_tokens < 2 {
        return Err(Error::InvalidParam {
            name: "max_tokens",
            value: format!("{} / {}", options.max_prompt_tokens, options.max_tokens),
            reason: "the prompt and the whole sequence need at least 1 and 2 tokens",
        });
    }
    let mut pairs = Vec::with_capacity(items.len());
    let mut skipped = Vec::new();
    for item in items {
        let mut prompt = tokenizer
            .encode(&item.prompt, options.add_special_tokens)?
            .ids;
        if prompt.len() > options.max_prompt_tokens {
            prompt.drain(..prompt.len() - options.max_prompt_tokens);
        }
        let room = options.max_tokens.saturating_sub(prompt.len());
        let completion = |text: &str| -> Result<Vec<u32>> {
            let mut ids = tokenizer
                .encode(&format!("{}{text}", options.separator), false)?
                .ids;
            ids.truncate(room);
            Ok(ids)
        };
        let (chosen, rejected) = (completion(&item.chosen)?, completion(&item.rejected)?);
        let reason = if prompt.is_empty() {
            Some("the prompt has no tokens")
        } else if chosen.is_empty() || rejected.is_empty() {
            Some("a completion has no tokens (empty, or no room left after the prompt)")
        } else if chosen == rejected {
            Some("chosen and rejected are the same tokens")
        } else {
            None
        };
        match reason {
            Some(reason) => skipped.push(SkippedItem {
                id: item.id.clone(),
                reason: reason.into(),
            }),
            None => pairs.push(EncodedPair {
                id: item.id.clone(),
                prompt,
                chosen,
                rejected,
            }),
        }
    }
    Ok((pairs, skipped))
}
