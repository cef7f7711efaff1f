//! [`LocalScorer`]: in-process scoring with a `navab-lm` model (feature `local`), for both seams:
//! continuations ([`Scorer`], what `evaluate` calls) and whole prompts ([`PromptScorer`], what
//! `navab-server` serves). Both go through one tokenizer call, one grouping of sequences that
//! share a prefix, and one batched decoder path.

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::{Tensor, D};
use navab_lm::{LanguageModel, SharedPrefix};

use crate::prompt::{Prompt, PromptLogprobs, PromptScorer, ScoreOptions, TokenLogprob};
use crate::scorer::{LogLikelihood, ScoreRequest, Scorer};
use crate::{Error, Result};

/// Scores with a local [`LanguageModel`]: a [`Scorer`] for `evaluate` and a [`PromptScorer`]
/// for `navab-server`.
///
/// A text is tokenized with the special tokens the tokenizer adds by itself (BOS for Llama 3;
/// none for Qwen or SmolLM), exactly as HF's `tokenizer(text)` would; a request is the one text
/// `context + continuation`. A token belongs to the continuation when its span ends after the
/// context; the first token of a sequence has no prediction and counts nowhere. Texts longer
/// than the model's context are an [`Error::InvalidInput`] naming the request.
///
/// Sequences that share a prefix (the two options of an item: same context; in a prompt list,
/// neighbours that share at least half of the shorter one) run it through the decoder once and
/// continue from its cached keys and values. Groups are sorted by length and run `batch_size`
/// groups at a time, so padding stays small; the output projection is applied only to the rows
/// whose log-probability is asked for. Results come back in request order.
///
/// With [`LocalScorer::with_workers`], batches run on several threads at once (data
/// parallelism), which beats splitting each small matrix product across cores.
///
/// ```no_run
/// use navab_eval::{LocalScorer, Prompt, PromptScorer, ScoreOptions, ScoreRequest, Scorer};
/// use navab_lm::{LanguageModel, LoadOptions};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let model = LanguageModel::load(
///     "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf",
///     &LoadOptions::cpu(),
/// )?;
/// let scorer = LocalScorer::new(model, 8);
/// let ll = scorer.score(&[ScoreRequest::new("The capital of France is", " Paris")])?;
/// println!("{:.3}", ll[0].continuation_logprob);
/// let options = ScoreOptions { top_logprobs: 2, next_token: true };
/// let scored = scorer.score_prompt(Prompt::Text("My answer is A"), &options)?;
/// println!("{:?} {:?}", scored.tokens, scored.token_logprobs);
/// # Ok(()) }
/// ```
///
/// Available with the crate feature `local`.
#[derive(Debug, Clone)]
pub struct LocalScorer {
    model: Arc<LanguageModel>,
    model_id: String,
    batch_size: usize,
    workers: usize,
    logits_chunk: usize,
}

/// A sequence ready for the decoder.
#[derive(Debug, Clone)]
struct Tokenized {
    ids: Vec<u32>,
    text: String,
    /// Where each token starts in `text` (bytes); tokens sharing a character leave it to the
    /// first of them.
    offsets: Vec<usize>,
    /// Each token's own byte span as the tokenizer gives it; `(0, 0)` for added special tokens.
    spans: Vec<(usize, usize)>,
}

/// Sequences whose first `common` tokens are the same; each member has at least one more.
struct Group {
    common: usize,
    members: Vec<usize>,
}

impl LocalScorer {
    /// Default number of sequences (or groups) run through the decoder at once.
    pub const DEFAULT_BATCH_SIZE: usize = 8;
    /// Default rows of the output projection computed at once for top-k answers.
    pub const DEFAULT_LOGITS_CHUNK: usize = 64;

    /// Wraps a model (owned or shared); `batch_size` groups run through the decoder at once
    /// (at least 1). Its id is the model's name.
    pub fn new(model: impl Into<Arc<LanguageModel>>, batch_size: usize) -> Self {
        let model = model.into();
        Self {
            model_id: model.name().to_string(),
            model,
            batch_size: batch_size.max(1),
            workers: 1,
            logits_chunk: Self::DEFAULT_LOGITS_CHUNK,
        }
    }

    /// Runs up to `batch_size` groups through the decoder at once (at least 1).
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// Runs up to `workers` batches at once, each on its own thread (1 = one at a time).
    pub fn with_workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// Computes at most `rows` rows of the full output distribution at once when top-k
    /// alternatives are asked for (at least 1); bounds memory at `rows × vocab × 4` bytes.
    pub fn with_logits_chunk(mut self, rows: usize) -> Self {
        self.logits_chunk = rows.max(1);
        self
    }

