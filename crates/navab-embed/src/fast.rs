//! The BERT-family encoder (BERT, XLM-RoBERTa) on the CPU in f32, with fused element-wise
//! kernels.
//!
//! candle's CPU backend runs softmax, GELU and layer norm one scalar `exp`/`erf` at a time and
//! each in its own pass over memory; at 256 tokens they cost as much as the matrix products.
//! This encoder keeps candle's matrix products and replaces the rest by three fused kernels:
//! scaled and masked softmax, bias + GELU, and bias + residual + layer norm, each vectorised
//! (compiled also for AVX2 and AVX-512 and picked at run time) with `exp` and `erf` accurate
//! to about 2e-7. Query, key and value come from one product with the three weights stacked.
//!
//! Used for f32 on the CPU when the model uses absolute positions and exact GELU (all
//! sentence-transformers BERT and XLM-R checkpoints we know); otherwise, and on a GPU, the
//! embedder runs candle-transformers' models.

use candle_core::{CpuStorage, CustomOp1, InplaceOp1, InplaceOp2, Layout, Module, Shape, Tensor};
use candle_nn::{Embedding, Linear, VarBuilder};
use rayon::prelude::*;

/// What the fast path needs from `config.json`.
#[derive(serde::Deserialize)]
pub(crate) struct FastConfig {
    pub(crate) vocab_size: usize,
    #[serde(default)]
    type_vocab_size: usize,
    hidden_size: usize,
    num_attention_heads: usize,
    num_hidden_layers: usize,
    intermediate_size: usize,
    max_position_embeddings: usize,
    #[serde(default = "default_eps")]
    layer_norm_eps: f64,
    #[serde(default = "default_act")]
    hidden_act: String,
    #[serde(default = "default_positions")]
    position_embedding_type: String,
}

fn default_eps() -> f64 {
    1e-12
}
fn default_act() -> String {
    "gelu".into()
}
fn default_positions() -> String {
    "absolute".into()
}

impl FastConfig {
    /// Whether this encoder computes what the checkpoint expects.
    pub(crate) fn supported(&self) -> bool {
        self.hidden_act == "gelu"
            && self.position_embedding_type == "absolute"
            && self.num_attention_heads > 0
            && self.hidden_size % self.num_attention_heads == 0
    }
}

struct LayerWeights {
    qkv: Linear,
    qkv_bias: Vec<f32>,
    attention_out: Linear,
    attention_norm: AddLayerNorm,
    intermediate: Linear,
    intermediate_gelu: BiasGelu,
    output: Linear,
    output_norm: AddLayerNorm,
}

/// The encoder: embeddings, then `num_hidden_layers` post-norm transformer layers.
pub(crate) struct FastEncoder {
    words: Embedding,
    positions: Embedding,
    /// Token type 0's row (every input here is a single segment), if the model has types.
    token_type: Option<Tensor>,
    embedding_norm: AddLayerNorm,
    layers: Vec<LayerWeights>,
    heads: usize,
    /// Position of the first token: 0 for BERT, `pad_token_id + 1` for XLM-R, whose padding
    /// tokens sit at position `pad_token_id`.
    position_offset: Option<usize>,
    max_positions: usize,
}

fn linear(vb: &VarBuilder, out: usize, inp: usize, name: &str) -> candle_core::Result<Linear> {
    let vb = vb.pp(name);
    Ok(Linear::new(
        vb.get((out, inp), "weight")?,
        Some(vb.get(out, "bias")?),
    ))
}

/// The same layer without its bias, and the bias as values.
fn unbiased(l: Linear) -> candle_core::Result<(Linear, Vec<f32>)> {
    let bias = match l.bias() {
        Some(b) => b.to_vec1()?,
        None => Vec::new(),
    };
    Ok((Linear::new(l.weight().clone(), None), bias))
}

fn layer_norm(vb: &VarBuilder, size: usize, eps: f64) -> candle_core::Result<AddLayerNorm> {
    // Old TensorFlow-converted checkpoints call the parameters gamma and beta.
    let (w, b) = if vb.contains_tensor("weight") {
        (vb.get(size, "weight")?, vb.get(size, "bias")?)
    } else {
        (vb.get(size, "gamma")?, vb.get(size, "beta")?)
    };
    Ok(AddLayerNorm {
        input_bias: Vec::new(),
        weight: w.to_vec1()?,
        bias: b.to_vec1()?,
        eps: eps as f32,
    })
}

