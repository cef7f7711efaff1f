//! Differentiable building blocks of the training forward.
//!
//! candle's fast CPU ops (RMS norm, RoPE, softmax) have no backward pass, and its matrix
//! product computes the gradient of both operands, so a frozen weight would cost a full
//! weight-gradient product per layer. On the CPU in f32 each block below is a custom op whose
//! forward runs candle's fast op and whose backward is written out (the frozen weight gets
//! none); elsewhere, and when nothing needs a gradient, plain candle ops are used.

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape, Tensor, D};

/// Whether the fast CPU custom ops apply to `x`: f32 on the CPU and part of a graph that
/// needs gradients (without a graph, the plain fast ops are cheaper still).
fn custom_cpu(x: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == DType::F32 && x.track_op()
}

/// Runs `f` on a tensor viewing `storage` (copied into a fresh, untracked tensor) and returns
/// its result as storage: a custom op's forward in terms of candle's own fast ops.
fn via_tensor(
    storage: &CpuStorage,
    layout: &Layout,
    f: impl FnOnce(&Tensor) -> candle_core::Result<Tensor>,
) -> candle_core::Result<(CpuStorage, Shape)> {
    let data = storage.as_slice::<f32>()?;
    // Callers pass contiguous tensors (`.contiguous()` is free when they already are).
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("custom op input must be contiguous");
    };
    let x = Tensor::from_slice(&data[start..end], layout.shape(), &candle_core::Device::Cpu)?;
    let y = f(&x)?.contiguous()?;
    let shape = y.shape().clone();
    let values = y.flatten_all()?.to_vec1::<f32>()?;
    Ok((CpuStorage::F32(values), shape))
}

/// `x · Wᵀ` with `W` frozen: the backward gives `x` its gradient and `W` none.
struct FrozenLinear {
    weight: Tensor,
}

impl CustomOp1 for FrozenLinear {
    fn name(&self) -> &'static str {
        "frozen-linear"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        via_tensor(s, l, |x| x.matmul(&self.weight.t()?))
    }
    fn bwd(&self, _x: &Tensor, _y: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(grad.matmul(&self.weight)?))
    }
}

/// `x [rows, in] · Wᵀ + b` for a frozen `weight [out, in]` and optional frozen bias.
pub(crate) fn frozen_linear(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
) -> candle_core::Result<Tensor> {
    let y = if custom_cpu(x) {
        x.contiguous()?.apply_op1(FrozenLinear {
            weight: weight.clone(),
        })?
    } else {
        x.matmul(&weight.t()?)?
    };
    match bias {
        Some(b) => y.broadcast_add(&b.detach()),
        None => Ok(y),
    }
}

/// RMS norm over the last dimension with a frozen scale.
struct RmsNorm {
    weight: Tensor,
    eps: f32,
}

impl CustomOp1 for RmsNorm {
    fn name(&self) -> &'static str {
        "rms-norm-frozen-scale"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        via_tensor(s, l, |x| {
            candle_nn::ops::rms_norm(x, &self.weight, self.eps)
        })
    }
    fn bwd(&self, x: &Tensor, _y: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        // y = w·x/r with r = √(mean(x²) + ε):  ∂x = (w·g)/r − x · Σ(w·g·x) / (n·r³).
        let n = x.dim(D::Minus1)? as f64;
        let r = ((x.sqr()?.mean_keepdim(D::Minus1)? + self.eps as f64)?).sqrt()?;
        let wg = grad.broadcast_mul(&self.weight)?;
        let dot = (&wg * x)?.sum_keepdim(D::Minus1)?;
        let coef = (dot / ((r.powf(3.0)? * n)?))?;
        Ok(Some((wg.broadcast_div(&r)? - x.broadcast_mul(&coef)?)?))
    }
}

/// RMS norm of `x` over its last dimension, scaled by the frozen `weight`.
pub(crate) fn rms_norm(x: &Tensor, weight: &Tensor, eps: f32) -> candle_core::Result<Tensor> {
    if custom_cpu(x) {
        x.contiguous()?.apply_op1(RmsNorm {
            weight: weight.clone(),
            eps,
        })
    } else if x.track_op() || x.dtype() == DType::F64 {
        candle_nn::ops::rms_norm_slow(x, weight, eps)
    } else {
        candle_nn::ops::rms_norm(x, weight, eps)
    }
}

/// Rotary embedding of `[batch, heads, seq, head_dim]` with tables `[seq, head_dim/2]`.
struct Rope {
    cos: Tensor,
    sin: Tensor,
    interleaved: bool,
}

