//! The transformer decoder shared by every supported architecture.
//!
//! candle-transformers' models return the logits of the last position only; scoring needs
//! every position, so we run our own forward and stop at the final hidden states. The output
//! projection is applied later, only to the positions whose log-probabilities are wanted.

use candle_core::{DType, Device, Tensor, D};

use crate::config::{DecoderConfig, RopeLayout};
use crate::weights::{Embedding, Linear, WeightSource};
use crate::{Error, Result};

mod named;

#[derive(Debug, Clone)]
struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    q_norm: Option<Tensor>,
    k_norm: Option<Tensor>,
}

#[derive(Debug, Clone)]
struct Block {
    input_norm: Tensor,
    attention: Attention,
    post_attention_norm: Tensor,
    gate: Linear,
    up: Linear,
    down: Linear,
}

/// A loaded decoder: embeddings, blocks, final norm and output projection.
#[derive(Debug, Clone)]
pub struct Decoder {
    config: DecoderConfig,
    embedding: Embedding,
    blocks: Vec<Block>,
    final_norm: Tensor,
    lm_head: Linear,
    dtype: DType,
    device: Device,
    inv_freq: Vec<f32>,
}

impl Decoder {
    pub(crate) fn load(
        config: DecoderConfig,
        source: &mut dyn WeightSource,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        let c = &config;
        let q_out = c.num_heads * c.head_dim;
        let kv_out = c.num_kv_heads * c.head_dim;
        let embedding =
            source.embedding("model.embed_tokens.weight", c.vocab_size, c.hidden_size)?;
        let mut blocks = Vec::with_capacity(c.num_layers);
        for i in 0..c.num_layers {
            let p = format!("model.layers.{i}");
            let (q_norm, k_norm) = if c.qk_norm {
                (
                    Some(source.dense(&format!("{p}.self_attn.q_norm.weight"), &[c.head_dim])?),
                    Some(source.dense(&format!("{p}.self_attn.k_norm.weight"), &[c.head_dim])?),
                )
            } else {
                (None, None)
            };
            blocks.push(Block {
                input_norm: source
                    .dense(&format!("{p}.input_layernorm.weight"), &[c.hidden_size])?,
                attention: Attention {
                    q: source.linear(
                        &format!("{p}.self_attn.q_proj"),
                        q_out,
                        c.hidden_size,
                        c.qkv_bias,
                    )?,
                    k: source.linear(
                        &format!("{p}.self_attn.k_proj"),
                        kv_out,
                        c.hidden_size,
                        c.qkv_bias,
                    )?,
                    v: source.linear(
                        &format!("{p}.self_attn.v_proj"),
                        kv_out,
                        c.hidden_size,
                        c.qkv_bias,
                    )?,
                    o: source.linear(
                        &format!("{p}.self_attn.o_proj"),
                        c.hidden_size,
                        q_out,
                        false,
                    )?,
                    q_norm,
                    k_norm,
                },
                post_attention_norm: source.dense(
                    &format!("{p}.post_attention_layernorm.weight"),
                    &[c.hidden_size],
                )?,
                gate: source.linear(
                    &format!("{p}.mlp.gate_proj"),
                    c.intermediate_size,
                    c.hidden_size,
                    false,
                )?,
                up: source.linear(
                    &format!("{p}.mlp.up_proj"),
                    c.intermediate_size,
                    c.hidden_size,
                    false,
                )?,
                down: source.linear(
                    &format!("{p}.mlp.down_proj"),
                    c.hidden_size,
                    c.intermediate_size,
                    false,
                )?,
            });
        }
        let final_norm = source.dense("model.norm.weight", &[c.hidden_size])?;
        // Some checkpoints tie in practice but still ship `lm_head.weight`; use it when present.
        let lm_head = if source.contains("lm_head.weight") {
            source.linear("lm_head", c.vocab_size, c.hidden_size, false)?
        } else if c.tie_word_embeddings {
            embedding.as_linear()
        } else {
            return Err(source.missing("lm_head.weight"));
        };
        let inv_freq = config.rope_inverse_frequencies();
        Ok(Self {
            config,
            embedding,
            blocks,
            final_norm,
            lm_head,
            dtype,
            device: device.clone(),
            inv_freq,
        })
    }

