//! The transformer decoder shared by every supported architecture.
//!
//! candle-transformers' models return the logits of the last position only; scoring needs
//! every position, so we run our own forward and stop at the final hidden states. The output
//! projection is applied later, only to the positions whose log-probabilities are wanted.

use candle_core::{DType, Device, Tensor, D};

use crate::config::{Activation, DecoderConfig, RopeLayout};
use crate::weights::{Embedding, FusedSplit, Linear, WeightSource};
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
    /// Gemma's norm on the attention output (HF `post_attention_layernorm` there).
    attention_output_norm: Option<Tensor>,
    /// Gemma's norm on the MLP output (`post_feedforward_layernorm`).
    mlp_output_norm: Option<Tensor>,
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
    /// RoPE frequencies of the sliding-window layers when they differ (Gemma 3).
    local_inv_freq: Option<Vec<f32>>,
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
        let mut split = FusedSplit::new(source, q_out, kv_out, c.intermediate_size, dtype);
        let source: &mut dyn WeightSource = &mut split;
        // HF's MLP input norm is `post_attention_layernorm`, except in Gemma's sandwich layout.
        let mlp_norm = if c.sandwich_norms {
            "pre_feedforward_layernorm"
        } else {
            "post_attention_layernorm"
        };
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
                post_attention_norm: source
                    .dense(&format!("{p}.{mlp_norm}.weight"), &[c.hidden_size])?,
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
                attention_output_norm: None,
                mlp_output_norm: None,
            });
            if c.sandwich_norms {
                let block = blocks.last_mut().expect("just pushed");
                let norm = |source: &mut dyn WeightSource, name: &str| {
                    source.dense(&format!("{p}.{name}.weight"), &[c.hidden_size])
                };
                block.attention_output_norm = Some(norm(source, "post_attention_layernorm")?);
                block.mlp_output_norm = Some(norm(source, "post_feedforward_layernorm")?);
            }
        }
        let mut final_norm = source.dense("model.norm.weight", &[c.hidden_size])?;
        if c.norm_weight_offset != 0.0 {
            shift_norms(&mut blocks, &mut final_norm, c.norm_weight_offset)?;
        }
        // Some checkpoints tie in practice but still ship `lm_head.weight`; use it when present.
        let lm_head = if source.contains("lm_head.weight") {
            source.linear("lm_head", c.vocab_size, c.hidden_size, false)?
        } else if c.tie_word_embeddings {
            embedding.as_linear()
        } else {
            return Err(source.missing("lm_head.weight"));
        };
        let inv_freq = config.rope_inverse_frequencies();
        let local_inv_freq = config.local_rope_inverse_frequencies();
        Ok(Self {
            config,
            embedding,
            blocks,
            final_norm,
            lm_head,
            dtype,
            device: device.clone(),
            inv_freq,
            local_inv_freq,
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
        inv_freq: &[f32],
        offsets: &[usize],
        seq_len: usize,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let half = inv_freq.len();
        let shared = offsets.iter().all(|&o| o == 0);
        let rows: &[usize] = if shared { &[0] } else { offsets };
        let mut cos = Vec::with_capacity(rows.len() * seq_len * half);
        let mut sin = Vec::with_capacity(rows.len() * seq_len * half);
        for &offset in rows {
            for pos in offset..offset + seq_len {
                for f in inv_freq {
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
    /// sees the first `prefix_lengths[b]` prefix keys. With a sliding `window`, a query also
    /// sees only the keys less than `window` positions before it.
    fn attention_mask(
        &self,
        lengths: &[usize],
        seq_len: usize,
        prefix: Option<(&[usize], usize)>,
        window: Option<usize>,
    ) -> candle_core::Result<Tensor> {
        let (prefix_lengths, padded_prefix) = prefix.unwrap_or((&[], 0));
        let keys = padded_prefix + seq_len;
        let mut mask = vec![0f32; lengths.len() * seq_len * keys];
        for (b, &len) in lengths.iter().enumerate() {
            let visible_prefix = prefix_lengths.get(b).copied().unwrap_or(0);
            for i in 0..seq_len {
                let row = &mut mask[(b * seq_len + i) * keys..(b * seq_len + i + 1) * keys];
                for (j, m) in row.iter_mut().enumerate() {
                    let (visible, key_pos) = if j < padded_prefix {
                        (j < visible_prefix, j)
                    } else {
                        let own = j - padded_prefix;
                        (own <= i && own < len, visible_prefix + own)
                    };
                    let visible =
                        visible && window.is_none_or(|w| visible_prefix + i - key_pos < w);
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
        let (cos, sin) = self.rope_tables(&self.inv_freq, &offsets, seq_len)?;
        let local_rope = match &self.local_inv_freq {
            Some(freqs) => Some(self.rope_tables(freqs, &offsets, seq_len)?),
            None => None,
        };
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
        let prefix_mask = prefix_rows
            .as_ref()
            .map(|(visible, _, cache)| (visible.as_slice(), cache.padded_len));
        let mask = self.attention_mask(lengths, seq_len, prefix_mask, None)?;
        // Only built when some layer slides and the window is shorter than the sequence.
        let longest = seq_len + offsets.iter().copied().max().unwrap_or(0);
        let window_mask = match self.config.sliding_window {
            Some(w) if w < longest => {
                Some(self.attention_mask(lengths, seq_len, prefix_mask, Some(w))?)
            }
            _ => None,
        };
        let mut x = self.embedding.forward(ids, self.dtype)?;
        if let Some(scale) = self.config.embedding_scale {
            x = (x * f64::from(scale))?;
        }
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
            let sliding = self.config.layer_window(layer).is_some();
            let (cos, sin) = match &local_rope {
                Some((cos, sin)) if sliding => (cos, sin),
                _ => (&cos, &sin),
            };
            let mask = match &window_mask {
                Some(m) if sliding => m,
                _ => &mask,
            };
            let (h, kv) = self.attention(&block.attention, &h, cos, sin, mask, past)?;
            if let Some(cache) = record.as_deref_mut() {
                cache.keys_values.push(kv);
            }
            let h = match &block.attention_output_norm {
                Some(w) => candle_nn::ops::rms_norm(&h, w, eps)?,
                None => h,
            };
            x = (x + h)?;
            let h = candle_nn::ops::rms_norm(&x, &block.post_attention_norm, eps)?;
            let gate = block.gate.forward(&h)?;
            let up = block.up.forward(&h)?;
            let gated = match self.config.hidden_act {
                Activation::GeluTanh => (gate.gelu()? * up)?,
                Activation::Gelu => (gate.gelu_erf()? * up)?,
                _ if self.fused_cpu(&gate) => {
                    gate.inplace_op2(&up, &crate::kernels::SiluMul)?;
                    gate
                }
                _ => (candle_nn::ops::silu(&gate)? * up)?,
            };
            let h = block.down.forward(&gated)?;
            let h = match &block.mlp_output_norm {
                Some(w) => candle_nn::ops::rms_norm(&h, w, eps)?,
                None => h,
            };
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
        let scale = c.attention_scale();
        // Scores and softmax in f32 whatever the compute dtype, as HF's eager attention does.
        let scores = q.matmul(&k.t()?)?.to_dtype(DType::F32)?;
        let probs = if let Some(cap) = c.attn_logit_softcap {
            let capped = (((scores * scale)? / f64::from(cap))?.tanh()? * f64::from(cap))?;
            candle_nn::ops::softmax_last_dim(&capped.broadcast_add(mask)?)?
        } else if self.fused_cpu(&scores) {
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
        let logits = self.lm_head.forward(hidden)?.to_dtype(DType::F32)?;
        self.softcap_logits(logits)
    }

    /// Gemma 2's `cap * tanh(logits / cap)`; the identity for other models.
    fn softcap_logits(&self, logits: Tensor) -> Result<Tensor> {
        Ok(match self.config.final_logit_softcap {
            Some(cap) => ((logits / f64::from(cap))?.tanh()? * f64::from(cap))?,
            None => logits,
        })
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
            let logits = self.softcap_logits(self.lm_head.forward(&rows)?.to_dtype(DType::F32)?)?;
            let targets = &targets[start..start + len];
            let picked = if self.device.is_cpu() {
                // One fused pass per row instead of log-softmax's five over `len × vocab`.
                let op = navab_kernels::GatherLogSoftmax { targets };
                logits.contiguous()?.apply_op1_no_bwd(&op)?
            } else {
                let logprobs = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
                let idx = Tensor::from_slice(targets, (len, 1), &self.device)?;
                logprobs.gather(&idx, 1)?.flatten_all()?
            };
            out.extend(picked.to_vec1::<f32>()?);
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

/// Adds `offset` to every RMS-norm weight (Gemma's `1 + w`), in f32 as HF computes it.
fn shift_norms(blocks: &mut [Block], final_norm: &mut Tensor, offset: f32) -> Result<()> {
    let shift = |w: &Tensor| -> candle_core::Result<Tensor> {
        (w.to_dtype(DType::F32)? + f64::from(offset))?.to_dtype(w.dtype())
    };
    for block in blocks {
        let attn = &mut block.attention;
        for w in [&mut block.input_norm, &mut block.post_attention_norm]
            .into_iter()
            .chain(block.attention_output_norm.as_mut())
            .chain(block.mlp_output_norm.as_mut())
            .chain(attn.q_norm.as_mut())
            .chain(attn.k_norm.as_mut())
        {
            *w = shift(w)?;
        }
    }
    *final_norm = shift(final_norm)?;
    Ok(())
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
