//! [`LocalScorer`]: scores continuations in-process with a `navab-lm` model (feature `local`).

use navab_lm::{LanguageModel, SharedPrefix};

use crate::scorer::{LogLikelihood, ScoreRequest, Scorer};
use crate::{Error, Result};

/// A [`Scorer`] over a local [`LanguageModel`].
///
/// Each request is tokenized as one text, `context + continuation`, with the special tokens the
/// tokenizer adds by itself (BOS for Llama 3; none for Qwen or SmolLM), exactly as HF's
/// `tokenizer(text)` would. A token belongs to the continuation when its span ends after the
/// context; the first token of a sequence has no prediction and counts nowhere.
///
/// Requests with the same context are scored together and their common token prefix runs
/// through the decoder once (for the A/B prompt that is everything but the answer letter).
/// Groups are sorted by length and run `batch_size` groups at a time, so padding stays small;
/// results come back in request order.
///
/// With [`LocalScorer::with_workers`], batches run on several threads at once (data
/// parallelism). On a small CPU this beats splitting each matrix product across cores, whose
/// pieces are too small to scale (see `docs/benchmarks.md`); run the process with
/// `RAYON_NUM_THREADS=1` so each worker's matrix products stay on its own core.
#[derive(Debug, Clone)]
pub struct LocalScorer {
    model: LanguageModel,
    batch_size: usize,
    workers: usize,
}

impl LocalScorer {
    /// Wraps a model; `batch_size` sequences run through the decoder at once.
    pub fn new(model: LanguageModel, batch_size: usize) -> Self {
        Self {
            model,
            batch_size: batch_size.max(1),
            workers: 1,
        }
    }

    /// Runs up to `workers` batches at once, each on its own thread (1 = one at a time).
    pub fn with_workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
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

    /// Scores one batch of groups; returns `(request index, log-likelihood)` pairs.
    fn score_batch(
        &self,
        batch: &[Vec<usize>],
        tokenized: &[(Vec<u32>, Vec<bool>)],
    ) -> Result<Vec<(usize, LogLikelihood)>> {
        let mut out = Vec::new();
        let shared: Vec<SharedPrefix> = batch
            .iter()
            .map(|members| {
                let seqs: Vec<&[u32]> =
                    members.iter().map(|&i| tokenized[i].0.as_slice()).collect();
                // Every continuation keeps at least one token of its own.
                let shortest = seqs.iter().map(|s| s.len()).min().unwrap_or(1);
                let mut common = 0;
                while common + 1 < shortest && seqs.iter().all(|s| s[common] == seqs[0][common]) {
                    common += 1;
                }
                let common = common.max(1);
                SharedPrefix {
                    prefix: seqs[0][..common].to_vec(),
                    continuations: seqs.iter().map(|s| s[common..].to_vec()).collect(),
                }
            })
            .collect();
        if shared
            .iter()
            .any(|g| g.continuations.iter().any(Vec::is_empty))
        {
            // Single-token sequences cannot be split; score them whole.
            for members in batch {
                let seqs: Vec<Vec<u32>> = members.iter().map(|&i| tokenized[i].0.clone()).collect();
                for (&i, lp) in members.iter().zip(self.model.token_logprobs(&seqs)?) {
                    out.push((i, split_at_boundary(&lp, &tokenized[i].1)));
                }
            }
            return Ok(out);
        }
        let scored = self.model.token_logprobs_shared(&shared)?;
        for (members, group) in batch.iter().zip(scored) {
            for (&i, continuation) in members.iter().zip(&group.continuations) {
                let lp: Vec<f32> = group.prefix.iter().chain(continuation).copied().collect();
                out.push((i, split_at_boundary(&lp, &tokenized[i].1)));
            }
        }
        Ok(out)
    }

