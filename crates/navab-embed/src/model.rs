//! The candle sentence embedder.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::{bert, xlm_roberta};
use ndarray::Array2;
use tokenizers::{Tokenizer, TruncationParams};

use crate::bert::BertStack;
use crate::config::{read_json, Family, Pooling, StConfig};
use crate::fast::{FastConfig, FastEncoder};
use crate::{Embedder, Error, Result};

/// Options of [`SentenceEmbedder::load`]. `Default` gives what sentence-transformers does:
/// CPU, f32, batches of 32, the directory's own maximum length, pooling and normalisation.
///
/// Available with the crate feature `local`.
#[derive(Debug, Clone)]
pub struct EmbedOptions {
    /// Where the model runs (`navab_lm::parse_device("cuda")` with the `cuda` feature).
    pub device: Device,
    /// Weights and activations dtype; pooling and normalisation always run in f32.
    pub dtype: DType,
    /// Texts per forward pass. Texts are sorted by token count first, so a batch pads little.
    pub batch_size: usize,
    /// Overrides `max_seq_length` (tokens, special tokens included); capped by the model.
    pub max_seq_length: Option<usize>,
    /// Cut every text to its first `n` characters before tokenising (the authors used 3,000).
    pub char_limit: Option<usize>,
    /// Overrides whether outputs are L2-normalised (by default: the directory's `Normalize`
    /// module).
    pub normalize: Option<bool>,
    /// Batches run at once, each worker on its own single-thread pool so that its matrix
    /// products and kernels stay on its core (CPU data parallelism: faster than spreading each
    /// batch's products over the cores, for short texts twice as fast). `0`, the default,
    /// chooses: one worker per thread of the current rayon pool (all cores, or
    /// `RAYON_NUM_THREADS`) on the CPU, one on a GPU. `1` runs one batch at a time with its
    /// products spread over the pool.
    pub workers: usize,
    /// Use the fused CPU encoder (f32 or bf16 on the CPU): vectorised softmax, GELU and layer
    /// norm in single passes, 1.4–1.9× faster than candle-transformers' models here, with
    /// vectors equal to theirs within 1e-6 in f32. In bf16 only its linear layers' matrix
    /// products use bf16 weights (AMX or AVX512-BF16 where the CPU has them). `false` runs
    /// candle-transformers' BERT / XLM-R everywhere.
    pub fused: bool,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        EmbedOptions {
            device: Device::Cpu,
            dtype: DType::F32,
            batch_size: 32,
            max_seq_length: None,
            char_limit: None,
            normalize: None,
            workers: 0,
            fused: true,
        }
    }
}

impl EmbedOptions {
    /// Checks the ranges: batch size and limits must be at least 1.
    pub fn check(&self) -> Result<()> {
        let bad = |name, value: usize, reason| Error::InvalidOption {
            name,
            value: value.to_string(),
            reason,
        };
        if self.batch_size == 0 {
            return Err(bad("batch_size", 0, "must be at least 1"));
        }
        if self.max_seq_length == Some(0) {
            return Err(bad("max_seq_length", 0, "must be at least 1 token"));
        }
        if self.char_limit == Some(0) {
            return Err(bad("char_limit", 0, "must be at least 1 character"));
        }
        Ok(())
    }
}

enum Encoder {
    /// Our fused CPU f32 encoder (`fast.rs`), for BERT and XLM-R alike.
    Fast(FastEncoder),
    /// candle-transformers' BERT layers under our embeddings and mask (`bert.rs`).
    Bert(BertStack),
    XlmRoberta(xlm_roberta::XLMRobertaModel),
}

/// A sentence-transformers model run with candle: tokenizer, transformer, pooling and optional
///
/// Available with the crate feature `local`.
/// L2 normalisation, as described by the model directory.
pub struct SentenceEmbedder {
    encoder: Encoder,
    tokenizer: Tokenizer,
    pooling: Pooling,
    normalize: bool,
    max_seq_length: usize,
    pad_id: u32,
    dim: usize,
    options: EmbedOptions,
    model_id: String,
}

impl std::fmt::Debug for SentenceEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentenceEmbedder")
            .field("model_id", &self.model_id)
            .field("dim", &self.dim)
            .finish_non_exhaustive()
    }
}

#[derive(serde::Deserialize)]
struct PadId {
    #[serde(default)]
    pad_token_id: Option<u32>,
}