fn rope_fast(
    x: &Tensor,
    cos: &Tensor,
    sin: &Tensor,
    interleaved: bool,
) -> candle_core::Result<Tensor> {
    if interleaved {
        candle_nn::rotary_emb::rope_i(x, cos, sin)
    } else {
        candle_nn::rotary_emb::rope(x, cos, sin)
    }
}

impl CustomOp1 for Rope {
    fn name(&self) -> &'static str {
        "rope"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        via_tensor(s, l, |x| {
            rope_fast(x, &self.cos, &self.sin, self.interleaved)
        })
    }
    fn bwd(&self, _x: &Tensor, _y: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        // Each pair of dimensions is rotated by θ; the transpose rotates by −θ.
        let grad = grad.contiguous()?;
        Ok(Some(rope_fast(
            &grad,
            &self.cos,
            &self.sin.neg()?,
            self.interleaved,
        )?))
    }
}

/// Applies RoPE in the given pairing (interleaved: llama.cpp's permuted GGUF rows).
pub(crate) fn rope(
    x: &Tensor,
    cos: &Tensor,
    sin: &Tensor,
    interleaved: bool,
) -> candle_core::Result<Tensor> {
    if custom_cpu(x) {
        x.contiguous()?.apply_op1(Rope {
            cos: cos.clone(),
            sin: sin.clone(),
            interleaved,
        })
    } else if x.track_op() || x.dtype() == DType::F64 {
        if interleaved {
            candle_nn::rotary_emb::rope_i_slow(x, cos, sin)
        } else {
            candle_nn::rotary_emb::rope_slow(x, cos, sin)
        }
    } else {
        rope_fast(&x.contiguous()?, cos, sin, interleaved)
    }
}

/// `softmax(scores · scale + mask)` over the last dimension, the mask frozen.
struct MaskedSoftmax {
    mask: Tensor,
    scale: f64,
}

impl CustomOp1 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "masked-softmax"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        via_tensor(s, l, |x| {
            candle_nn::ops::softmax_last_dim(&(x * self.scale)?.broadcast_add(&self.mask)?)
        })
    }
    fn bwd(&self, _x: &Tensor, y: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let dot = (grad * y)?.sum_keepdim(D::Minus1)?;
        Ok(Some(((grad.broadcast_sub(&dot)? * y)? * self.scale)?))
    }
}

/// Attention probabilities from raw scores `[b, h, q, k]` and an additive mask `[b, 1, q, k]`.
pub(crate) fn masked_softmax(
    scores: &Tensor,
    mask: &Tensor,
    scale: f64,
) -> candle_core::Result<Tensor> {
    if custom_cpu(scores) {
        scores.contiguous()?.apply_op1(MaskedSoftmax {
            mask: mask.clone(),
            scale,
        })
    } else {
        let x = (scores * scale)?.broadcast_add(mask)?;
        if x.track_op() {
            candle_nn::ops::softmax(&x, D::Minus1)
        } else {
            candle_nn::ops::softmax_last_dim(&x)
        }
    }
}

/// Log-probability of one target per row of `logits [n, vocab]`.
struct TargetLogprob {
    /// `[n, 1]` u32.
    targets: Tensor,
}

impl CustomOp1 for TargetLogprob {
    fn name(&self) -> &'static str {
        "target-logprob"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        via_tensor(s, l, |logits| {
            candle_nn::ops::log_softmax(logits, D::Minus1)?
                .gather(&self.targets, 1)?
                .squeeze(1)
        })
    }
    fn bwd(
        &self,
        logits: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        // ∂ log p[t] / ∂ logits = onehot(t) − softmax(logits).
        let g = grad.unsqueeze(1)?;
        let p = candle_nn::ops::softmax_last_dim(logits)?;
        let out = p.broadcast_mul(&g)?.neg()?;
        Ok(Some(out.scatter_add(&self.targets, &g, 1)?))
    }
}

/// `log softmax(logits)[i, targets[i]]` for each row: `[n]`.
pub(crate) fn target_logprobs(logits: &Tensor, targets: &[u32]) -> candle_core::Result<Tensor> {
    let n = targets.len();
    let idx = Tensor::from_slice(targets, (n, 1), logits.device())?;
    if custom_cpu(logits) {
        logits
            .contiguous()?
            .apply_op1(TargetLogprob { targets: idx })
    } else {
        candle_nn::ops::log_softmax(logits, D::Minus1)?
            .gather(&idx, 1)?
            .squeeze(1)
    }
}