    /// Answers to another model id (what `navab-server` reports and checks requests against).
    pub fn with_model_id(mut self, id: impl Into<String>) -> Self {
        self.model_id = id.into();
        self
    }

    /// How many batches run at once.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// The wrapped model.
    pub fn model(&self) -> &LanguageModel {
        &self.model
    }

    /// Tokenizes a text prompt and checks it against the model's context.
    fn tokenize_text(&self, text: &str) -> Result<Tokenized> {
        if text.is_empty() {
            return Err(Error::InvalidInput("the prompt is empty".into()));
        }
        let encoded = self.model.tokenizer().encode(text, true)?;
        let mut offsets = Vec::with_capacity(encoded.ids.len());
        let mut covered = 0;
        for &(start, end) in &encoded.offsets {
            let offset = start.max(covered).min(text.len());
            offsets.push(offset);
            covered = covered.max(end).max(offset);
        }
        self.checked(Tokenized {
            ids: encoded.ids,
            text: text.to_string(),
            offsets,
            spans: encoded.offsets,
        })
    }

    /// Token ids as given, decoded for their text and where each token starts in it.
    fn tokenize_ids(&self, ids: &[u32]) -> Result<Tokenized> {
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
        // Tokens whose bytes do not complete a character yet get their offset when the
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
        let spans = token_spans(&offsets, text.len());
        self.checked(Tokenized {
            ids: ids.to_vec(),
            text,
            offsets,
            spans,
        })
    }

    fn checked(&self, tokenized: Tokenized) -> Result<Tokenized> {
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

    fn tokenize_prompt(&self, prompt: Prompt<'_>) -> Result<Tokenized> {
        match prompt {
            Prompt::Text(text) => self.tokenize_text(text),
            Prompt::Tokens(ids) => self.tokenize_ids(ids),
        }
    }

    /// Each sequence's own log-probabilities (token 1 onwards) for `groups`, batched and spread
    /// over the workers. Members of no group (one-token sequences) get none.
    fn own_logprobs(&self, seqs: &[Tokenized], mut groups: Vec<Group>) -> Result<Vec<Vec<f32>>> {
        // Similar lengths together keep padding small.
        groups.sort_by_key(|g| (seqs[g.members[0]].ids.len(), g.members[0]));
        let batches: Vec<&[Group]> = groups.chunks(self.batch_size).collect();
        let run = |batch: &&[Group]| -> Result<Vec<(usize, Vec<f32>)>> {
            let shared: Vec<SharedPrefix> = batch
                .iter()
                .map(|g| SharedPrefix {
                    prefix: seqs[g.members[0]].ids[..g.common].to_vec(),
                    continuations: g
                        .members
                        .iter()
                        .map(|&m| seqs[m].ids[g.common..].to_vec())
                        .collect(),
                })
                .collect();
            let scored = self.model.token_logprobs_shared(&shared)?;
            let mut out = Vec::new();
            for (g, lp) in batch.iter().zip(scored) {
                for (&m, continuation) in g.members.iter().zip(lp.continuations) {
                    out.push((m, lp.prefix.iter().copied().chain(continuation).collect()));
                }
            }
            Ok(out)
        };
        let mut own = vec![Vec::new(); seqs.len()];
        for out in self.run_batches(&batches, run) {
            for (m, lp) in out? {
                own[m] = lp;
            }
        }
        Ok(own)
    }

    /// Runs `f` on every batch, on up to `workers` threads; results in batch order.
    fn run_batches<B: Sync, T: Send>(
        &self,
        batches: &[B],
        f: impl Fn(&B) -> Result<T> + Sync,
    ) -> Vec<Result<T>> {
        if self.workers == 1 || batches.len() < 2 {
            return batches.iter().map(f).collect();
        }
        // Workers take the next batch from a shared counter, so a long batch does not hold up
        // the others.
        let next = std::sync::atomic::AtomicUsize::new(0);
        let slots: Vec<std::sync::Mutex<Option<Result<T>>>> =
            batches.iter().map(|_| Default::default()).collect();
        std::thread::scope(|scope| {
            for _ in 0..self.workers.min(batches.len()) {
                scope.spawn(|| loop {
                    let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(batch) = batches.get(k) else { break };
                    let out = f(batch);
                    if let Ok(mut slot) = slots[k].lock() {
                        *slot = Some(out);
                    }
                });
            }
        });
        slots
            .into_iter()
            .map(|slot| {
                slot.into_inner()
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| Err(Error::Scorer("a worker stopped".into())))
            })
            .collect()
    }
}

