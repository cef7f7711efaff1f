//! The training forward: the decoder of a [`navab_lm::LanguageModel`] run with plain,
//! differentiable ops, frozen base weights and LoRA updates on the targeted layers.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use navab_lm::{DecoderConfig, LanguageModel, RopeLayout};
use rand::rngs::StdRng;
use rand::Rng;

use crate::lora::{LoraAdapters, Target};
use crate::ops;
use crate::{Error, Result};

/// A frozen linear layer.
#[derive(Debug, Clone)]
struct Frozen {
    weight: Tensor,
    bias: Option<Tensor>,
}

#[derive(Debug, Clone)]
struct Layer {
    input_norm: Tensor,
    post_norm: Tensor,
    q_norm: Option<Tensor>,
    k_norm: Option<Tensor>,
    linears: HashMap<Target, Frozen>,
}

/// A decoder whose base weights are frozen tensors shared with the [`LanguageModel`] it came
/// from (never copied: the GGUF's matrices are dequantized once by the loader), run with
/// differentiable ops so that LoRA adapters can be trained on it.
#[derive(Debug, Clone)]
pub struct TrainableModel {
    config: DecoderConfig,
    device: Device,
    dtype: DType,
    embed: Tensor,
    layers: Vec<Layer>,
    final_norm: Tensor,
    lm_head: Tensor,
    inv_freq: Vec<f32>,
}

/// How adapters take part in a forward pass.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AdapterUse<'a> {
    pub(crate) adapters: &'a LoraAdapters,
    /// Dropout probability on the adapter inputs (0 at evaluation).
    pub(crate) dropout: f64,
}

impl TrainableModel {
    /// Takes the decoder of `model`. Its weights must be dense (the default
    /// [`navab_lm::LoadOptions`]; quantized matrices would be dequantized here, once).
    ///
    /// # Errors
    /// [`Error::Model`] if a weight is missing.
    pub fn new(model: &LanguageModel) -> Result<Self> {
        let decoder = model.decoder();
        let dtype = decoder.dtype();
        let config = decoder.config().clone();
        let mut named: HashMap<String, Tensor> =
            decoder.named_weights(dtype)?.into_iter().collect();
        let mut take = |name: &str| {
            named
                .remove(name)
                .ok_or_else(|| Error::InvalidInput(format!("the decoder has no weight `{name}`")))
        };
        let embed = take("model.embed_tokens.weight")?;
        let mut layers = Vec::with_capacity(config.num_layers);
        for i in 0..config.num_layers {
            let p = format!("model.layers.{i}");
            let mut linears = HashMap::new();
            for target in Target::ALL {
                let path = target.path(i);
                let weight = take(&format!("{path}.weight"))?;
                let bias = take(&format!("{path}.bias")).ok();
                linears.insert(target, Frozen { weight, bias });
            }
            layers.push(Layer {
                input_norm: take(&format!("{p}.input_layernorm.weight"))?,
                post_norm: take(&format!("{p}.post_attention_layernorm.weight"))?,
                q_norm: take(&format!("{p}.self_attn.q_norm.weight")).ok(),
                k_norm: take(&format!("{p}.self_attn.k_norm.weight")).ok(),
                linears,
            });
        }
        let final_norm = take("model.norm.weight")?;
        let lm_head = take("lm_head.weight")?;
        let inv_freq = config.rope_inverse_frequencies();
        Ok(Self {
            config,
            device: decoder.device().clone(),
            dtype,
            embed,
            layers,
            final_norm,
            lm_head,
            inv_freq,
        })
    }

    /// The model's shape.
    pub fn config(&self) -> &DecoderConfig {
        &self.config
    }

    /// The device of the weights.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The compute dtype.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The frozen base weight of `target` in block `layer` (`[out, in]`, in the loader's row
    /// order: llama GGUF q/k rows stay permuted).
    pub fn base_weight(&self, layer: usize, target: Target) -> Option<&Tensor> {
        Some(&self.layers.get(layer)?.linears.get(&target)?.weight)
    }