impl SentenceEmbedder {
    /// Loads a sentence-transformers directory (`config.json`, `model.safetensors`,
    /// `tokenizer.json`, optional `modules.json`, `1_Pooling/config.json`,
    /// `sentence_bert_config.json`).
    ///
    /// # Errors
    /// A missing or corrupt file, an unsupported model type or module, or a tokenizer whose
    /// vocabulary is larger than the model's embedding table, each naming the file.
    pub fn load(dir: impl AsRef<Path>, options: EmbedOptions) -> Result<Self> {
        options.check()?;
        let dir = dir.as_ref();
        let st = StConfig::read(dir)?;
        let config_path = dir.join("config.json");
        let weights_path = dir.join("model.safetensors");
        let tokenizer_path = dir.join("tokenizer.json");
        let weights = std::fs::read(&weights_path).map_err(Error::io(&weights_path))?;
        let weights_len = weights.len();
        let vb = VarBuilder::from_buffered_safetensors(weights, options.dtype, &options.device)
            .map_err(|e| Error::Config {
                path: weights_path.clone(),
                reason: format!("not a valid safetensors file (corrupt or truncated?): {e}"),
            })?;
        let weight_error = |e: candle_core::Error| Error::Config {
            path: weights_path.clone(),
            reason: format!("weights do not match config.json: {e}"),
        };
        let pad_id = read_json::<PadId>(&config_path)?
            .pad_token_id
            .unwrap_or(match st.family {
                Family::Bert => 0,
                Family::XlmRoberta => 1,
            });
        // The fused encoder where it computes the same thing: f32 or bf16 on the CPU (bf16:
        // f32 activations and bf16 matrix products, see `fast.rs`).
        let bf16 = options.dtype == DType::BF16;
        // Where `embeddings.` lives: bare, or under the task model's prefix.
        let root = ["", "bert", "roberta"].into_iter().find(|p| {
            let key = if p.is_empty() {
                "embeddings.word_embeddings.weight".to_string()
            } else {
                format!("{p}.embeddings.word_embeddings.weight")
            };
            vb.contains_tensor(&key)
        });
        let rooted =
            |vb: VarBuilder<'static>, root: &str| if root.is_empty() { vb } else { vb.pp(root) };
        let fast =
            if options.fused && options.device.is_cpu() && (options.dtype == DType::F32 || bf16) {
                let config: FastConfig = read_json(&config_path)?;
                match root {
                    Some(root) if config.supported() => {
                        let vb = rooted(vb.clone().set_dtype(DType::F32), root);
                        let xlm_pad =
                            matches!(st.family, Family::XlmRoberta).then_some(pad_id as usize);
                        let encoder =
                            FastEncoder::load(vb, &config, xlm_pad, bf16).map_err(weight_error)?;
                        Some((Encoder::Fast(encoder), config.vocab_size))
                    }
                    _ => None,
                }
            } else {
                None
            };
        let (encoder, vocab_size) = if let Some(fast) = fast {
            fast
        } else {
            match st.family {
                Family::Bert => {
                    let config: bert::Config = read_json(&config_path)?;
                    let vocab = config.vocab_size;
                    let vb = rooted(vb, root.unwrap_or(""));
                    let stack = BertStack::load(vb, &config).map_err(weight_error)?;
                    (Encoder::Bert(stack), vocab)
                }
                Family::XlmRoberta => {
                    // candle-transformers' XLM-R builds its mask in f32 or f64 only (and
                    // panics otherwise).
                    if !matches!(options.dtype, DType::F32 | DType::F64) {
                        return Err(Error::Unsupported(format!(
                            "XLM-RoBERTa models run in f32 or f64 here, not {:?}{}",
                            options.dtype,
                            if options.device.is_cpu() {
                                " (bf16 on the CPU runs the fused encoder: keep `fused` on)"
                            } else {
                                ""
                            }
                        )));
                    }
                    let config: xlm_roberta::Config = read_json(&config_path)?;
                    let vocab = config.vocab_size;
                    // Checkpoints saved from a task model keep the encoder under `roberta.`.
                    let vb = if vb.contains_tensor("roberta.embeddings.word_embeddings.weight") {
                        vb.pp("roberta")
                    } else {
                        vb
                    };
                    let model =
                        xlm_roberta::XLMRobertaModel::new(&config, vb).map_err(weight_error)?;
                    (Encoder::XlmRoberta(model), vocab)
                }
            }
        };
        let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| Error::Tokenizer(format!("{}: {e}", tokenizer_path.display())))?;
        let tokenizer_vocab = tokenizer.get_vocab_size(true);
        if tokenizer_vocab > vocab_size {
            return Err(Error::Tokenizer(format!(
                "{} has {tokenizer_vocab} tokens but the model's embedding table has \
                 {vocab_size} rows: the tokenizer belongs to another model",
                tokenizer_path.display()
            )));
        }
        let max_seq_length = options
            .max_seq_length
            .map_or(st.max_seq_length, |n| n.min(st.max_seq_length));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_seq_length,
                ..Default::default()
            }))
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        tokenizer.with_padding(None);

        let normalize = options.normalize.unwrap_or(st.normalize);
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        // Identity for caches: anything that changes an output vector is in it.
        let model_id =
            format!(
            "{name}|bytes={weights_len}|{:?}|pool={}|norm={normalize}|max={max_seq_length}|cut={}",
            options.dtype,
            st.pooling.as_str(),
            options.char_limit.map_or("none".to_string(), |n| n.to_string()),
        );
        Ok(SentenceEmbedder {
            encoder,
            tokenizer,
            pooling: st.pooling,
            normalize,
            max_seq_length,
            pad_id,
            dim: st.dim,
            options,
            model_id,
        })
    }

    /// The longest input in tokens (special tokens included); longer texts are truncated.
    pub fn max_seq_length(&self) -> usize {
        self.max_seq_length
    }

    /// The pooling mode in use.
    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// Whether outputs are L2-normalised.
    pub fn normalizes(&self) -> bool {
        self.normalize
    }

    /// Batches embedded at once: [`EmbedOptions::workers`], or when it is 0, one per thread of
    /// the current rayon pool on the CPU and one on a GPU.
    pub fn workers(&self) -> usize {
        match self.options.workers {
            0 if self.options.device.is_cpu() => rayon::current_num_threads().max(1),
            0 => 1,
            n => n,
        }
    }

    /// Token counts of `texts` after the character cut and truncation, as the model sees them.
    pub fn token_counts(&self, texts: &[&str]) -> Result<Vec<usize>> {
        Ok(self.tokenize(texts)?.iter().map(Vec::len).collect())
    }

    fn tokenize(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        let cut: Vec<&str> = match self.options.char_limit {
            Some(limit) => texts.iter().map(|t| cut_chars(t, limit)).collect(),
            None => texts.to_vec(),
        };
        // `encode_batch` tokenises in parallel on all cores.
        let encodings = self
            .tokenizer
            .encode_batch(cut, true)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok(encodings
            .into_iter()
            .map(|e| e.get_ids().to_vec())
            .collect())
    }

    /// Embeds `texts`, calling `on_batch(done)` after each batch with the number of texts done
    /// so far (for a progress bar).
    pub fn embed_with_progress(
        &self,
        texts: &[&str],
        on_batch: &(dyn Fn(usize) + Sync),
    ) -> Result<Array2<f32>> {
        let ids = self.tokenize(texts)?;
        // Longest first: a batch holds texts of similar length, so little padding is computed,
        // and an out-of-memory error shows on the first batch, not the last.
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by(|&a, &b| ids[b].len().cmp(&ids[a].len()).then(a.cmp(&b)));
        let out = std::sync::Mutex::new(Array2::<f32>::zeros((texts.len(), self.dim)));
        let batches: Vec<&[usize]> = order.chunks(self.options.batch_size).collect();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let done = std::sync::atomic::AtomicUsize::new(0);
        let first_error: std::sync::Mutex<Option<Error>> = std::sync::Mutex::new(None);
        // Each worker takes the next batch; with one worker this is the plain loop.
        let work = || loop {
            let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(batch) = batches.get(k) else { break };
            if first_error.lock().map(|e| e.is_some()).unwrap_or(true) {
                break;
            }
            let rows: Vec<&[u32]> = batch.iter().map(|&i| ids[i].as_slice()).collect();
            match self.forward_batch(&rows) {
                Ok(vectors) => {
                    if let Ok(mut out) = out.lock() {
                        for (row, &i) in batch.iter().enumerate() {
                            out.row_mut(i).assign(&ndarray::ArrayView1::from(
                                &vectors[row * self.dim..(row + 1) * self.dim],
                            ));
                        }
                    }
                    let total = done.fetch_add(batch.len(), std::sync::atomic::Ordering::Relaxed)
                        + batch.len();
                    on_batch(total);
                }
                Err(e) => {
                    if let Ok(mut slot) = first_error.lock() {
                        slot.get_or_insert(e);
                    }
                    break;
                }
            }
        };
        let workers = self.workers().min(batches.len().max(1));
        if workers == 1 {
            work();
        } else {
            // One single-thread pool per worker: candle's products and our kernels fork onto
            // the current pool, so each worker stays on its own core instead of every worker
            // splitting every product over all cores.
            let pools = (0..workers)
                .map(|_| rayon::ThreadPoolBuilder::new().num_threads(1).build())
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| Error::Unsupported(format!("starting embedding workers: {e}")))?;
            std::thread::scope(|scope| {
                for pool in &pools {
                    scope.spawn(|| pool.install(work));
                }
            });
        }
        if let Some(e) = first_error.into_inner().ok().flatten() {
            return Err(e);
        }
        out.into_inner()
            .map_err(|_| Error::Unsupported("an embedding worker panicked".into()))
    }

    /// One padded batch through the encoder and the pooling; returns `rows × dim` values.
    fn forward_batch(&self, rows: &[&[u32]]) -> Result<Vec<f32>> {
        let device = &self.options.device;
        let width = rows.iter().map(|r| r.len()).max().unwrap_or(0).max(1);
        let mut input = Vec::with_capacity(rows.len() * width);
        let mut mask = Vec::with_capacity(rows.len() * width);
        for row in rows {
            input.extend_from_slice(row);
            input.extend(std::iter::repeat_n(self.pad_id, width - row.len()));
            mask.extend(std::iter::repeat_n(1u32, row.len()));
            mask.extend(std::iter::repeat_n(0u32, width - row.len()));
        }
        let input = Tensor::from_vec(input, (rows.len(), width), device)?;
        let mask = Tensor::from_vec(mask, (rows.len(), width), device)?;
        let token_types = input.zeros_like()?;
        let hidden = match &self.encoder {
            Encoder::Fast(model) => {
                let lengths: Vec<usize> = rows.iter().map(|r| r.len()).collect();
                model.forward(&input, &lengths)?
            }
            Encoder::Bert(model) => model.forward(&input, &token_types, &mask)?,
            Encoder::XlmRoberta(model) => {
                model.forward(&input, &mask, &token_types, None, None, None)?
            }
        };
        let hidden = hidden.to_dtype(DType::F32)?;
        let pooled = pool(&hidden, &mask, self.pooling)?;
        let pooled = if self.normalize {
            let norm = pooled
                .sqr()?
                .sum_keepdim(1)?
                .sqrt()?
                .clamp(1e-12f32, f32::MAX)?;
            pooled.broadcast_div(&norm)?
        } else {
            pooled
        };
        Ok(pooled.flatten_all()?.to_vec1::<f32>()?)
    }
}

