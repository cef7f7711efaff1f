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

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Module, Shape, Tensor};
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

fn layer_norm(vb: &VarBuilder, size: usize, eps: f64) -> candle_core::Result<AddLayerNorm> {
    // Old TensorFlow-converted checkpoints call the parameters gamma and beta.
    let (w, b) = if vb.contains_tensor("weight") {
        (vb.get(size, "weight")?, vb.get(size, "bias")?)
    } else {
        (vb.get(size, "gamma")?, vb.get(size, "beta")?)
    };
    Ok(AddLayerNorm {
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
            let qkv = Linear::new(stack("weight", &[h, h])?, Some(stack("bias", &[h])?));
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
            let attention_out = linear(&l, h, h, "attention.output.dense")?;
            let output = linear(&l, h, c.intermediate_size, "output.dense")?;
            layers.push(LayerWeights {
                qkv,
                attention_norm: layer_norm(
                    &l.pp("attention.output.LayerNorm"),
                    h,
                    c.layer_norm_eps,
                )?,
                attention_out,
                intermediate,
                intermediate_gelu,
                output,
                output_norm: layer_norm(&l.pp("output.LayerNorm"), h, c.layer_norm_eps)?,
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
        let mut x = self.words.forward(ids)?;
        if let Some(tt) = &self.token_type {
            x = x.broadcast_add(tt)?;
        }
        let pos = self.positions.forward(&position_ids)?;
        let hidden = x.dim(2)?;
        let mut x = pos
            .reshape((batch * width, hidden))?
            .apply_op2_no_bwd(&x.reshape((batch * width, hidden))?, &self.embedding_norm)?;

        let mut mask = Vec::with_capacity(batch * width);
        for &len in lengths {
            mask.extend((0..width).map(|t| if t < len { 1.0f32 } else { 0.0 }));
        }
        let mask = Tensor::from_vec(mask, (batch, width), device)?;
        let heads = self.heads;
        let head_dim = hidden / heads;
        let softmax = MaskedSoftmax {
            scale: 1.0 / (head_dim as f32).sqrt(),
            heads,
        };
        for layer in &self.layers {
            let qkv = layer.qkv.forward(&x)?; // (batch·width) × 3·hidden
            let split = |k: usize| {
                qkv.narrow(1, k * hidden, hidden)?
                    .reshape((batch, width, heads, head_dim))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let (q, k, v) = (split(0)?, split(1)?, split(2)?);
            let scores = q.matmul(&k.t()?)?; // batch × heads × width × width
            let probs = scores.apply_op2_no_bwd(&mask, &softmax)?;
            let context = probs
                .matmul(&v)?
                .transpose(1, 2)?
                .reshape((batch * width, hidden))?;
            let attended = layer.attention_out.forward(&context)?;
            x = attended.apply_op2_no_bwd(&x, &layer.attention_norm)?;
            let inner = layer
                .intermediate
                .forward(&x)?
                .apply_op1_no_bwd(&layer.intermediate_gelu)?;
            let out = layer.output.forward(&inner)?;
            x = out.apply_op2_no_bwd(&x, &layer.output_norm)?;
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

/// `LayerNorm(a + b)` over the last dimension.
struct AddLayerNorm {
    weight: Vec<f32>,
    bias: Vec<f32>,
    eps: f32,
}

impl CustomOp2 for AddLayerNorm {
    fn name(&self) -> &'static str {
        "add-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (a, b) = (
            f32_slice(s1, l1, self.name())?,
            f32_slice(s2, l2, self.name())?,
        );
        let n = self.weight.len();
        if a.len() != b.len() || a.len() % n != 0 {
            candle_core::bail!(
                "add-layer-norm: shapes {:?} and {:?}",
                l1.shape(),
                l2.shape()
            );
        }
        let mut out = vec![0.0f32; a.len()];
        out.par_chunks_mut(n)
            .zip(a.par_chunks(n).zip(b.par_chunks(n)))
            .for_each(|(o, (a, b))| {
                add_layer_norm_row(o, a, b, &self.weight, &self.bias, self.eps)
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx2+fma+avx",
    "x86_64+avx2+fma+avx",
))]
fn add_layer_norm_row(out: &mut [f32], a: &[f32], b: &[f32], w: &[f32], bias: &[f32], eps: f32) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = x + y;
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

/// `GELU(x + bias)` with the exact (erf) GELU, bias over the last dimension.
struct BiasGelu {
    bias: Vec<f32>,
}

impl CustomOp1 for BiasGelu {
    fn name(&self) -> &'static str {
        "bias-gelu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, self.name())?;
        let n = self.bias.len();
        if x.len() % n != 0 {
            candle_core::bail!("bias-gelu: shape {:?}, bias {n}", l.shape());
        }
        let mut out = vec![0.0f32; x.len()];
        out.par_chunks_mut(n)
            .zip(x.par_chunks(n))
            .for_each(|(o, x)| bias_gelu_row(o, x, &self.bias));
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }
}

#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx2+fma+avx",
    "x86_64+avx2+fma+avx",
))]
fn bias_gelu_row(out: &mut [f32], x: &[f32], bias: &[f32]) {
    for ((o, &v), &b) in out.iter_mut().zip(x).zip(bias) {
        let v = v + b;
        *o = 0.5 * v * (1.0 + erf(v * std::f32::consts::FRAC_1_SQRT_2));
    }
}

/// Softmax over the last dimension of `scores` (`batch × heads × rows × width`) after scaling,
/// with the keys of padding tokens (mask 0, `batch × width`) left out.
struct MaskedSoftmax {
    scale: f32,
    heads: usize,
}

impl CustomOp2 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "masked-softmax"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (scores, mask) = (
            f32_slice(s1, l1, self.name())?,
            f32_slice(s2, l2, self.name())?,
        );
        let (batch, heads, rows, width) = l1.shape().dims4()?;
        if heads != self.heads || mask.len() != batch * width {
            candle_core::bail!(
                "masked-softmax: shapes {:?} and {:?}",
                l1.shape(),
                l2.shape()
            );
        }
        let mut out = vec![0.0f32; scores.len()];
        let per_batch = heads * rows * width;
        out.par_chunks_mut(width)
            .zip(scores.par_chunks(width))
            .enumerate()
            .for_each(|(r, (o, s))| {
                let b = r * width / per_batch;
                softmax_row(o, s, &mask[b * width..(b + 1) * width], self.scale);
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx2+fma+avx",
    "x86_64+avx2+fma+avx",
))]
fn softmax_row(out: &mut [f32], scores: &[f32], mask: &[f32], scale: f32) {
    let mut max = f32::NEG_INFINITY;
    for (&s, &m) in scores.iter().zip(mask) {
        if m != 0.0 {
            max = max.max(s * scale);
        }
    }
    for ((o, &s), &m) in out.iter_mut().zip(scores).zip(mask) {
        // Masked keys get probability 0 (candle adds the float minimum: the same to f32).
        *o = if m != 0.0 { exp(s * scale - max) } else { 0.0 };
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
        let scores = [1.0f32, 2.0, 3.0, 100.0];
        let mask = [1.0f32, 1.0, 1.0, 0.0];
        let mut out = [0.0f32; 4];
        softmax_row(&mut out, &scores, &mask, 0.5);
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