/// Groups requests with the same context; their common token prefix is shared.
fn group_by_context(requests: &[ScoreRequest], seqs: &[Tokenized]) -> Vec<Group> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut group_of_context: HashMap<&str, usize> = HashMap::new();
    for (i, request) in requests.iter().enumerate() {
        if seqs[i].ids.len() < 2 {
            continue; // nothing to predict
        }
        let g = *group_of_context
            .entry(request.context.as_str())
            .or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
        groups[g].push(i);
    }
    groups
        .into_iter()
        .flat_map(|members| {
            let first = &seqs[members[0]].ids;
            // Every member keeps at least one token of its own.
            let mut common = members
                .iter()
                .map(|&m| seqs[m].ids.len())
                .min()
                .unwrap_or(1)
                - 1;
            for &m in &members[1..] {
                common = common.min(shared_len(first, &seqs[m].ids));
            }
            if common == 0 {
                // Nothing shared (an empty context): each sequence on its own.
                return members
                    .into_iter()
                    .map(|m| Group {
                        common: seqs[m].ids.len() - 1,
                        members: vec![m],
                    })
                    .collect();
            }
            vec![Group { common, members }]
        })
        .collect()
}

/// Groups neighbouring prompts that share at least half of the shorter one (the A and B answers
/// of one question); sharing less is not worth the padding of the longer rests.
fn group_neighbours(seqs: &[Tokenized]) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for (i, t) in seqs.iter().enumerate() {
        if t.ids.len() < 2 {
            continue; // nothing to predict
        }
        if let Some(g) = groups.last_mut() {
            let first = &seqs[g.members[0]].ids;
            let shared = shared_len(first, &t.ids).min(g.common).min(t.ids.len() - 1);
            if shared >= 1 && 2 * shared >= t.ids.len().min(first.len()) {
                g.common = shared;
                g.members.push(i);
                continue;
            }
        }
        groups.push(Group {
            common: t.ids.len() - 1,
            members: vec![i],
        });
    }
    groups
}

