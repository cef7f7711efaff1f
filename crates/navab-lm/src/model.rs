//! [`LanguageModel`]: a decoder and its tokenizer, loaded from a directory or a GGUF file.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use crate::config::DecoderConfig;
use crate::decoder::Decoder;
use crate::tokenizer::TextTokenizer;
use crate::weights::{GgufSource, SafetensorsSource, WeightSource};
use crate::{Error, Result};

/// How to load a model.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Where the weights live and the forward pass runs.
    pub device: Device,
    /// Compute dtype. bf16 on the CPU keeps activations, norms and softmax in f32 and runs
    /// the linear layers' matrix products on bf16 weights packed at load (AMX or AVX512-BF16
    /// where the CPU has them, `navab_kernels::bf16`).
    pub dtype: DType,
    /// GGUF only: dequantize every matrix to `dtype` (the default). candle's quantized CPU
    /// kernels are built for one-token decoding and run prompts about 12 times slower than dense
    /// f32 (measured with SmolLM2-135M Q4_1 on 2 cores, see docs/benchmarks.md), and scoring is all
    /// prompts. Set to `false` to keep matrices quantized when memory is short; only possible
    /// with `dtype = F32`, since quantized kernels take f32 activations.
    pub dequantize: bool,
    /// A `tokenizer.json` to use instead of the model's own.
    pub tokenizer: Option<PathBuf>,
    /// Rows of the output projection computed at once when gathering log-probabilities; bounds
    /// memory at `logits_chunk × vocab × 4` bytes.
    pub logits_chunk: usize,
}

impl LoadOptions {
    /// CPU, f32, GGUF dequantized, the model's own tokenizer.
    pub fn cpu() -> Self {
        Self {
            device: Device::Cpu,
            dtype: DType::F32,
            dequantize: true,
            tokenizer: None,
            logits_chunk: 64,
        }
    }
}

/// The on-disk format a model was loaded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ModelFormat {
    /// HF layout: `config.json`, `model.safetensors` (or shards), `tokenizer.json`.
    Safetensors,
    /// A single GGUF file.
    Gguf,
}

/// A decoder language model with its tokenizer, ready to score text.
///
/// `Send + Sync`: share one across threads behind an `Arc`.
#[derive(Debug, Clone)]
pub struct LanguageModel {
    decoder: Decoder,
    tokenizer: TextTokenizer,
    format: ModelFormat,
    name: String,
    logits_chunk: usize,
    chat_template: Option<String>,
    pub(crate) special: SpecialTokens,
}

/// BOS/EOS as the model's files name them, for chat templates and stop conditions.
#[derive(Debug, Clone, Default)]
pub(crate) struct SpecialTokens {
    pub(crate) bos: Option<String>,
    pub(crate) eos: Option<String>,
    /// Ids that end a generation (EOS, end-of-turn markers the chat template uses).
    pub(crate) stop_ids: Vec<u32>,
    explicit_eos_ids: Vec<u32>,
}

