//! [`LocalPromptScorer`]: a [`PromptScorer`] over a local `navab-lm` model (feature `local`).

use std::sync::Arc;

use candle_core::{Tensor, D};
use navab_lm::LanguageModel;

use crate::error::{Error, Result};
use crate::scorer::{Prompt, PromptLogprobs, PromptScorer, ScoreOptions, TokenLogprob};

/// Scores prompts with a local [`LanguageModel`]: one decoder pass per batch of prompts, the
/// output projection only where needed.
///
/// A text prompt is tokenized as one text with the special tokens the tokenizer adds by itself
/// (BOS for Llama 3; none for Qwen or SmolLM), exactly as `navab-eval`'s `LocalScorer` does, so
/// `RemoteScorer` through the server and `LocalScorer` in-process give the same
/// log-likelihoods. A token-id prompt is taken as is and decoded for its text.
///
/// Each token's own log-probability comes from the chunked gather of
/// [`navab_lm::Decoder::gather_logprobs`]; the full log-softmax row is computed only when top-k
/// alternatives or the next token are asked for, `logits_chunk` rows at a time, so memory stays
/// at `logits_chunk × vocab` floats whatever the prompt length.
///
/// Where several tokens share one character (a CJK character split into bytes), the first of
/// them covers the character and the others cover nothing, so a token counts as a
/// continuation token through the server exactly when `LocalScorer` counts it so.
///
/// ```no_run
/// use std::sync::Arc;
/// use navab_lm::{LanguageModel, LoadOptions};
/// use navab_server::{LocalPromptScorer, Prompt, PromptScorer, ScoreOptions};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let model = LanguageModel::load(
///     "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf",
///     &LoadOptions::cpu(),
/// )?;
/// let scorer = LocalPromptScorer::new(Arc::new(model));
/// let options = ScoreOptions { top_logprobs: 2, next_token: true };
/// let scored = scorer.score_prompt(Prompt::Text("My answer is A"), &options)?;
/// println!("{:?} {:?}", scored.tokens, scored.token_logprobs);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct LocalPromptScorer {
    model: Arc<LanguageModel>,
    model_id: String,
    batch_size: usize,
    logits_chunk: usize,
}

/// A prompt ready for the decoder.
struct Tokenized {
    ids: Vec<u32>,
    text: String,
    offsets: Vec<usize>,
}

impl LocalPromptScorer {
    /// Default number of prompts run through the decoder at once.
    pub const DEFAULT_BATCH_SIZE: usize = 8;
    /// Default rows of the output projection computed at once.
    pub const DEFAULT_LOGITS_CHUNK: usize = 64;

    /// Wraps `model`; its id is the model's name.
    pub fn new(model: Arc<LanguageModel>) -> Self {
        Self {
            model_id: model.name().to_string(),
            model,
            batch_size: Self::DEFAULT_BATCH_SIZE,
            logits_chunk: Self::DEFAULT_LOGITS_CHUNK,
        }
    }

    /// Runs up to `batch_size` prompts of one request through the decoder at once (at least 1).
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// Computes at most `rows` rows of the output projection at once (at least 1); bounds
    /// memory at `rows × vocab × 4` bytes.
    pub fn with_logits_chunk(mut self, rows: usize) -> Self {
        self.logits_chunk = rows.max(1);
        self
    }

    /// The model.
    pub fn model(&self) -> &LanguageModel {
        &self.model
    }