impl FastEncoder {
    /// Loads from `vb` rooted where `embeddings.` and `encoder.` live. `xlm_pad` is XLM-R's
    /// padding id (`None` for BERT).
    pub(crate) fn load(
        vb: VarBuilder,
        c: &FastConfig,
        xlm_pad: Option<usize>,
    ) -> candle_core::Result<Self> {
        let h = c.hidden_size;
        let e = vb.pp("embeddings");
        let words = Embedding::new(e.get((c.vocab_size, h), "word_embeddings.weight")?, h);
        let positions = Embedding::new(
            e.get((c.max_position_embeddings, h), "position_embeddings.weight")?,
            h,
        );
        let token_type = if c.type_vocab_size > 0 {
            let table = e.get((c.type_vocab_size, h), "token_type_embeddings.weight")?;
            Some(table.get(0)?)
        } else {
            None
        };
        let embedding_norm = layer_norm(&e.pp("LayerNorm"), h, c.layer_norm_eps)?;
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let l = vb.pp(format!("encoder.layer.{i}"));
            let s = l.pp("attention.self");
            let part = |name: &str, what: &str, shape: &[usize]| s.pp(name).get(shape, what);
            let stack = |what: &str, shape: &[usize]| {
                Tensor::cat(
                    &[
                        part("query", what, shape)?,
                        part("key", what, shape)?,
                        part("value", what, shape)?,
                    ],
                    0,
                )
            };
            let qkv = Linear::new(stack("weight", &[h, h])?, None);
            let qkv_bias = stack("bias", &[h])?.to_vec1()?;
            let intermediate_vb = l.pp("intermediate.dense");
            let intermediate = Linear::new(
                intermediate_vb.get((c.intermediate_size, h), "weight")?,
                None,
            );
            // The bias goes into the fused GELU kernel.
            let intermediate_gelu = BiasGelu {
                bias: intermediate_vb
                    .get(c.intermediate_size, "bias")?
                    .to_vec1()?,
            };
            // The output projections' biases go into the fused residual + layer norm kernels.
            let (attention_out, attention_bias) =
                unbiased(linear(&l, h, h, "attention.output.dense")?)?;
            let (output, output_bias) =
                unbiased(linear(&l, h, c.intermediate_size, "output.dense")?)?;
            let mut attention_norm =
                layer_norm(&l.pp("attention.output.LayerNorm"), h, c.layer_norm_eps)?;
            attention_norm.input_bias = attention_bias;
            let mut output_norm = layer_norm(&l.pp("output.LayerNorm"), h, c.layer_norm_eps)?;
            output_norm.input_bias = output_bias;
            layers.push(LayerWeights {
                qkv,
                qkv_bias,
                attention_norm,
                attention_out,
                intermediate,
                intermediate_gelu,
                output,
                output_norm,
            });
        }
        Ok(FastEncoder {
            words,
            positions,
            token_type,
            embedding_norm,
            layers,
            heads: c.num_attention_heads,
            position_offset: xlm_pad.map(|p| p + 1),
            max_positions: c.max_position_embeddings,
        })
    }

    /// Hidden states (`batch × width × hidden`) of right-padded `ids` whose real lengths are
    /// `lengths`.
    pub(crate) fn forward(&self, ids: &Tensor, lengths: &[usize]) -> candle_core::Result<Tensor> {
        let (batch, width) = ids.dims2()?;
        let device = ids.device();
        let offset = self.position_offset.unwrap_or(0);
        if offset + width > self.max_positions {
            candle_core::bail!(
                "{width} tokens need position {} but the model has {}",
                offset + width - 1,
                self.max_positions
            );
        }
        let mut position_ids = Vec::with_capacity(batch * width);
        for &len in lengths {
            for t in 0..width {
                position_ids.push(match self.position_offset {
                    // XLM-R: padding tokens take the padding position.
                    Some(o) if t >= len => (o - 1) as u32,
                    _ => (offset + t) as u32,
                });
            }
        }
        let position_ids = Tensor::from_vec(position_ids, (batch, width), device)?;
        let mut words = self.words.forward(ids)?;
        if let Some(tt) = &self.token_type {
            words = words.broadcast_add(tt)?;
        }
        let pos = self.positions.forward(&position_ids)?;
        let hidden = words.dim(2)?;
        let x = pos.reshape((batch * width, hidden))?;
        x.inplace_op2(
            &words.reshape((batch * width, hidden))?,
            &self.embedding_norm,
        )?;
        let mut x = x;

        let mut mask = Vec::with_capacity(batch * width);
        for &len in lengths {
            mask.extend((0..width).map(|t| if t < len { 1.0f32 } else { 0.0 }));
        }
        let mask = Tensor::from_vec(mask, (batch, width), device)?;
        let heads = self.heads;
        let head_dim = hidden / heads;
        let softmax = MaskedSoftmax {
            scale: 1.0 / (head_dim as f32).sqrt(),
        };
        for layer in &self.layers {
            let qkv = layer.qkv.forward(&x)?.apply_op1_no_bwd(&SplitHeads {
                bias: &layer.qkv_bias,
                batch,
                heads,
            })?; // 3 × batch × heads × width × head_dim
            let (q, k, v) = (qkv.get(0)?, qkv.get(1)?, qkv.get(2)?);
            // One document at a time: its scores (heads × width × width) stay in cache, where
            // the whole batch's would be a hundred megabytes streamed three times.
            let mut contexts = Vec::with_capacity(batch);
            for b in 0..batch {
                let scores = q.get(b)?.matmul(&k.get(b)?.t()?)?;
                scores.inplace_op2(&mask.get(b)?, &softmax)?;
                contexts.push(scores.matmul(&v.get(b)?)?.transpose(0, 1)?);
            }
            let context = Tensor::cat(&contexts, 0)?.reshape((batch * width, hidden))?;
            let attended = layer.attention_out.forward(&context)?;
            attended.inplace_op2(&x, &layer.attention_norm)?;
            x = attended;
            let inner = layer.intermediate.forward(&x)?;
            inner.inplace_op1(&layer.intermediate_gelu)?;
            let out = layer.output.forward(&inner)?;
            out.inplace_op2(&x, &layer.output_norm)?;
            x = out;
        }
        x.reshape((batch, width, hidden))
    }
}

