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
//! With bf16 the matrix products of the linear layers run on bf16 weights packed once at load
//! (`navab_kernels::bf16`: AMX tiles, AVX512-BF16 or portable Rust, picked at run time);
//! activations, attention, norms and softmax stay f32.
//!
//! Used for f32 and bf16 on the CPU when the model uses absolute positions and exact GELU (all
//! sentence-transformers BERT and XLM-R checkpoints we know); otherwise, and on a GPU, the
//! embedder runs candle-transformers' models.

use candle_core::{Module, Tensor};
use candle_nn::{Embedding, Linear, VarBuilder};
use navab_kernels::bf16::Bf16Linear;
use navab_kernels::{AddLayerNorm, BiasGelu, MaskedSoftmax, SplitHeads};

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
            && self.hidden_size.is_multiple_of(self.num_attention_heads)
    }
}

/// A linear layer without bias (the biases go into the fused kernels): candle's f32 matrix
/// product, or the bf16 one on packed weights.
enum Projection {
    F32(Linear),
    Bf16(Bf16Linear),
}

impl Projection {
    fn new(l: Linear, bf16: bool) -> candle_core::Result<Self> {
        Ok(if bf16 {
            Projection::Bf16(Bf16Linear::new(l.weight())?)
        } else {
            Projection::F32(l)
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Projection::F32(l) => l.forward(x),
            Projection::Bf16(l) => l.forward(x),
        }
    }
}

struct LayerWeights {
    qkv: Projection,
    qkv_bias: Vec<f32>,
    attention_out: Projection,
    attention_norm: AddLayerNorm,
    intermediate: Projection,
    intermediate_gelu: BiasGelu,
    output: Projection,
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
    /// Loads from `vb` (f32) rooted where `embeddings.` and `encoder.` live. `xlm_pad` is
    /// XLM-R's padding id (`None` for BERT); `bf16` packs the linear layers' weights in bf16.
    pub(crate) fn load(
        vb: VarBuilder,
        c: &FastConfig,
        xlm_pad: Option<usize>,
        bf16: bool,
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
                qkv: Projection::new(qkv, bf16)?,
                qkv_bias,
                attention_norm,
                attention_out: Projection::new(attention_out, bf16)?,
                intermediate: Projection::new(intermediate, bf16)?,
                intermediate_gelu,
                output: Projection::new(output, bf16)?,
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