    fn tokenize(&self, prompt: Prompt<'_>) -> Result<Tokenized> {
        let tokenizer = self.model.tokenizer();
        let tokenized = match prompt {
            Prompt::Text(text) => {
                if text.is_empty() {
                    return Err(Error::InvalidInput("the prompt is empty".into()));
                }
                let encoded = tokenizer.encode(text, true).map_err(lm_error)?;
                // A token starts where it starts or where the tokens before it end, whichever
                // is later: tokens sharing a character leave it to the first of them.
                let mut offsets = Vec::with_capacity(encoded.ids.len());
                let mut covered = 0;
                for &(start, end) in &encoded.offsets {
                    let offset = start.max(covered).min(text.len());
                    offsets.push(offset);
                    covered = covered.max(end).max(offset);
                }
                Tokenized {
                    ids: encoded.ids,
                    text: text.to_string(),
                    offsets,
                }
            }
            Prompt::Tokens(ids) => self.decode_ids(ids)?,
        };
        if tokenized.ids.is_empty() {
            return Err(Error::InvalidInput(
                "the prompt tokenizes to nothing".into(),
            ));
        }
        let limit = self.model.config().max_position_embeddings;
        if tokenized.ids.len() + 1 > limit {
            return Err(Error::InvalidInput(format!(
                "the prompt has {} tokens; the model takes at most {limit} (with the next token)",
                tokenized.ids.len()
            )));
        }
        Ok(tokenized)
    }

    /// The text of token ids and where each token starts in it.
    fn decode_ids(&self, ids: &[u32]) -> Result<Tokenized> {
        if ids.is_empty() {
            return Err(Error::InvalidInput("the prompt is empty".into()));
        }
        let vocab = self.model.config().vocab_size;
        if let Some((k, id)) = ids.iter().enumerate().find(|(_, &id)| id as usize >= vocab) {
            return Err(Error::InvalidInput(format!(
                "token {k} of the prompt is id {id}, beyond the model's vocabulary of {vocab}"
            )));
        }
        let mut stream = self.model.tokenizer().inner().decode_stream(false);
        let mut text = String::new();
        let mut offsets = Vec::with_capacity(ids.len());
        // Tokens whose bytes do not complete a character yet: they get their offset when the
        // character appears, the first of them at its start, the others after it.
        let mut pending = 0;
        for &id in ids {
            pending += 1;
            let piece = stream
                .step(id)
                .map_err(|e| Error::InvalidInput(format!("cannot decode token id {id}: {e}")))?;
            if let Some(piece) = piece {
                let start = text.len();
                let first_char = piece.chars().next().map_or(0, char::len_utf8);
                offsets.push(start);
                offsets.extend(std::iter::repeat_n(start + first_char, pending - 1));
                text.push_str(&piece);
                pending = 0;
            }
        }
        offsets.extend(std::iter::repeat_n(text.len(), pending));
        Ok(Tokenized {
            ids: ids.to_vec(),
            text,
            offsets,
        })
    }

    fn token_text(&self, id: u32) -> String {
        self.model
            .tokenizer()
            .decode(&[id], false)
            .unwrap_or_default()
    }

    /// Scores a batch of tokenized prompts with one decoder pass.
    fn score_batch(
        &self,
        batch: &[Tokenized],
        options: &ScoreOptions,
    ) -> Result<Vec<PromptLogprobs>> {
        let decoder = self.model.decoder();
        let seq_len = batch.iter().map(|t| t.ids.len()).max().unwrap_or(0);
        let seqs: Vec<&[u32]> = batch.iter().map(|t| t.ids.as_slice()).collect();
        let (ids, lengths) = self.pad(&seqs)?;
        let hidden = decoder.forward_hidden(&ids, &lengths).map_err(lm_error)?;
        let hidden_size = hidden.dim(2).map_err(candle_error)?;
        let flat = hidden
            .reshape((batch.len() * seq_len, hidden_size))
            .map_err(candle_error)?;
        let positions: Vec<Vec<u32>> = batch
            .iter()
            .enumerate()
            .map(|(b, t)| (0..t.ids.len()).map(|i| (b * seq_len + i) as u32).collect())
            .collect();
        let prompts: Vec<&Tokenized> = batch.iter().collect();
        self.score_rows(&flat, &prompts, &positions, options)
    }