fn shared_len(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Byte spans from start offsets: each token runs to the next one's start.
fn token_spans(offsets: &[usize], len: usize) -> Vec<(usize, usize)> {
    (0..offsets.len())
        .map(|k| (offsets[k], offsets.get(k + 1).copied().unwrap_or(len)))
        .collect()
}

/// Splits per-token log-probabilities (`lp[k - 1]` for token `k`) into context and
/// continuation: a token is a continuation token when its span ends after `boundary`.
fn split_at_boundary(lp: &[f32], spans: &[(usize, usize)], boundary: usize) -> LogLikelihood {
    let mut ll = LogLikelihood {
        context_logprob: 0.0,
        context_tokens: 0,
        continuation_logprob: 0.0,
        continuation_tokens: 0,
    };
    for (k, &value) in lp.iter().enumerate() {
        let (start, end) = spans[k + 1];
        if end > boundary && !(start == 0 && end == 0) {
            ll.continuation_logprob += f64::from(value);
            ll.continuation_tokens += 1;
        } else {
            ll.context_logprob += f64::from(value);
            ll.context_tokens += 1;
        }
    }
    ll
}

impl Scorer for LocalScorer {
    fn score(&self, requests: &[ScoreRequest]) -> Result<Vec<LogLikelihood>> {
        let seqs = requests
            .iter()
            .enumerate()
            .map(|(i, r)| {
                self.tokenize_text(&format!("{}{}", r.context, r.continuation))
                    .map_err(|e| in_request(i, e))
            })
            .collect::<Result<Vec<_>>>()?;
        let own = self.own_logprobs(&seqs, group_by_context(requests, &seqs))?;
        Ok(requests
            .iter()
            .zip(&seqs)
            .zip(&own)
            .map(|((r, t), lp)| split_at_boundary(lp, &t.spans, r.context.len()))
            .collect())
    }

    fn name(&self) -> String {
        self.model.name().to_string()
    }
}

fn in_request(i: usize, error: Error) -> Error {
    match error {
        Error::InvalidInput(m) => Error::InvalidInput(format!("request {i}: {m}")),
        other => other,
    }
}

impl PromptScorer for LocalScorer {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn score_prompt(&self, prompt: Prompt<'_>, options: &ScoreOptions) -> Result<PromptLogprobs> {
        let mut scored = self.score_prompts(std::slice::from_ref(&prompt), options)?;
        Ok(scored.remove(0))
    }

    fn score_prompts(
        &self,
        prompts: &[Prompt<'_>],
        options: &ScoreOptions,
    ) -> Result<Vec<PromptLogprobs>> {
        let seqs = prompts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                self.tokenize_prompt(*p).map_err(|e| match e {
                    Error::InvalidInput(m) if prompts.len() > 1 => {
                        Error::InvalidInput(format!("prompt {i}: {m}"))
                    }
                    other => other,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if options.top_logprobs == 0 && !options.next_token {
            let own = self.own_logprobs(&seqs, group_neighbours(&seqs))?;
            return Ok(seqs.iter().zip(&own).map(|(t, lp)| plain(t, lp)).collect());
        }
        self.score_full(&seqs, options)
    }
}

// Top-k alternatives and the next token need whole output distributions, row by row.
impl LocalScorer {
    /// Scores prompts with full distributions: plain batches sorted by length.
    fn score_full(
        &self,
        seqs: &[Tokenized],
        options: &ScoreOptions,
    ) -> Result<Vec<PromptLogprobs>> {
        let mut order: Vec<usize> = (0..seqs.len()).collect();
        order.sort_by_key(|&i| seqs[i].ids.len());
        let mut out: Vec<Option<PromptLogprobs>> = vec![None; seqs.len()];
        for chunk in order.chunks(self.batch_size) {
            let batch: Vec<&Tokenized> = chunk.iter().map(|&i| &seqs[i]).collect();
            for (&i, scored) in chunk.iter().zip(self.score_batch(&batch, options)?) {
                out[i] = Some(scored);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// Scores a batch of tokenized prompts with one decoder pass.
    fn score_batch(
        &self,
        batch: &[&Tokenized],
        options: &ScoreOptions,
    ) -> Result<Vec<PromptLogprobs>> {
        let decoder = self.model.decoder();
        let seq_len = batch.iter().map(|t| t.ids.len()).max().unwrap_or(0);
        let mut padded = vec![0u32; batch.len() * seq_len];
        for (b, t) in batch.iter().enumerate() {
            padded[b * seq_len..b * seq_len + t.ids.len()].copy_from_slice(&t.ids);
        }
        let ids = Tensor::from_vec(padded, (batch.len(), seq_len), decoder.device())?;
        let lengths: Vec<usize> = batch.iter().map(|t| t.ids.len()).collect();
        let hidden = decoder.forward_hidden(&ids, &lengths)?;
        let hidden_size = hidden.dim(2)?;
        let flat = hidden.reshape((batch.len() * seq_len, hidden_size))?;
        let positions: Vec<Vec<u32>> = batch
            .iter()
            .enumerate()
            .map(|(b, t)| (0..t.ids.len()).map(|i| (b * seq_len + i) as u32).collect())
            .collect();
        self.score_rows(&flat, batch, &positions, options)
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
        let device = self.model.decoder().device();
        let k = options.top_logprobs.max(1);
        let mut rows = Vec::new();
        let mut targets = Vec::new();
        for (t, pos) in prompts.iter().zip(positions) {
            rows.extend_from_slice(&pos[..t.ids.len() - 1]);
            targets.extend_from_slice(&t.ids[1..]);
        }
        let select = |rows: Vec<u32>| -> Result<Tensor> {
            let n = rows.len();
            Ok(flat.index_select(&Tensor::from_vec(rows, n, device)?, 0)?)
        };
        let mut own = Vec::with_capacity(rows.len());
        let mut tops: Vec<Vec<(u32, f32)>> = Vec::new();
        if !rows.is_empty() {
            self.for_each_row(&select(rows)?, |i, row| {
                own.push(row[targets[i] as usize]);
                tops.push(top_k(row, k));
            })?;
        }
        let mut next: Vec<Vec<(u32, f32)>> = Vec::new();
        if options.next_token {
            let last: Vec<u32> = positions.iter().map(|pos| pos[pos.len() - 1]).collect();
            self.for_each_row(&select(last)?, |_, row| next.push(top_k(row, k)))?;
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

    fn token_text(&self, id: u32) -> String {
        self.model
            .tokenizer()
            .decode(&[id], false)
            .unwrap_or_default()
    }

    /// Calls `visit(row index, log-probabilities)` for every row of `hidden` (`[n, hidden]`),
    /// computing the full log-softmax `logits_chunk` rows at a time.
    fn for_each_row(&self, hidden: &Tensor, mut visit: impl FnMut(usize, &[f32])) -> Result<()> {
        let n = hidden.dim(0)?;
        for start in (0..n).step_by(self.logits_chunk) {
            let len = self.logits_chunk.min(n - start);
            let logits = self
                .model
                .decoder()
                .logits(&hidden.narrow(0, start, len)?)?;
            let logprobs = candle_nn::ops::log_softmax(&logits, D::Minus1)?.to_vec2::<f32>()?;
            for (j, row) in logprobs.iter().enumerate() {
                visit(start + j, row);
            }
        }
        Ok(())
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