/// The f32 values of a contiguous CPU tensor.
fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("{op}: expects f32");
    };
    match l.contiguous_offsets() {
        Some((start, end)) => Ok(&v[start..end]),
        None => candle_core::bail!("{op}: expects a contiguous tensor"),
    }
}

/// The f32 values of a contiguous CPU tensor, to overwrite.
fn f32_slice_mut<'a>(
    s: &'a mut CpuStorage,
    l: &Layout,
    op: &str,
) -> candle_core::Result<&'a mut [f32]> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("{op}: expects f32");
    };
    match l.contiguous_offsets() {
        Some((start, end)) => Ok(&mut v[start..end]),
        None => candle_core::bail!("{op}: expects a contiguous tensor"),
    }
}

/// `LayerNorm(a + input_bias + b)` over the last dimension (`input_bias` is the bias of the
/// linear layer that produced `a`, or empty).
struct AddLayerNorm {
    input_bias: Vec<f32>,
    weight: Vec<f32>,
    bias: Vec<f32>,
    eps: f32,
}

impl InplaceOp2 for AddLayerNorm {
    fn name(&self) -> &'static str {
        "add-layer-norm"
    }

    /// Overwrites `a` (`s1`) with the result.
    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<()> {
        let b = f32_slice(s2, l2, self.name())?;
        let a = f32_slice_mut(s1, l1, self.name())?;
        let n = self.weight.len();
        if a.len() != b.len() || a.len() % n != 0 {
            candle_core::bail!(
                "add-layer-norm: shapes {:?} and {:?}",
                l1.shape(),
                l2.shape()
            );
        }
        a.par_chunks_mut(n).zip(b.par_chunks(n)).for_each(|(a, b)| {
            add_layer_norm_row(a, b, &self.input_bias, &self.weight, &self.bias, self.eps)
        });
        Ok(())
    }
}