    /// Tokenizes a request; returns the ids and, per id, whether it is a continuation token.
    fn tokenize(&self, request: &ScoreRequest) -> Result<(Vec<u32>, Vec<bool>)> {
        let text = format!("{}{}", request.context, request.continuation);
        let encoded = self.model.tokenizer().encode(&text, true)?;
        let boundary = request.context.len();
        let in_continuation = encoded
            .offsets
            .iter()
            .map(|&(start, end)| end > boundary && !(start == 0 && end == 0))
            .collect();
        if encoded.ids.is_empty() {
            return Err(Error::InvalidOptions(format!(
                "request tokenizes to nothing: context {:?}, continuation {:?}",
                request.context, request.continuation
            )));
        }
        Ok((encoded.ids, in_continuation))
    }
}

impl Scorer for LocalScorer {
    fn score(&self, requests: &[ScoreRequest]) -> Result<Vec<LogLikelihood>> {
        let tokenized = requests
            .iter()
            .map(|r| self.tokenize(r))
            .collect::<Result<Vec<_>>>()?;
        // Requests with the same context (the two options of an item) share their common token
        // prefix, which then runs through the decoder once.
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut group_of_context: std::collections::HashMap<&str, usize> = Default::default();
        for (i, request) in requests.iter().enumerate() {
            let g = *group_of_context
                .entry(request.context.as_str())
                .or_insert_with(|| {
                    groups.push(Vec::new());
                    groups.len() - 1
                });
            groups[g].push(i);
        }
        // Similar lengths together keep padding small.
        groups.sort_by_key(|members| (tokenized[members[0]].0.len(), members[0]));
        let batches: Vec<&[Vec<usize>]> = groups.chunks(self.batch_size).collect();
        let mut results: Vec<Option<LogLikelihood>> = vec![None; requests.len()];
        let outputs: Vec<BatchScores> = if self.workers == 1 {
            batches
                .iter()
                .map(|b| self.score_batch(b, &tokenized))
                .collect()
        } else {
            // Workers take the next batch from a shared counter, so a long batch does not
            // hold up the others; results are put back in request order below.
            let next = std::sync::atomic::AtomicUsize::new(0);
            let mut slots: Vec<Option<BatchScores>> =
                (0..batches.len()).map(|_| None).collect();
            let done = std::sync::Mutex::new(&mut slots);
            std::thread::scope(|scope| {
                for _ in 0..self.workers.min(batches.len()) {
                    scope.spawn(|| loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(batch) = batches.get(k) else { break };
                        let out = self.score_batch(batch, &tokenized);
                        if let Ok(mut slots) = done.lock() {
                            slots[k] = Some(out);
                        }
                    });
                }
            });
            slots
                .into_iter()
                .map(|o| o.unwrap_or_else(|| Err(Error::Scorer("a worker stopped".into()))))
                .collect()
        };
        for out in outputs {
            for (i, ll) in out? {
                results[i] = Some(ll);
            }
        }
        results
            .into_iter()
            .map(|r| r.ok_or_else(|| Error::Scorer("a request was left unscored".into())))
            .collect()
    }

    fn name(&self) -> String {
        self.model.name().to_string()
    }
}

/// One batch's `(request index, log-likelihood)` pairs, or its error.
type BatchScores = Result<Vec<(usize, LogLikelihood)>>;

/// Splits per-token log-probabilities (`lp[k - 1]` for token `k`) into context and continuation.
fn split_at_boundary(lp: &[f32], in_continuation: &[bool]) -> LogLikelihood {
    let mut ll = LogLikelihood {
        context_logprob: 0.0,
        context_tokens: 0,
        continuation_logprob: 0.0,
        continuation_tokens: 0,
    };
    for (k, &value) in lp.iter().enumerate() {
        if in_continuation[k + 1] {
            ll.continuation_logprob += f64::from(value);
            ll.continuation_tokens += 1;
        } else {
            ll.context_logprob += f64::from(value);
            ll.context_tokens += 1;
        }
    }
    ll
}