    /// Right-pads sequences into a `[batch, max_len]` tensor; returns it and the lengths.
    fn pad(&self, seqs: &[&[u32]]) -> Result<(Tensor, Vec<usize>)> {
        let max_len = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
        let mut padded = vec![0u32; seqs.len() * max_len];
        for (b, seq) in seqs.iter().enumerate() {
            padded[b * max_len..b * max_len + seq.len()].copy_from_slice(seq);
        }
        let ids = Tensor::from_vec(padded, (seqs.len(), max_len), self.model.decoder().device())
            .map_err(candle_error)?;
        Ok((ids, seqs.iter().map(|s| s.len()).collect()))
    }

    /// Answers for `prompts` from the decoder's hidden states: `positions[p][i]` is the row of
    /// `flat` (`[rows, hidden]`) holding prompt `p`'s position `i`.
    fn score_rows(
        &self,
        flat: &Tensor,
        prompts: &[&Tokenized],
        positions: &[Vec<u32>],
        options: &ScoreOptions,
    ) -> Result<Vec<PromptLogprobs>> {
        let decoder = self.model.decoder();
        let device = decoder.device();
        // Rows whose distribution we need: every position that predicts a prompt token, and the
        // last position when the next token is asked for.
        let mut rows = Vec::new();
        let mut targets = Vec::new();
        for (t, pos) in prompts.iter().zip(positions) {
            rows.extend_from_slice(&pos[..t.ids.len() - 1]);
            targets.extend_from_slice(&t.ids[1..]);
        }
        let mut own = Vec::with_capacity(rows.len());
        let mut tops: Vec<Vec<(u32, f32)>> = Vec::new();
        let mut next: Vec<Vec<(u32, f32)>> = Vec::new();
        let select = |rows: Vec<u32>| -> Result<Tensor> {
            let n = rows.len();
            let index = Tensor::from_vec(rows, n, device).map_err(candle_error)?;
            flat.index_select(&index, 0).map_err(candle_error)
        };
        if options.top_logprobs > 0 || options.next_token {
            let k = options.top_logprobs.max(1);
            if !rows.is_empty() {
                self.for_each_row(&select(rows)?, |i, row| {
                    own.push(row[targets[i] as usize]);
                    tops.push(top_k(row, k));
                })?;
            }
            if options.next_token {
                let last: Vec<u32> = positions.iter().map(|pos| pos[pos.len() - 1]).collect();
                self.for_each_row(&select(last)?, |_, row| next.push(top_k(row, k)))?;
            }
        } else if !rows.is_empty() {
            own = decoder
                .gather_logprobs(&select(rows)?, &targets, self.logits_chunk)
                .map_err(lm_error)?;
        }

        let mut out = Vec::with_capacity(prompts.len());
        let mut position = 0;
        for (b, t) in prompts.iter().enumerate() {
            let n = t.ids.len();
            let mut scored = plain(t, &own[position..position + n - 1]);
            if options.top_logprobs > 0 {
                scored.top_logprobs.push(Vec::new());
                for top in &tops[position..position + n - 1] {
                    scored
                        .top_logprobs
                        .push(self.named(top, options.top_logprobs));
                }
            }
            if options.next_token {
                let best = next[b][0];
                scored.next_token = Some((
                    TokenLogprob {
                        token: self.token_text(best.0),
                        logprob: best.1,
                    },
                    self.named(&next[b], options.top_logprobs),
                ));
            }
            position += n - 1;
            out.push(scored);
        }
        Ok(out)
    }

    fn named(&self, top: &[(u32, f32)], n: usize) -> Vec<TokenLogprob> {
        top.iter()
            .take(n)
            .map(|&(id, logprob)| TokenLogprob {
                token: self.token_text(id),
                logprob,
            })
            .collect()
    }