    fn rope_tables(&self, seq_len: usize) -> candle_core::Result<(Tensor, Tensor)> {
        let half = self.inv_freq.len();
        let mut cos = Vec::with_capacity(seq_len * half);
        let mut sin = Vec::with_capacity(seq_len * half);
        for pos in 0..seq_len {
            for f in &self.inv_freq {
                let angle = pos as f32 * f;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        let cos = Tensor::from_vec(cos, (seq_len, half), &self.device)?.to_dtype(self.dtype)?;
        let sin = Tensor::from_vec(sin, (seq_len, half), &self.device)?.to_dtype(self.dtype)?;
        Ok((cos, sin))
    }

    /// Softmax and log-probabilities run in f32 for 16-bit models (as HF's eager attention
    /// does), in the model's dtype otherwise.
    fn work_dtype(&self) -> DType {
        if self.dtype == DType::F64 {
            DType::F64
        } else {
            DType::F32
        }
    }

    /// Additive causal mask `[batch, 1, seq, seq]`: −∞ where key `j > i` or `j ≥ len`.
    fn mask(&self, lengths: &[usize], seq_len: usize) -> candle_core::Result<Tensor> {
        let mut mask = vec![0f32; lengths.len() * seq_len * seq_len];
        for (b, &len) in lengths.iter().enumerate() {
            for i in 0..seq_len {
                for j in 0..seq_len {
                    if j > i || j >= len {
                        mask[(b * seq_len + i) * seq_len + j] = f32::NEG_INFINITY;
                    }
                }
            }
        }
        Tensor::from_vec(mask, (lengths.len(), 1, seq_len, seq_len), &self.device)
    }

    /// A linear layer on `x [rows, in]`: the frozen base plus the adapter's update.
    fn linear(
        &self,
        layer: usize,
        target: Target,
        x: &Tensor,
        adapters: Option<AdapterUse<'_>>,
        rng: &mut Option<&mut StdRng>,
    ) -> candle_core::Result<Tensor> {
        let base = &self.layers[layer].linears[&target];
        let y = ops::frozen_linear(x, &base.weight, base.bias.as_ref())?;
        let Some(AdapterUse { adapters, dropout }) = adapters else {
            return Ok(y);
        };
        let Some(pair) = adapters.get(layer, target) else {
            return Ok(y);
        };
        let mut input = x.clone();
        if dropout > 0.0 {
            if let Some(rng) = rng.as_deref_mut() {
                let keep = 1.0 - dropout;
                let mask: Vec<f32> = (0..x.elem_count())
                    .map(|_| {
                        if rng.random::<f64>() < keep {
                            (1.0 / keep) as f32
                        } else {
                            0.0
                        }
                    })
                    .collect();
                let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
                input = (input * mask)?;
            }
        }
        let a = pair.a.as_tensor().to_dtype(x.dtype())?;
        let b = pair.b.as_tensor().to_dtype(x.dtype())?;
        let delta = input.matmul(&a.t()?)?.matmul(&b.t()?)?;
        y + (delta * adapters.config().scale())?
    }

    /// Runs right-padded ids `[batch, seq]` and returns the final normalised hidden states
    /// `[batch, seq, hidden]`; positions at or past a row's length are garbage. `rng` drives
    /// the adapters' dropout (none without it).
    pub(crate) fn forward_hidden(
        &self,
        ids: &Tensor,
        lengths: &[usize],
        adapters: Option<AdapterUse<'_>>,
        mut rng: Option<&mut StdRng>,
    ) -> Result<Tensor> {
        let c = &self.config;
        let (batch, seq_len) = ids.dims2()?;
        let rows = batch * seq_len;
        let (cos, sin) = self.rope_tables(seq_len)?;
        let work = self.work_dtype();
        let mask = self.mask(lengths, seq_len)?.to_dtype(work)?;
        let interleaved = c.rope_layout == RopeLayout::Interleaved;
        let eps = c.rms_norm_eps as f32;
        let scale = 1.0 / (c.head_dim as f64).sqrt();
        let group = c.num_heads / c.num_kv_heads;
        let mut x = self
            .embed
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((rows, c.hidden_size))?;
        for (i, layer) in self.layers.iter().enumerate() {
            let h = ops::rms_norm(&x, &layer.input_norm, eps)?;
            let heads = |t: Tensor, n: usize| -> candle_core::Result<Tensor> {
                t.reshape((batch, seq_len, n, c.head_dim))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let mut q = heads(
                self.linear(i, Target::Q, &h, adapters, &mut rng)?,
                c.num_heads,
            )?;
            let mut k = heads(
                self.linear(i, Target::K, &h, adapters, &mut rng)?,
                c.num_kv_heads,
            )?;
            let v = heads(
                self.linear(i, Target::V, &h, adapters, &mut rng)?,
                c.num_kv_heads,
            )?;
            if let Some(w) = &layer.q_norm {
                q = ops::rms_norm(&q, w, eps)?;
            }
            if let Some(w) = &layer.k_norm {
                k = ops::rms_norm(&k, w, eps)?;
            }
            let q = ops::rope(&q, &cos, &sin, interleaved)?;
            let k = repeat_kv(ops::rope(&k, &cos, &sin, interleaved)?, group)?;
            let v = repeat_kv(v, group)?;
            let scores = q.matmul(&k.t()?)?.to_dtype(work)?;
            let probs = ops::masked_softmax(&scores, &mask, scale)?;
            let attn = probs
                .to_dtype(v.dtype())?
                .matmul(&v)?
                .transpose(1, 2)?
                .reshape((rows, c.num_heads * c.head_dim))?;
            x = (x + self.linear(i, Target::O, &attn, adapters, &mut rng)?)?;
            let h = ops::rms_norm(&x, &layer.post_norm, eps)?;
            let gate = self.linear(i, Target::Gate, &h, adapters, &mut rng)?;
            let up = self.linear(i, Target::Up, &h, adapters, &mut rng)?;
            let gated = (gate.silu()? * up)?;
            x = (x + self.linear(i, Target::Down, &gated, adapters, &mut rng)?)?;
        }
        let x = ops::rms_norm(&x, &self.final_norm, eps)?;
        Ok(x.reshape((batch, seq_len, c.hidden_size))?)
    }

    /// Summed log-probabilities of the completion of each sequence: `seqs[i]` is
    /// `(tokens, completion_start)`, and the tokens from `completion_start` on are scored.
    /// Returns `[n]` in f32 (f64 for an f64 model; a graph when adapters are trainable variables) and the number
    /// of tokens scored per sequence.
    pub(crate) fn completion_logprobs(
        &self,
        seqs: &[(&[u32], usize)],
        adapters: Option<AdapterUse<'_>>,
        rng: Option<&mut StdRng>,
    ) -> Result<(Tensor, Vec<usize>)> {
        let seq_len = seqs.iter().map(|(t, _)| t.len()).max().unwrap_or(0);
        if seq_len < 2 {
            return Err(Error::InvalidInput(
                "every sequence needs at least 2 tokens".into(),
            ));
        }
        let mut ids = vec![0u32; seqs.len() * seq_len];
        let mut lengths = Vec::with_capacity(seqs.len());
        let mut rows = Vec::new();
        let mut targets = Vec::new();
        let mut owner = Vec::new();
        let mut counts = vec![0usize; seqs.len()];
        for (b, &(tokens, start)) in seqs.iter().enumerate() {
            if start == 0 || start >= tokens.len() {
                return Err(Error::InvalidInput(format!(
                    "completion start {start} outside a sequence of {} tokens (the prompt and the completion need a token each)",
                    tokens.len()
                )));
            }
            ids[b * seq_len..b * seq_len + tokens.len()].copy_from_slice(tokens);
            lengths.push(tokens.len());
            for (p, &t) in tokens.iter().enumerate().skip(start) {
                // Token p is predicted from the hidden state at p − 1.
                rows.push((b * seq_len + p - 1) as u32);
                targets.push(t);
                owner.push(b as u32);
                counts[b] += 1;
            }
        }
        let ids = Tensor::from_vec(ids, (seqs.len(), seq_len), &self.device)?;
        let hidden = self.forward_hidden(&ids, &lengths, adapters, rng)?;
        let hidden = hidden.reshape((seqs.len() * seq_len, self.config.hidden_size))?;
        let n = rows.len();
        let picked = hidden.index_select(&Tensor::from_vec(rows, n, &self.device)?, 0)?;
        let work = self.work_dtype();
        let logits = ops::frozen_linear(&picked, &self.lm_head, None)?.to_dtype(work)?;
        let per_token = ops::target_logprobs(&logits, &targets)?;
        let owner = Tensor::from_vec(owner, n, &self.device)?;
        let sums =
            Tensor::zeros(seqs.len(), work, &self.device)?.index_add(&owner, &per_token, 0)?;
        Ok((sums, counts))
    }
}

impl TrainableModel {
    /// Summed completion log-probabilities of each pair, `[2n]`: chosen then rejected per
    /// pair, in f32 (f64 for an f64 model). With adapters (no dropout) the result is part of a graph, so
    /// `backward()` gives their gradients; without, it is the base model's.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a pair without prompt or completion tokens.
    pub fn pair_logprobs(
        &self,
        pairs: &[crate::EncodedPair],
        adapters: Option<&LoraAdapters>,
    ) -> Result<Tensor> {
        let adapters = adapters.map(|adapters| AdapterUse {
            adapters,
            dropout: 0.0,
        });
        Ok(crate::trainer::policy_logprobs(self, pairs, adapters, None)?.0)
    }
}

fn repeat_kv(x: Tensor, group: usize) -> candle_core::Result<Tensor> {
    if group == 1 {
        return Ok(x);
    }
    let (b, kv, t, d) = x.dims4()?;
    x.unsqueeze(2)?
        .expand((b, kv, group, t, d))?
        .reshape((b, kv * group, t, d))
}