impl LanguageModel {
    /// Loads a model from an HF-layout directory or a `.gguf` file.
    ///
    /// A GGUF file without `options.tokenizer` uses the tokenizer rebuilt from its metadata.
    /// Weight files are memory-mapped: do not modify them while the model is alive.
    pub fn load(path: impl AsRef<Path>, options: &LoadOptions) -> Result<Self> {
        let path = path.as_ref();
        if !path.exists() {
            return Err(Error::MissingFile {
                path: path.to_path_buf(),
                reason:
                    "no such model file or directory (run scripts/fetch-models.sh for the defaults)"
                        .into(),
            });
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let mut special = SpecialTokens::default();
        // bf16 on the CPU: f32 activations, bf16 matrix products on packed weights.
        let packed_bf16 = options.device.is_cpu() && options.dtype == DType::BF16;
        let dtype = if packed_bf16 {
            DType::F32
        } else {
            options.dtype
        };
        let (mut decoder, own_tokenizer, format, chat_template) = if path.is_dir() {
            let config =
                DecoderConfig::from_hf_config(&path.join("config.json")).map_err(|e| match e {
                    Error::Io { path, .. } => Error::MissingFile {
                        path,
                        reason: "config.json is missing or unreadable".into(),
                    },
                    other => other,
                })?;
            let mut source = SafetensorsSource::open(path, dtype, &options.device)?;
            let decoder = Decoder::load(config, &mut source, dtype, &options.device)?;
            let tokenizer = match &options.tokenizer {
                Some(_) => None,
                None => Some(TextTokenizer::from_file(&path.join("tokenizer.json"))?),
            };
            let template = read_chat_template(&path.join("tokenizer_config.json"));
            special = read_special_tokens(path);
            (decoder, tokenizer, ModelFormat::Safetensors, template)
        } else {
            let mut source = GgufSource::open(path, dtype, &options.device, options.dequantize)?;
            let mut config = DecoderConfig::from_gguf(&source.content, path)?;
            config.rope_freq_factors =
                source.optional_vector("rope_freqs.weight", config.head_dim / 2)?;
            source.sandwich_norms = config.sandwich_norms;
            config.validate(path)?;
            let template = source
                .content
                .metadata
                .get("tokenizer.chat_template")
                .and_then(|v| v.to_string().ok())
                .cloned();
            let id = |key: &str| {
                source
                    .content
                    .metadata
                    .get(key)
                    .and_then(|v| v.to_u32().ok())
            };
            special
                .explicit_eos_ids
                .extend(id("tokenizer.ggml.eos_token_id"));
            // Token strings come from the GGUF's own vocabulary.
            let token = |i: Option<u32>| -> Option<String> {
                let tokens = source.content.metadata.get("tokenizer.ggml.tokens")?;
                let tokens = tokens.to_vec().ok()?;
                tokens.get(i? as usize)?.to_string().ok().cloned()
            };
            special.bos = token(id("tokenizer.ggml.bos_token_id"));
            special.eos = token(id("tokenizer.ggml.eos_token_id"));
            let tokenizer = match &options.tokenizer {
                Some(_) => None,
                None => Some(gguf_tokenizer(&source.content, path)?),
            };
            let decoder = Decoder::load(
                config,
                &mut source as &mut dyn WeightSource,
                dtype,
                &options.device,
            )?;
            (decoder, tokenizer, ModelFormat::Gguf, template)
        };
        if packed_bf16 {
            decoder.pack_linears_bf16()?;
        }
        let tokenizer = match own_tokenizer {
            Some(t) => t,
            None => {
                TextTokenizer::from_file(options.tokenizer.as_deref().unwrap_or(Path::new("")))?
            }
        };
        special.resolve(&tokenizer, chat_template.as_deref());
        let model = Self {
            decoder,
            tokenizer,
            format,
            name,
            logits_chunk: options.logits_chunk.max(1),
            chat_template,
            special,
        };
        model.check_tokenizer_fits()?;
        Ok(model)
    }

    /// Builds a model from parts (e.g. a decoder built in a test).
    pub fn from_parts(
        decoder: Decoder,
        tokenizer: TextTokenizer,
        name: impl Into<String>,
    ) -> Result<Self> {
        let model = Self {
            decoder,
            tokenizer,
            format: ModelFormat::Safetensors,
            name: name.into(),
            logits_chunk: 64,
            chat_template: None,
            special: SpecialTokens::default(),
        };
        model.check_tokenizer_fits()?;
        Ok(model)
    }

    /// This model (tokenizer, chat template, name) over another decoder, e.g. one from
    /// [`Decoder::with_linear_weights`]; `name` replaces the model's name.
    ///
    /// # Errors
    /// [`Error::Tokenizer`] if the tokenizer does not fit the decoder's vocabulary.
    pub fn with_decoder(&self, decoder: Decoder, name: impl Into<String>) -> Result<Self> {
        let model = Self {
            decoder,
            name: name.into(),
            ..self.clone()
        };
        model.check_tokenizer_fits()?;
        Ok(model)
    }

    fn check_tokenizer_fits(&self) -> Result<()> {
        let tokenizer_vocab = self.tokenizer.vocab_size();
        let model_vocab = self.decoder.config().vocab_size;
        // Models often pad the embedding beyond the tokenizer (Qwen: 151,936 rows for 151,665
        // tokens); the reverse means the tokenizer belongs to another model, unless the extra
        // ids are special added tokens of a sibling (Gemma 3's text models share a tokenizer
        // whose `<image_soft_token>` sits one past their 262,144 embeddings).
        let extra_are_special = self
            .tokenizer
            .inner()
            .get_added_tokens_decoder()
            .iter()
            .filter(|(id, _)| **id as usize >= model_vocab)
            .all(|(_, token)| token.special);
        let extra_ids = (model_vocab..tokenizer_vocab).all(|id| {
            self.tokenizer
                .inner()
                .get_added_tokens_decoder()
                .contains_key(&(id as u32))
        });
        if tokenizer_vocab > model_vocab && !(extra_are_special && extra_ids) {
            return Err(Error::Tokenizer(format!(
                "the tokenizer has {tokenizer_vocab} tokens but the model only {model_vocab} embeddings: \
                 this tokenizer does not belong to this model"
            )));
        }
        Ok(())
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    /// The decoder.
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// The model's hyperparameters.
    pub fn config(&self) -> &DecoderConfig {
        self.decoder.config()
    }

    /// File or directory name the model was loaded from.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The format it was loaded from.
    pub fn format(&self) -> ModelFormat {
        self.format
    }

    /// The chat template (Jinja) from `tokenizer_config.json` or the GGUF metadata, if any.
    pub fn chat_template(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }

    /// Like [`LanguageModel::token_logprobs`] for sequences that share a prefix: each group is a
    /// prefix and its continuations, and the prefix runs through the decoder once.
    ///
    /// Returns, per group, the log-probabilities of the prefix's tokens after its first
    /// (`len - 1` entries) and, per continuation, of each of its tokens (the first one predicted
    /// from the prefix's last position). Concatenated, they equal `token_logprobs` of
    /// `prefix + continuation` up to float rounding. Prefixes and continuations must be non-empty.
    pub fn token_logprobs_shared(&self, groups: &[SharedPrefix]) -> Result<Vec<SharedLogprobs>> {
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        let vocab = self.config().vocab_size as u32;
        for (g, group) in groups.iter().enumerate() {
            let all = std::iter::once(&group.prefix).chain(&group.continuations);
            for seq in all {
                if seq.is_empty() {
                    return Err(Error::InvalidInput(format!(
                        "group {g} has an empty prefix or continuation"
                    )));
                }
                if let Some(&bad) = seq.iter().find(|&&id| id >= vocab) {
                    return Err(Error::InvalidInput(format!(
                        "group {g} holds token id {bad}, beyond the model's vocabulary of {vocab}"
                    )));
                }
            }
        }
        let device = self.decoder.device();
        let prefixes: Vec<&Vec<u32>> = groups.iter().map(|g| &g.prefix).collect();
        let (prefix_ids, prefix_lengths, prefix_len) = pad(&prefixes, device)?;
        let (prefix_hidden, cache) = self
            .decoder
            .forward_prefixes(&prefix_ids, &prefix_lengths)?;
        let mut rows_of = Vec::new();
        let mut continuations = Vec::new();
        for (g, group) in groups.iter().enumerate() {
            for c in &group.continuations {
                rows_of.push(g);
                continuations.push(c);
            }
        }
        let (cont_ids, cont_lengths, cont_len) = pad(&continuations, device)?;
        let cont_hidden =
            self.decoder
                .forward_after_prefix(&cont_ids, &cont_lengths, &cache, &rows_of)?;
        let hidden_size = prefix_hidden.dim(2)?;
        let all_hidden = Tensor::cat(
            &[
                prefix_hidden.reshape((groups.len() * prefix_len, hidden_size))?,
                cont_hidden.reshape((continuations.len() * cont_len, hidden_size))?,
            ],
            0,
        )?;
        let cont_base = groups.len() * prefix_len;
        let mut rows = Vec::new();
        let mut targets = Vec::new();
        for (g, prefix) in prefixes.iter().enumerate() {
            for i in 0..prefix.len() - 1 {
                rows.push((g * prefix_len + i) as u32);
                targets.push(prefix[i + 1]);
            }
        }
        for (r, (cont, &g)) in continuations.iter().zip(&rows_of).enumerate() {
            rows.push((g * prefix_len + prefixes[g].len() - 1) as u32);
            targets.push(cont[0]);
            for i in 0..cont.len() - 1 {
                rows.push((cont_base + r * cont_len + i) as u32);
                targets.push(cont[i + 1]);
            }
        }
        let rows = Tensor::from_vec(rows, targets.len(), device)?;
        let selected = all_hidden.index_select(&rows, 0)?;
        let logprobs = self
            .decoder
            .gather_logprobs(&selected, &targets, self.logits_chunk)?;
        let mut offset = 0;
        let mut out: Vec<SharedLogprobs> = prefixes
            .iter()
            .map(|p| {
                let lp = logprobs[offset..offset + p.len() - 1].to_vec();
                offset += p.len() - 1;
                SharedLogprobs {
                    prefix: lp,
                    continuations: Vec::new(),
                }
            })
            .collect();
        for (cont, &g) in continuations.iter().zip(&rows_of) {
            out[g]
                .continuations
                .push(logprobs[offset..offset + cont.len()].to_vec());
            offset += cont.len();
        }
        Ok(out)
    }

    /// Log-probabilities of every token after the first, for a batch of token sequences.
    ///
    /// `result[b][i] = log p(seqs[b][i + 1] | seqs[b][..=i])`, so each row has `len - 1`
    /// entries. The sequences run as one right-padded batch; the output projection is applied
    /// only to the positions needed, in chunks, never to the whole `batch × seq × vocab` block.
    pub fn token_logprobs(&self, seqs: &[Vec<u32>]) -> Result<Vec<Vec<f32>>> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let vocab = self.config().vocab_size as u32;
        for (b, seq) in seqs.iter().enumerate() {
            if seq.is_empty() {
                return Err(Error::InvalidInput(format!("sequence {b} is empty")));
            }
            if let Some(&bad) = seq.iter().find(|&&id| id >= vocab) {
                return Err(Error::InvalidInput(format!(
                    "sequence {b} holds token id {bad}, beyond the model's vocabulary of {vocab}"
                )));
            }
        }
        let batch = seqs.len();
        let device = self.decoder.device();
        let refs: Vec<&Vec<u32>> = seqs.iter().collect();
        let (ids, lengths, seq_len) = pad(&refs, device)?;
        let hidden = self.decoder.forward_hidden(&ids, &lengths)?;
        let hidden_size = hidden.dim(2)?;
        let flat = hidden.reshape((batch * seq_len, hidden_size))?;
        let mut rows = Vec::new();
        let mut targets = Vec::new();
        for (b, seq) in seqs.iter().enumerate() {
            for i in 0..seq.len() - 1 {
                rows.push((b * seq_len + i) as u32);
                targets.push(seq[i + 1]);
            }
        }
        if rows.is_empty() {
            return Ok(vec![Vec::new(); batch]);
        }
        let rows = Tensor::from_vec(rows, targets.len(), device)?;
        let selected = flat.index_select(&rows, 0)?;
        let logprobs = self
            .decoder
            .gather_logprobs(&selected, &targets, self.logits_chunk)?;
        let mut out = Vec::with_capacity(batch);
        let mut offset = 0;
        for len in lengths {
            out.push(logprobs[offset..offset + len - 1].to_vec());
            offset += len - 1;
        }
        Ok(out)
    }
}

/// A prefix and the continuations scored after it, for [`LanguageModel::token_logprobs_shared`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedPrefix {
    /// Tokens shared by every continuation.
    pub prefix: Vec<u32>,
    /// Tokens that follow the prefix, one sequence per continuation.
    pub continuations: Vec<Vec<u32>>,
}

