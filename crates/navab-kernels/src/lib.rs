#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

use candle_core::{CpuStorage, CustomOp1, InplaceOp1, InplaceOp2, Layout, Shape};
use rayon::prelude::*;

pub mod bf16;

/// Defines a row function compiled also for AVX2 and AVX-512 and picked at run time (the
/// `multiversion` crate). The kernels hold no fused multiply-adds and no reassociated sums, so
/// every build gives the same bits.
macro_rules! simd_fn {
    ($(#[$meta:meta])* fn $name:ident($($args:tt)*) $(-> $ret:ty)? $body:block) => {
        #[multiversion::multiversion(targets(
            "x86_64+avx512f+avx512bw+avx512vl+avx2+fma+avx",
            "x86_64+avx2+fma+avx",
        ))]
        $(#[$meta])*
        fn $name($($args)*) $(-> $ret)? $body
    };
}

/// The f32 values of a contiguous CPU tensor.
pub fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("{op}: expects f32");
    };
    match l.contiguous_offsets() {
        Some((start, end)) => Ok(&v[start..end]),
        None => candle_core::bail!("{op}: expects a contiguous tensor"),
    }
}

/// The f32 values of a contiguous CPU tensor, to overwrite.
pub fn f32_slice_mut<'a>(
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
pub struct AddLayerNorm {
    /// Bias added to `a` first (may be empty).
    pub input_bias: Vec<f32>,
    /// Scale per feature.
    pub weight: Vec<f32>,
    /// Shift per feature.
    pub bias: Vec<f32>,
    /// Added to the variance.
    pub eps: f32,
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

simd_fn! {
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
}

/// Sum in 8 lanes (vectorisable, fixed order).
pub fn lane_sum(v: &[f32]) -> f32 {
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
pub struct SplitHeads<'a> {
    /// Bias of the stacked product (`3·hidden`).
    pub bias: &'a [f32],
    /// Documents in the batch.
    pub batch: usize,
    /// Attention heads.
    pub heads: usize,
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
pub struct BiasGelu {
    /// Bias per feature.
    pub bias: Vec<f32>,
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

simd_fn! {
    fn bias_gelu_row(x: &mut [f32], bias: &[f32]) {
        for (o, &b) in x.iter_mut().zip(bias) {
            let v = *o + b;
            *o = 0.5 * v * (1.0 + erf(v * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

/// Softmax over the last dimension of one document's scores (`heads × rows × width`) after
/// scaling, with the keys of padding tokens (mask 0, `width` values) left out; in place.
pub struct MaskedSoftmax {
    /// Applied to the scores first.
    pub scale: f32,
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

simd_fn! {
    fn softmax_row(out: &mut [f32], mask: &[f32], scale: f32) {
        for (v, &m) in out.iter_mut().zip(mask) {
            *v = if m != 0.0 {
                *v * scale
            } else {
                f32::NEG_INFINITY
            };
        }
        softmax_in_place(out);
    }
}

/// Softmax of `row` in place; entries at -inf get exactly 0 (a row all -inf: all 0, as no
/// position reads a padding row).
#[inline(always)]
fn softmax_in_place(row: &mut [f32]) {
    let max = lane_max(row);
    if max == f32::NEG_INFINITY {
        row.iter_mut().for_each(|v| *v = 0.0);
        return;
    }
    for v in row.iter_mut() {
        *v = if *v == f32::NEG_INFINITY {
            0.0
        } else {
            exp(*v - max)
        };
    }
    let inv = 1.0 / lane_sum(row);
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// The maximum of `row` (-inf if empty) in 8 lanes with plain comparisons: `f32::max` (NaN
/// rules) in one chain does not vectorise.
#[inline(always)]
fn lane_max(row: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 8];
    let mut max = f32::NEG_INFINITY;
    let chunks = row.chunks_exact(8);
    for &v in chunks.remainder() {
        max = if v > max { v } else { max };
    }
    for c in chunks {
        for l in 0..8 {
            lanes[l] = if c[l] > lanes[l] { c[l] } else { lanes[l] };
        }
    }
    for v in lanes {
        max = if v > max { v } else { max };
    }
    max
}

/// Log-softmax over the last dimension of logits (`rows × vocab`, f32), read at one target
/// per row: `[rows]` values `logits[r][t] − logsumexp(logits[r])`. Two read passes per row and
/// nothing written, where log-softmax then gather writes and rereads the whole block.
pub struct GatherLogSoftmax<'a> {
    /// One vocabulary index per row.
    pub targets: &'a [u32],
}

impl CustomOp1 for GatherLogSoftmax<'_> {
    fn name(&self) -> &'static str {
        "gather-log-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let logits = f32_slice(s, l, self.name())?;
        let (rows, vocab) = l.shape().dims2()?;
        if vocab == 0 {
            candle_core::bail!("gather-log-softmax: logits of an empty vocabulary");
        }
        if rows != self.targets.len() {
            candle_core::bail!(
                "gather-log-softmax: {rows} rows, {} targets",
                self.targets.len()
            );
        }
        if let Some(&t) = self.targets.iter().find(|&&t| t as usize >= vocab) {
            candle_core::bail!("gather-log-softmax: target {t} beyond a vocabulary of {vocab}");
        }
        let out: Vec<f32> = logits
            .par_chunks(vocab)
            .zip(self.targets.par_iter())
            .map(|(row, &t)| log_softmax_at(row, t as usize))
            .collect();
        Ok((CpuStorage::F32(out), Shape::from(rows)))
    }
}

simd_fn! {
    fn log_softmax_at(row: &[f32], target: usize) -> f32 {
        let max = lane_max(row);
        let mut acc = [0.0f32; 8];
        let chunks = row.chunks_exact(8);
        let tail: f32 = chunks.remainder().iter().map(|&v| exp(v - max)).sum();
        for c in chunks {
            for l in 0..8 {
                acc[l] += exp(c[l] - max);
            }
        }
        row[target] - max - (acc.iter().sum::<f32>() + tail).ln()
    }
}

/// Softmax over the last dimension of decoder scores (`batch × heads × rows × keys`) after
/// scaling, plus an additive mask (`batch × 1 × rows × keys`, 0 or -inf); in place. Keys masked
/// with -inf get probability exactly 0.
pub struct AdditiveMaskSoftmax {
    /// Applied to the scores before the mask is added.
    pub scale: f32,
}

impl InplaceOp2 for AdditiveMaskSoftmax {
    fn name(&self) -> &'static str {
        "additive-mask-softmax"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<()> {
        let (batch, heads, rows, keys) = l1.shape().dims4()?;
        if l2.shape().dims() != [batch, 1, rows, keys] {
            candle_core::bail!(
                "additive-mask-softmax: shapes {:?} and {:?}",
                l1.shape(),
                l2.shape()
            );
        }
        let mask = f32_slice(s2, l2, self.name())?;
        let scores = f32_slice_mut(s1, l1, self.name())?;
        if keys == 0 {
            return Ok(());
        }
        scores
            .par_chunks_mut(keys)
            .enumerate()
            .for_each(|(r, row)| {
                let (b, i) = (r / (heads * rows), r % rows);
                let m = &mask[(b * rows + i) * keys..][..keys];
                additive_softmax_row(row, m, self.scale);
            });
        Ok(())
    }
}

simd_fn! {
    fn additive_softmax_row(row: &mut [f32], mask: &[f32], scale: f32) {
        for (v, &m) in row.iter_mut().zip(mask) {
            *v = *v * scale + m;
        }
        softmax_in_place(row);
    }
}

/// `gate ← SiLU(gate) · up`, the gated MLP of llama-family models; in place on `gate`.
pub struct SiluMul;

impl InplaceOp2 for SiluMul {
    fn name(&self) -> &'static str {
        "silu-mul"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<()> {
        let up = f32_slice(s2, l2, self.name())?;
        let gate = f32_slice_mut(s1, l1, self.name())?;
        if gate.len() != up.len() {
            candle_core::bail!("silu-mul: shapes {:?} and {:?}", l1.shape(), l2.shape());
        }
        const CHUNK: usize = 4096;
        gate.par_chunks_mut(CHUNK)
            .zip(up.par_chunks(CHUNK))
            .for_each(|(g, u)| silu_mul_chunk(g, u));
        Ok(())
    }
}

simd_fn! {
    fn silu_mul_chunk(gate: &mut [f32], up: &[f32]) {
        for (g, &u) in gate.iter_mut().zip(up) {
            *g = *g / (1.0 + exp(-*g)) * u;
        }
    }
}

/// `e^x` for `x <= 88`, relative error about 2e-7 + |x| · 6e-8: `2^(x·log2 e)` with the integer part put in
/// the exponent bits (round-to-nearest by the 1.5·2^23 trick) and a degree-6 polynomial for the
/// rest. Below about -87 it returns a tiny positive number instead of a subnormal.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
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
pub fn erf(x: f32) -> f32 {
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
    fn decoder_kernels_match_candle() {
        use candle_core::{Device, Tensor, D};
        let dev = Device::Cpu;
        let scores = Tensor::randn(0f32, 3.0, (2, 3, 4, 5), &dev).unwrap();
        let mut mask = vec![0f32; 2 * 4 * 5];
        for (i, m) in mask.iter_mut().enumerate() {
            if i % 7 == 3 {
                *m = f32::NEG_INFINITY;
            }
        }
        let mask = Tensor::from_vec(mask, (2, 1, 4, 5), &dev).unwrap();
        let want = candle_nn::ops::softmax_last_dim(
            &(scores.clone() * 0.5)
                .unwrap()
                .broadcast_add(&mask)
                .unwrap(),
        )
        .unwrap();
        let got = scores.copy().unwrap();
        got.inplace_op2(&mask, &AdditiveMaskSoftmax { scale: 0.5 })
            .unwrap();
        let diff = (got - &want).unwrap().abs().unwrap().max_all().unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-6);
        let sums = want
            .sum(D::Minus1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5));

        let gate = Tensor::randn(0f32, 4.0, (3, 7000), &dev).unwrap();
        let up = Tensor::randn(0f32, 1.0, (3, 7000), &dev).unwrap();
        let want = (candle_nn::ops::silu(&gate).unwrap() * &up).unwrap();
        let got = gate.copy().unwrap();
        got.inplace_op2(&up, &SiluMul).unwrap();
        let diff = (got - &want).unwrap().abs().unwrap().max_all().unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-5);
    }

    #[test]
    fn gathered_log_softmax_matches_candle_and_checks_targets() {
        use candle_core::{Device, Tensor, D};
        let dev = Device::Cpu;
        // 1001 columns: a tail after the 8-lane chunks; large logits test the max shift.
        let logits = (Tensor::randn(0f32, 6.0, (5, 1001), &dev).unwrap() + 40.0).unwrap();
        let targets = [0u32, 1000, 7, 500, 999];
        let got = logits
            .apply_op1_no_bwd(&GatherLogSoftmax { targets: &targets })
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let want = candle_nn::ops::log_softmax(&logits, D::Minus1)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        for (r, &t) in targets.iter().enumerate() {
            let w = want[r][t as usize];
            assert!(
                (got[r] - w).abs() <= 1e-5 * w.abs().max(1.0),
                "row {r}: {} vs {w}",
                got[r]
            );
        }
        let empty = Tensor::zeros((0, 0), candle_core::DType::F32, &dev).unwrap();
        assert!(empty
            .apply_op1_no_bwd(&GatherLogSoftmax { targets: &[] })
            .is_err());
        for bad in [&[0u32, 1, 2, 3, 1001][..], &[0, 1]] {
            assert!(logits
                .apply_op1_no_bwd(&GatherLogSoftmax { targets: bad })
                .is_err());
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