    /// The model's hyperparameters.
    pub fn config(&self) -> &DecoderConfig {
        &self.config
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The compute dtype.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// cos/sin tables `[seq, d/2]` when every row starts at position 0, else `[batch, seq, d/2]`
    /// with row `b` starting at `offsets[b]`.
    fn rope_tables(
        &self,
        offsets: &[usize],
        seq_len: usize,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let half = self.inv_freq.len();
        let shared = offsets.iter().all(|&o| o == 0);
        let rows: &[usize] = if shared { &[0] } else { offsets };
        let mut cos = Vec::with_capacity(rows.len() * seq_len * half);
        let mut sin = Vec::with_capacity(rows.len() * seq_len * half);
        for &offset in rows {
            for pos in offset..offset + seq_len {
                for f in &self.inv_freq {
                    // f32 product, as HF computes `position_ids.float() @ inv_freq`.
                    let angle = pos as f32 * f;
                    cos.push(angle.cos());
                    sin.push(angle.sin());
                }
            }
        }
        let shape: Vec<usize> = if shared {
            vec![seq_len, half]
        } else {
            vec![rows.len(), seq_len, half]
        };
        let cos = Tensor::from_vec(cos, shape.as_slice(), &self.device)?.to_dtype(self.dtype)?;
        let sin = Tensor::from_vec(sin, shape.as_slice(), &self.device)?.to_dtype(self.dtype)?;
        Ok((cos, sin))
    }

    /// Additive attention mask `[batch, 1, seq, seq]` in f32: 0 where query `i` may see key `j`
    /// (`j <= i` and `j < len`), −∞ elsewhere.
    ///
    /// With a prefix cache, the keys are `[prefix (padded to P), own tokens]` and row `b` also
    /// sees the first `prefix_lengths[b]` prefix keys.
    fn attention_mask(
        &self,
        lengths: &[usize],
        seq_len: usize,
        prefix: Option<(&[usize], usize)>,
    ) -> candle_core::Result<Tensor> {
        let (prefix_lengths, padded_prefix) = prefix.unwrap_or((&[], 0));
        let keys = padded_prefix + seq_len;
        let mut mask = vec![0f32; lengths.len() * seq_len * keys];
        for (b, &len) in lengths.iter().enumerate() {
            let visible_prefix = prefix_lengths.get(b).copied().unwrap_or(0);
            for i in 0..seq_len {
                let row = &mut mask[(b * seq_len + i) * keys..(b * seq_len + i + 1) * keys];
                for (j, m) in row.iter_mut().enumerate() {
                    let visible = if j < padded_prefix {
                        j < visible_prefix
                    } else {
                        let own = j - padded_prefix;
                        own <= i && own < len
                    };
                    if !visible {
                        *m = f32::NEG_INFINITY;
                    }
                }
            }
        }
        Tensor::from_vec(mask, (lengths.len(), 1, seq_len, keys), &self.device)
    }

    /// Runs the decoder over right-padded token ids `[batch, seq]` and returns the final
    /// (normalised) hidden states `[batch, seq, hidden]`. Positions at or past a row's length
    /// hold garbage and must be ignored; with right padding no real position ever attends to them.
    pub fn forward_hidden(&self, ids: &Tensor, lengths: &[usize]) -> Result<Tensor> {
        self.run(ids, lengths, None, None)
    }

    /// Runs a right-padded batch of prefixes and keeps their keys and values, so that
    /// [`Decoder::forward_after_prefix`] can continue each of them without recomputing it.
    pub fn forward_prefixes(
        &self,
        ids: &Tensor,
        lengths: &[usize],
    ) -> Result<(Tensor, PrefixCache)> {
        let mut cache = PrefixCache {
            keys_values: Vec::with_capacity(self.blocks.len()),
            lengths: lengths.to_vec(),
            padded_len: ids.dim(1)?,
        };
        let hidden = self.run(ids, lengths, None, Some(&mut cache))?;
        Ok((hidden, cache))
    }

    /// Runs a right-padded batch of continuations; row `b` continues prefix `prefix_of_row[b]`
    /// of `cache` (its positions start after that prefix, and it attends to the prefix's keys).
    pub fn forward_after_prefix(
        &self,
        ids: &Tensor,
        lengths: &[usize],
        cache: &PrefixCache,
        prefix_of_row: &[usize],
    ) -> Result<Tensor> {
        if prefix_of_row.len() != lengths.len()
            || prefix_of_row.iter().any(|&g| g >= cache.lengths.len())
        {
            return Err(Error::InvalidInput(
                "every row must name one of the cached prefixes".into(),
            ));
        }
        self.run(ids, lengths, Some((cache, prefix_of_row)), None)
    }

    fn run(
        &self,
        ids: &Tensor,
        lengths: &[usize],
        prefix: Option<(&PrefixCache, &[usize])>,
        mut record: Option<&mut PrefixCache>,
    ) -> Result<Tensor> {
        let (batch, seq_len) = ids.dims2()?;
        if lengths.len() != batch {
            return Err(Error::InvalidInput(format!(
                "{} lengths for a batch of {batch}",
                lengths.len()
            )));
        }
        let offsets: Vec<usize> = match prefix {
            Some((cache, rows)) => rows.iter().map(|&g| cache.lengths[g]).collect(),
            None => vec![0; batch],
        };
        if let Some(window) = self.config.sliding_window {
            if seq_len + offsets.iter().copied().max().unwrap_or(0) > window {
                return Err(Error::InvalidInput(format!(
                    "sequence of {seq_len} tokens exceeds the sliding window ({window}), which is not implemented"
                )));
            }
        }
        let (cos, sin) = self.rope_tables(&offsets, seq_len)?;
        let prefix_rows = match prefix {
            Some((cache, rows)) => {
                let visible: Vec<usize> = rows.iter().map(|&g| cache.lengths[g]).collect();
                let index: Vec<u32> = rows.iter().map(|&g| g as u32).collect();
                Some((
                    visible,
                    Tensor::from_vec(index, batch, &self.device)?,
                    cache,
                ))
            }
            None => None,
        };
        let mask = self.attention_mask(
            lengths,
            seq_len,
            prefix_rows
                .as_ref()
                .map(|(visible, _, cache)| (visible.as_slice(), cache.padded_len)),
        )?;
        let mut x = self.embedding.forward(ids, self.dtype)?;
        let eps = self.config.rms_norm_eps as f32;
        for (layer, block) in self.blocks.iter().enumerate() {
            let h = candle_nn::ops::rms_norm(&x, &block.input_norm, eps)?;
            let past = match &prefix_rows {
                Some((_, index, cache)) => {
                    let (k, v) = &cache.keys_values[layer];
                    Some((k.index_select(index, 0)?, v.index_select(index, 0)?))
                }
                None => None,
            };
            let (h, kv) = self.attention(&block.attention, &h, &cos, &sin, &mask, past)?;
            if let Some(cache) = record.as_deref_mut() {
                cache.keys_values.push(kv);
            }
            x = (x + h)?;
            let h = candle_nn::ops::rms_norm(&x, &block.post_attention_norm, eps)?;
            let gate = block.gate.forward(&h)?;
            let up = block.up.forward(&h)?;
            let gated = if self.fused_cpu(&gate) {
                gate.inplace_op2(&up, &crate::kernels::SiluMul)?;
                gate
            } else {
                (candle_nn::ops::silu(&gate)? * up)?
            };
            let h = block.down.forward(&gated)?;
            x = (x + h)?;
        }
        Ok(candle_nn::ops::rms_norm(&x, &self.final_norm, eps)?)
    }

    /// Whether `t` can go through the fused in-place CPU kernels: f32, on the CPU, contiguous.
    fn fused_cpu(&self, t: &Tensor) -> bool {
        t.device().is_cpu() && t.dtype() == DType::F32 && t.is_contiguous()
    }

    /// Returns the output and this call's own (post-RoPE, un-repeated) keys and values.
    fn attention(
        &self,
        attn: &Attention,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        mask: &Tensor,
        past: Option<(Tensor, Tensor)>,
    ) -> candle_core::Result<(Tensor, (Tensor, Tensor))> {
        let c = &self.config;
        let (batch, seq_len, _) = x.dims3()?;
        let heads = |t: Tensor, n: usize| -> candle_core::Result<Tensor> {
            t.reshape((batch, seq_len, n, c.head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let mut q = heads(attn.q.forward(x)?, c.num_heads)?;
        let mut k = heads(attn.k.forward(x)?, c.num_kv_heads)?;
        let v = heads(attn.v.forward(x)?, c.num_kv_heads)?;
        let eps = c.rms_norm_eps as f32;
        if let Some(w) = &attn.q_norm {
            q = candle_nn::ops::rms_norm(&q, w, eps)?;
        }
        if let Some(w) = &attn.k_norm {
            k = candle_nn::ops::rms_norm(&k, w, eps)?;
        }
        let (q, k) = match c.rope_layout {
            RopeLayout::Half => (
                candle_nn::rotary_emb::rope(&q, cos, sin)?,
                candle_nn::rotary_emb::rope(&k, cos, sin)?,
            ),
            RopeLayout::Interleaved => (
                candle_nn::rotary_emb::rope_i(&q, cos, sin)?,
                candle_nn::rotary_emb::rope_i(&k, cos, sin)?,
            ),
        };
        let own = (k.clone(), v.clone());
        let (k, v) = match past {
            Some((past_k, past_v)) => (
                Tensor::cat(&[&past_k, &k], 2)?,
                Tensor::cat(&[&past_v, &v], 2)?,
            ),
            None => (k, v),
        };
        let group = c.num_heads / c.num_kv_heads;
        let k = repeat_kv(k, group)?.contiguous()?;
        let v = repeat_kv(v, group)?.contiguous()?;
        let scale = 1.0 / (c.head_dim as f64).sqrt();
        // Scores and softmax in f32 whatever the compute dtype, as HF's eager attention does.
        let scores = q.matmul(&k.t()?)?.to_dtype(DType::F32)?;
        let probs = if self.fused_cpu(&scores) {
            // One vectorised in-place pass for scale, mask and softmax (see `kernels`).
            scores.inplace_op2(
                mask,
                &crate::kernels::AdditiveMaskSoftmax {
                    scale: scale as f32,
                },
            )?;
            scores
        } else {
            candle_nn::ops::softmax_last_dim(&(scores * scale)?.broadcast_add(mask)?)?
        };
        let out = probs.to_dtype(v.dtype())?.matmul(&v)?;
        let out = out
            .transpose(1, 2)?
            .reshape((batch, seq_len, c.num_heads * c.head_dim))?;
        Ok((attn.o.forward(&out)?, own))
    }

    /// Runs `ids` (`[1, n]`) after the single cached sequence in `cache` and appends their keys
    /// and values to it: the step of incremental generation. Returns the hidden states
    /// `[1, n, hidden]` of the new tokens.
    pub fn extend(&self, ids: &Tensor, cache: &mut PrefixCache) -> Result<Tensor> {
        let (batch, n) = ids.dims2()?;
        if batch != 1 || cache.lengths.len() != 1 || cache.padded_len != cache.lengths[0] {
            return Err(Error::InvalidInput(
                "extend works on one unpadded sequence (a cache from a single prefix)".into(),
            ));
        }
        let mut own = PrefixCache {
            keys_values: Vec::with_capacity(self.blocks.len()),
            lengths: vec![n],
            padded_len: n,
        };
        let hidden = self.run(ids, &[n], Some((&*cache, &[0])), Some(&mut own))?;
        for ((k, v), (new_k, new_v)) in cache.keys_values.iter_mut().zip(own.keys_values) {
            *k = Tensor::cat(&[&*k, &new_k], 2)?;
            *v = Tensor::cat(&[&*v, &new_v], 2)?;
        }
        cache.lengths[0] += n;
        cache.padded_len += n;
        Ok(hidden)
    }

    /// Full-vocabulary logits (f32) for a few hidden rows `[n, hidden]`: what sampling needs.
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        Ok(self.lm_head.forward(hidden)?.to_dtype(DType::F32)?)
    }

    /// Log-probabilities of `targets` under the output distribution at the given hidden states.
    ///
    /// `hidden` is `[n, hidden_size]`; the output projection and log-softmax run over blocks of
    /// `chunk` rows, so at most `chunk × vocab` logits exist at a time.
    pub fn gather_logprobs(
        &self,
        hidden: &Tensor,
        targets: &[u32],
        chunk: usize,
    ) -> Result<Vec<f32>> {
        let n = hidden.dim(0)?;
        if n != targets.len() {
            return Err(Error::InvalidInput(format!(
                "{n} hidden rows for {} targets",
                targets.len()
            )));
        }
        let chunk = chunk.max(1);
        let mut out = Vec::with_capacity(n);
        let mut start = 0;
        while start < n {
            let len = chunk.min(n - start);
            let rows = hidden.narrow(0, start, len)?;
            let logits = self.lm_head.forward(&rows)?.to_dtype(DType::F32)?;
            let logprobs = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
            let idx = Tensor::from_slice(&targets[start..start + len], (len, 1), &self.device)?;
            let picked = logprobs.gather(&idx, 1)?.flatten_all()?.to_vec1::<f32>()?;
            out.extend(picked);
            start += len;
        }
        Ok(out)
    }
}

/// Keys and values of a batch of prefixes, per layer, from [`Decoder::forward_prefixes`].
#[derive(Debug, Clone)]
pub struct PrefixCache {
    /// Per layer: keys and values `[prefixes, kv_heads, padded_len, head_dim]`.
    keys_values: Vec<(Tensor, Tensor)>,
    lengths: Vec<usize>,
    padded_len: usize,
}

impl PrefixCache {
    /// Length of each cached prefix.
    pub fn lengths(&self) -> &[usize] {
        &self.lengths
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