/// Log-probabilities from [`LanguageModel::token_logprobs_shared`].
#[derive(Debug, Clone, PartialEq)]
pub struct SharedLogprobs {
    /// Prefix tokens after the first.
    pub prefix: Vec<f32>,
    /// Every token of each continuation.
    pub continuations: Vec<Vec<f32>>,
}

/// Right-pads sequences into a `[batch, max_len]` tensor.
fn pad(seqs: &[&Vec<u32>], device: &Device) -> Result<(Tensor, Vec<usize>, usize)> {
    let lengths: Vec<usize> = seqs.iter().map(|s| s.len()).collect();
    let max_len = lengths.iter().copied().max().unwrap_or(0);
    let mut ids = vec![0u32; seqs.len() * max_len];
    for (b, seq) in seqs.iter().enumerate() {
        ids[b * max_len..b * max_len + seq.len()].copy_from_slice(seq);
    }
    Ok((
        Tensor::from_vec(ids, (seqs.len(), max_len), device)?,
        lengths,
        max_len,
    ))
}

impl SpecialTokens {
    /// Fills `stop_ids`: the explicit EOS ids, the EOS token's id, and the end-of-turn markers
    /// that the chat template writes after each message.
    fn resolve(&mut self, tokenizer: &TextTokenizer, template: Option<&str>) {
        let mut ids = self.explicit_eos_ids.clone();
        ids.extend(self.eos.as_deref().and_then(|t| tokenizer.token_to_id(t)));
        for marker in [
            "<|im_end|>",
            "<|eot_id|>",
            "<end_of_turn>",
            "<|end|>",
            "<|endoftext|>",
        ] {
            if template.is_some_and(|t| t.contains(marker)) {
                ids.extend(tokenizer.token_to_id(marker));
            }
        }
        ids.sort_unstable();
        ids.dedup();
        self.stop_ids = ids;
    }
}