/// Pools `hidden` (`batch × tokens × dim`, f32) under `mask` (`batch × tokens`, 1 = real).
fn pool(hidden: &Tensor, mask: &Tensor, pooling: Pooling) -> Result<Tensor> {
    let maskf = mask.to_dtype(DType::F32)?;
    let expanded = maskf.unsqueeze(2)?; // batch × tokens × 1
    let counts = maskf.sum_keepdim(1)?.clamp(1e-9f32, f32::MAX)?; // batch × 1
    Ok(match pooling {
        Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1)?,
        Pooling::Mean => hidden
            .broadcast_mul(&expanded)?
            .sum(1)?
            .broadcast_div(&counts)?,
        Pooling::MeanSqrtLen => hidden
            .broadcast_mul(&expanded)?
            .sum(1)?
            .broadcast_div(&counts.sqrt()?)?,
        Pooling::Max => {
            // Padding gets a large negative value so it never wins the maximum.
            let penalty = ((expanded.ones_like()? - &expanded)? * -1e9f64)?;
            hidden.broadcast_add(&penalty)?.max(1)?
        }
    })
}

/// The first `limit` characters of `text` (never splits a character).
fn cut_chars(text: &str, limit: usize) -> &str {
    match text.char_indices().nth(limit) {
        Some((byte, _)) => &text[..byte],
        None => text,
    }
}

impl Embedder for SentenceEmbedder {
    fn embed(&self, texts: &[&str]) -> Result<Array2<f32>> {
        self.embed_with_progress(texts, &|_| {})
    }

    fn embed_with_progress(
        &self,
        texts: &[&str],
        on_batch: &(dyn Fn(usize) + Sync),
    ) -> Result<Array2<f32>> {
        SentenceEmbedder::embed_with_progress(self, texts, on_batch)
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn model_id(&self) -> &str {
        &self.model_id
    }
}

#[cfg(test)]
mod tests {
    use super::cut_chars;

    #[test]
    fn cut_chars_counts_characters_not_bytes() {
        assert_eq!(cut_chars("héllo", 2), "hé");
        assert_eq!(cut_chars("香港新聞", 3), "香港新");
        assert_eq!(cut_chars("ab", 5), "ab");
        assert_eq!(cut_chars("", 1), "");
    }
}