#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx2+fma+avx",
    "x86_64+avx2+fma+avx",
))]
fn add_layer_norm_row(
    out: &mut [f32],
    b: &[f32],
    input_bias: &[f32],
    w: &[f32],
    bias: &[f32],
    eps: f32,
) {
    if input_bias.is_empty() {
        for (o, &y) in out.iter_mut().zip(b) {
            *o += y;
        }
    } else {
        for ((o, &y), &c) in out.iter_mut().zip(b).zip(input_bias) {
            *o = *o + c + y;
        }
    }
    let n = out.len() as f32;
    let mean = lane_sum(out) / n;
    let mut var_acc = [0.0f32; 8];
    let chunks = out.chunks_exact(8);
    let tail: f32 = chunks
        .remainder()
        .iter()
        .map(|v| (v - mean) * (v - mean))
        .sum();
    for c in chunks {
        for l in 0..8 {
            var_acc[l] += (c[l] - mean) * (c[l] - mean);
        }
    }
    let var = (var_acc.iter().sum::<f32>() + tail) / n;
    let inv = 1.0 / (var + eps).sqrt();
    for ((o, &g), &bb) in out.iter_mut().zip(w).zip(bias) {
        *o = (*o - mean) * inv * g + bb;
    }
}

/// Sum in 8 lanes (vectorisable, fixed order).
fn lane_sum(v: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = v.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for l in 0..8 {
            acc[l] += c[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Query, key and value from the stacked product (`(batch·width) × 3·hidden`, bias not yet
/// added) to `3 × batch × heads × width × head_dim`, bias added: one pass instead of a bias
/// pass and three transposing copies.
struct SplitHeads<'a> {
    bias: &'a [f32],
    batch: usize,
    heads: usize,
}

impl CustomOp1 for SplitHeads<'_> {
    fn name(&self) -> &'static str {
        "split-heads"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, self.name())?;
        let (rows, three_h) = l.shape().dims2()?;
        let (batch, heads) = (self.batch, self.heads);
        if three_h != self.bias.len() || three_h % (3 * heads) != 0 || rows % batch != 0 {
            candle_core::bail!("split-heads: shape {:?}", l.shape());
        }
        let (width, hidden) = (rows / batch, three_h / 3);
        let head_dim = hidden / heads;
        let mut out = vec![0.0f32; x.len()];
        // One task per (part, batch, head) block of `width × head_dim` outputs.
        out.par_chunks_mut(width * head_dim)
            .enumerate()
            .for_each(|(block, o)| {
                let (part, rest) = (block / (batch * heads), block % (batch * heads));
                let (b, hd) = (rest / heads, rest % heads);
                let col = part * hidden + hd * head_dim;
                let bias = &self.bias[col..col + head_dim];
                for (t, o) in o.chunks_exact_mut(head_dim).enumerate() {
                    let src = &x[(b * width + t) * three_h + col..][..head_dim];
                    for ((o, &v), &c) in o.iter_mut().zip(src).zip(bias) {
                        *o = v + c;
                    }
                }
            });
        let shape = Shape::from((3, batch, heads, width, head_dim));
        Ok((CpuStorage::F32(out), shape))
    }
}

/// `GELU(x + bias)` with the exact (erf) GELU, bias over the last dimension.
struct BiasGelu {
    bias: Vec<f32>,
}

impl InplaceOp1 for BiasGelu {
    fn name(&self) -> &'static str {
        "bias-gelu"
    }

    fn cpu_fwd(&self, s: &mut CpuStorage, l: &Layout) -> candle_core::Result<()> {
        let x = f32_slice_mut(s, l, self.name())?;
        let n = self.bias.len();
        if x.len() % n != 0 {
            candle_core::bail!("bias-gelu: shape {:?}, bias {n}", l.shape());
        }
        x.par_chunks_mut(n)
            .for_each(|x| bias_gelu_row(x, &self.bias));
        Ok(())
    }
}

#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx2+fma+avx",
    "x86_64+avx2+fma+avx",
))]
fn bias_gelu_row(x: &mut [f32], bias: &[f32]) {
    for (o, &b) in x.iter_mut().zip(bias) {
        let v = *o + b;
        *o = 0.5 * v * (1.0 + erf(v * std::f32::consts::FRAC_1_SQRT_2));
    }
}

/// Softmax over the last dimension of one document's scores (`heads × rows × width`) after
/// scaling, with the keys of padding tokens (mask 0, `width` values) left out; in place.
struct MaskedSoftmax {
    scale: f32,
}

impl InplaceOp2 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "masked-softmax"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<()> {
        let mask = f32_slice(s2, l2, self.name())?;
        let scores = f32_slice_mut(s1, l1, self.name())?;
        let width = mask.len();
        if width == 0 || scores.len() % width != 0 {
            candle_core::bail!(
                "masked-softmax: shapes {:?} and {:?}",
                l1.shape(),
                l2.shape()
            );
        }
        scores
            .par_chunks_mut(width)
            .for_each(|row| softmax_row(row, mask, self.scale));
        Ok(())
    }
}