/// A special token in `tokenizer_config.json`: a string or `{"content": ...}`.
fn special_token(json: &serde_json::Value, key: &str) -> Option<String> {
    match json.get(key)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => o.get("content")?.as_str().map(str::to_string),
        _ => None,
    }
}

fn read_special_tokens(dir: &Path) -> SpecialTokens {
    let read = |name: &str| -> Option<serde_json::Value> {
        serde_json::from_str(&std::fs::read_to_string(dir.join(name)).ok()?).ok()
    };
    let mut special = SpecialTokens::default();
    if let Some(config) = read("tokenizer_config.json") {
        special.bos = special_token(&config, "bos_token");
        special.eos = special_token(&config, "eos_token");
    }
    if let Some(generation) = read("generation_config.json") {
        match generation.get("eos_token_id") {
            Some(serde_json::Value::Number(n)) => special
                .explicit_eos_ids
                .extend(n.as_u64().map(|n| n as u32)),
            Some(serde_json::Value::Array(a)) => special
                .explicit_eos_ids
                .extend(a.iter().filter_map(|n| n.as_u64()).map(|n| n as u32)),
            _ => {}
        }
    }
    special
}

fn read_chat_template(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json.get("chat_template")?.as_str().map(str::to_string)
}

/// The GGUF's own tokenizer, rebuilt from its metadata; where that is not supported
/// (SentencePiece vocabularies: Gemma, Llama 2), the `tokenizer.json` beside the file, which is
/// where a model's download puts it.
fn gguf_tokenizer(
    content: &candle_core::quantized::gguf_file::Content,
    path: &Path,
) -> Result<TextTokenizer> {
    match TextTokenizer::from_gguf(content) {
        Ok(tokenizer) => Ok(tokenizer),
        Err(e) => {
            let beside = path.with_file_name("tokenizer.json");
            if beside.is_file() {
                TextTokenizer::from_file(&beside)
            } else {
                Err(e)
            }
        }
    }
}