    /// Calls `visit(row index, log-probabilities)` for every row of `hidden` (`[n, hidden]`),
    /// computing the full log-softmax `logits_chunk` rows at a time.
    fn for_each_row(&self, hidden: &Tensor, mut visit: impl FnMut(usize, &[f32])) -> Result<()> {
        let n = hidden.dim(0).map_err(candle_error)?;
        for start in (0..n).step_by(self.logits_chunk) {
            let len = self.logits_chunk.min(n - start);
            let rows = hidden.narrow(0, start, len).map_err(candle_error)?;
            let logits = self.model.decoder().logits(&rows).map_err(lm_error)?;
            let logprobs = candle_nn::ops::log_softmax(&logits, D::Minus1)
                .and_then(|l| l.to_vec2::<f32>())
                .map_err(candle_error)?;
            for (j, row) in logprobs.iter().enumerate() {
                visit(start + j, row);
            }
        }
        Ok(())
    }
}

impl LocalPromptScorer {
    /// Plain scoring of several prompts: neighbours that share most of their tokens (the A and
    /// B answers of one question) form a group whose common prefix runs through the decoder
    /// once, as `LocalScorer` does.
    fn score_shared(
        &self,
        tokenized: Vec<Tokenized>,
        options: &ScoreOptions,
    ) -> Result<Vec<PromptLogprobs>> {
        let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
        for (i, t) in tokenized.iter().enumerate() {
            let joined = groups.last_mut().and_then(|(common, members)| {
                let first = &tokenized[members[0]].ids;
                let shared = first
                    .iter()
                    .zip(&t.ids)
                    .take(*common)
                    .take_while(|(a, b)| a == b)
                    .count();
                // Every member keeps at least one token of its own, and sharing must save
                // at least half of the shorter prompt to be worth the padding.
                let shared = shared.min(t.ids.len() - 1);
                let shortest = t.ids.len().min(first.len());
                (shared >= 1 && 2 * shared >= shortest).then_some((common, members, shared))
            });
            match joined {
                Some((common, members, shared)) => {
                    *common = shared;
                    members.push(i);
                }
                None => groups.push((t.ids.len() - 1, vec![i])),
            }
        }
        let mut out: Vec<Option<PromptLogprobs>> = vec![None; tokenized.len()];
        let decoder = self.model.decoder();
        for batch in groups.chunks(self.batch_size) {
            // Each group's prefix once, then every member's own tokens after it.
            let prefixes: Vec<&[u32]> = batch
                .iter()
                .map(|(common, members)| &tokenized[members[0]].ids[..*common])
                .collect();
            let (prefix_ids, prefix_lengths) = self.pad(&prefixes)?;
            let (prefix_hidden, cache) = decoder
                .forward_prefixes(&prefix_ids, &prefix_lengths)
                .map_err(lm_error)?;
            let mut rests = Vec::new();
            let mut group_of = Vec::new();
            let mut prompts = Vec::new();
            for (g, (common, members)) in batch.iter().enumerate() {
                for &m in members {
                    rests.push(&tokenized[m].ids[*common..]);
                    group_of.push(g);
                    prompts.push(m);
                }
            }
            let (rest_ids, rest_lengths) = self.pad(&rests)?;
            let rest_hidden = decoder
                .forward_after_prefix(&rest_ids, &rest_lengths, &cache, &group_of)
                .map_err(lm_error)?;
            let prefix_len = prefix_ids.dim(1).map_err(candle_error)?;
            let rest_len = rest_ids.dim(1).map_err(candle_error)?;
            let hidden_size = prefix_hidden.dim(2).map_err(candle_error)?;
            let flat = Tensor::cat(
                &[
                    prefix_hidden
                        .reshape((batch.len() * prefix_len, hidden_size))
                        .map_err(candle_error)?,
                    rest_hidden
                        .reshape((rests.len() * rest_len, hidden_size))
                        .map_err(candle_error)?,
                ],
                0,
            )
            .map_err(candle_error)?;
            let rest_base = batch.len() * prefix_len;
            let positions: Vec<Vec<u32>> = prompts
                .iter()
                .enumerate()
                .map(|(r, &m)| {
                    let common = batch[group_of[r]].0;
                    (0..tokenized[m].ids.len())
                        .map(|i| {
                            if i < common {
                                (group_of[r] * prefix_len + i) as u32
                            } else {
                                (rest_base + r * rest_len + i - common) as u32
                            }
                        })
                        .collect()
                })
                .collect();
            let refs: Vec<&Tokenized> = prompts.iter().map(|&m| &tokenized[m]).collect();
            for (&m, scored) in prompts
                .iter()
                .zip(self.score_rows(&flat, &refs, &positions, options)?)
            {
                out[m] = Some(scored);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }
}

/// The answer for a prompt and its tokens' log-probabilities after the first.
fn plain(t: &Tokenized, own: &[f32]) -> PromptLogprobs {
    let n = t.ids.len();
    PromptLogprobs {
        text: t.text.clone(),
        tokens: (0..n)
            .map(|k| {
                let end = t.offsets.get(k + 1).copied().unwrap_or(t.text.len());
                t.text[t.offsets[k]..end].to_string()
            })
            .collect(),
        token_logprobs: std::iter::once(None)
            .chain(own.iter().map(|&lp| Some(lp)))
            .collect(),
        top_logprobs: Vec::new(),
        text_offset: t.offsets.clone(),
        next_token: None,
    }
}

/// The `k` most likely ids of a log-probability row, best first.
fn top_k(row: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut best: Vec<(u32, f32)> = Vec::with_capacity(k + 1);
    for (id, &lp) in row.iter().enumerate() {
        if best.len() == k && best.last().is_some_and(|&(_, worst)| lp <= worst) {
            continue;
        }
        let at = best.partition_point(|&(_, b)| b >= lp);
        best.insert(at, (id as u32, lp));
        best.truncate(k);
    }
    best
}

fn lm_error(error: navab_lm::Error) -> Error {
    match error {
        navab_lm::Error::InvalidInput(message) => Error::InvalidInput(message),
        other => Error::Backend(other.to_string()),
    }
}

fn candle_error(error: candle_core::Error) -> Error {
    Error::Backend(error.to_string())
}

impl PromptScorer for LocalPromptScorer {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn score_prompt(&self, prompt: Prompt<'_>, options: &ScoreOptions) -> Result<PromptLogprobs> {
        let tokenized = self.tokenize(prompt)?;
        let mut scored = self.score_batch(std::slice::from_ref(&tokenized), options)?;
        Ok(scored.remove(0))
    }

    fn score_prompts(
        &self,
        prompts: &[Prompt<'_>],
        options: &ScoreOptions,
    ) -> Result<Vec<PromptLogprobs>> {
        let tokenized = prompts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                self.tokenize(*p).map_err(|e| match e {
                    Error::InvalidInput(m) => Error::InvalidInput(format!("prompt {i}: {m}")),
                    other => other,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // A one-token prompt has no prefix to share; score such a request plainly.
        if tokenized.len() > 1 && tokenized.iter().all(|t| t.ids.len() > 1) {
            return self.score_shared(tokenized, options);
        }
        // Similar lengths together keep padding small; results go back in request order.
        let mut order: Vec<usize> = (0..tokenized.len()).collect();
        order.sort_by_key(|&i| tokenized[i].ids.len());
        let mut out: Vec<Option<PromptLogprobs>> = vec![None; tokenized.len()];
        for chunk in order.chunks(self.batch_size) {
            let batch: Vec<Tokenized> = chunk
                .iter()
                .map(|&i| Tokenized {
                    ids: tokenized[i].ids.clone(),
                    text: tokenized[i].text.clone(),
                    offsets: tokenized[i].offsets.clone(),
                })
                .collect();
            for (&i, scored) in chunk.iter().zip(self.score_batch(&batch, options)?) {
                out[i] = Some(scored);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }
}