#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx2+fma+avx",
    "x86_64+avx2+fma+avx",
))]
fn softmax_row(out: &mut [f32], mask: &[f32], scale: f32) {
    // The maximum in 8 lanes with plain comparisons: `f32::max` (NaN rules) in one chain does
    // not vectorise.
    let mut lanes = [f32::NEG_INFINITY; 8];
    let (rows, masks) = (out.chunks_exact(8), mask.chunks_exact(8));
    let mut max = f32::NEG_INFINITY;
    for (&s, &m) in rows.remainder().iter().zip(masks.remainder()) {
        let v = if m != 0.0 {
            s * scale
        } else {
            f32::NEG_INFINITY
        };
        max = if v > max { v } else { max };
    }
    for (r, m) in rows.zip(masks) {
        for l in 0..8 {
            let v = if m[l] != 0.0 {
                r[l] * scale
            } else {
                f32::NEG_INFINITY
            };
            lanes[l] = if v > lanes[l] { v } else { lanes[l] };
        }
    }
    for v in lanes {
        max = if v > max { v } else { max };
    }
    for (o, &m) in out.iter_mut().zip(mask) {
        // Masked keys get probability 0 (candle adds the float minimum: the same to f32).
        *o = if m != 0.0 { exp(*o * scale - max) } else { 0.0 };
    }
    let sum = lane_sum(out);
    if sum > 0.0 {
        let inv = 1.0 / sum;
        for o in out.iter_mut() {
            *o *= inv;
        }
    }
}

/// `e^x` for `x <= 88`, relative error about 2e-7 + |x| · 6e-8: `2^(x·log2 e)` with the integer part put in
/// the exponent bits (round-to-nearest by the 1.5·2^23 trick) and a degree-6 polynomial for the
/// rest. Below about -87 it returns a tiny positive number instead of a subnormal.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    let v = (x * std::f32::consts::LOG2_E).clamp(-126.0, 126.0);
    let r = v + MAGIC;
    let k = r.to_bits().wrapping_sub(MAGIC.to_bits()) as i32;
    let t = (v - (r - MAGIC)) * std::f32::consts::LN_2;
    let p = 1.0
        + t * (1.0
            + t * (0.5
                + t * (1.0 / 6.0 + t * (1.0 / 24.0 + t * (1.0 / 120.0 + t * (1.0 / 720.0))))));
    f32::from_bits(p.to_bits().wrapping_add((k as u32) << 23))
}

/// `erf(x)` by Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7), branch-free.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let y = 1.0 - poly * exp(-a * a);
    y.copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_and_erf_are_accurate() {
        for i in -2000..=800 {
            let x = i as f32 * 0.05;
            let (fast, exact) = (exp(x), (x as f64).exp());
            if exact > 1e-37 {
                let rel = ((f64::from(fast) - exact) / exact).abs();
                // x · log2(e) rounded to f32 costs up to |x| · 6e-8 on top of the polynomial.
                let bound = 5e-7 + 1e-7 * f64::from(x.abs());
                assert!(rel < bound, "exp({x}) = {fast}, want {exact}");
            }
        }
        // Against candle's f64 erf, what the candle-transformers path computes.
        for i in -600..=600 {
            let x = i as f32 * 0.01;
            let exact = candle_core::cpu::erf::erf_f64(f64::from(x));
            let fast = erf(x);
            assert!(
                (f64::from(fast) - exact).abs() < 5e-7,
                "erf({x}) = {fast}, want {exact}"
            );
        }
    }

    #[test]
    fn softmax_masks_and_sums_to_one() {
        let mask = [1.0f32, 1.0, 1.0, 0.0];
        let mut out = [1.0f32, 2.0, 3.0, 100.0];
        softmax_row(&mut out, &mask, 0.5);
        assert_eq!(out[3], 0.0);
        let e: Vec<f64> = [0.5f64, 1.0, 1.5]
            .iter()
            .map(|v| (v - 1.5f64).exp())
            .collect();
        let z: f64 = e.iter().sum();
        for i in 0..3 {
            assert!((f64::from(out[i]) - e[i] / z).abs() < 1e-6);
        }
    }
}
