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

    /// cos/sin tables `[rows, head_dim/2]` for the given position of each row.
    fn rope_tables(&self, positions: &[usize]) -> candle_core::Result<(Tensor, Tensor)> {
        let half = self.inv_freq.len();
        let mut cos = Vec::with_capacity(positions.len() * half);
        let mut sin = Vec::with_capacity(positions.len() * half);
        for &pos in positions {
            for f in &self.inv_freq {
                // f32 product, as HF computes `position_ids.float() @ inv_freq`.
                let angle = pos as f32 * f;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        let n = positions.len();
        let cos = Tensor::from_vec(cos, (n, half), &self.device)?.to_dtype(self.dtype)?;
        let sin = Tensor::from_vec(sin, (n, half), &self.device)?.to_dtype(self.dtype)?;
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

    /// Runs `groups` packed into one set of rows, without padding: each group's prompt once,
    /// then each of its completions continuing it (positions from the prompt's end; a
    /// completion attends to the prompt and to itself, causally). Returns the final normalised
    /// hidden states `[rows, hidden]` and the layout. `rng` drives the adapters' dropout.
    fn forward_groups(
        &self,
        groups: &[Group<'_>],
        adapters: Option<AdapterUse<'_>>,
        mut rng: Option<&mut StdRng>,
    ) -> Result<(Tensor, Vec<GroupRows>)> {
        let c = &self.config;
        let (ids, positions, layout) = pack(groups)?;
        let rows = ids.len();
        let (cos, sin) = self.rope_tables(&positions)?;
        let work = self.work_dtype();
        let masks = layout
            .iter()
            .map(|g| {
                let t = g.rows;
                Tensor::from_vec(g.mask(), (1, 1, t, t), &self.device)?.to_dtype(work)
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        let interleaved = c.rope_layout == RopeLayout::Interleaved;
        let eps = c.rms_norm_eps as f32;
        let scale = 1.0 / (c.head_dim as f64).sqrt();
        let group = c.num_heads / c.num_kv_heads;
        let ids = Tensor::from_vec(ids, rows, &self.device)?;
        let mut x = self.embed.index_select(&ids, 0)?;
        // [rows, heads · d] → [1, heads, rows, d]
        let heads = |t: Tensor, n: usize| -> candle_core::Result<Tensor> {
            t.reshape((rows, n, c.head_dim))?
                .transpose(0, 1)?
                .contiguous()?
                .unsqueeze(0)
        };
        for (i, layer) in self.layers.iter().enumerate() {
            let h = ops::rms_norm(&x, &layer.input_norm, eps)?;
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
            // Attention within each group: its rows see only its own keys.
            let mut outs = Vec::with_capacity(layout.len());
            for (g, mask) in layout.iter().zip(&masks) {
                let part = |t: &Tensor| t.narrow(2, g.start, g.rows)?.contiguous();
                let scores = part(&q)?.matmul(&part(&k)?.t()?)?.to_dtype(work)?;
                let probs = ops::masked_softmax(&scores, mask, scale)?;
                outs.push(probs.to_dtype(v.dtype())?.matmul(&part(&v)?)?);
            }
            let attn = Tensor::cat(&outs, 2)?
                .squeeze(0)?
                .transpose(0, 1)?
                .reshape((rows, c.num_heads * c.head_dim))?;
            x = (x + self.linear(i, Target::O, &attn, adapters, &mut rng)?)?;
            let h = ops::rms_norm(&x, &layer.post_norm, eps)?;
            let gate = self.linear(i, Target::Gate, &h, adapters, &mut rng)?;
            let up = self.linear(i, Target::Up, &h, adapters, &mut rng)?;
            let gated = (gate.silu()? * up)?;
            x = (x + self.linear(i, Target::Down, &gated, adapters, &mut rng)?)?;
        }
        Ok((ops::rms_norm(&x, &self.final_norm, eps)?, layout))
    }

    /// Summed log-probabilities of every completion of every group, `[completions]` in group
    /// then completion order (a graph when adapters are trainable variables), and the number
    /// of tokens of each.
    pub(crate) fn completion_logprobs(
        &self,
        groups: &[Group<'_>],
        adapters: Option<AdapterUse<'_>>,
        rng: Option<&mut StdRng>,
    ) -> Result<(Tensor, Vec<usize>)> {
        let (hidden, layout) = self.forward_groups(groups, adapters, rng)?;
        let mut rows = Vec::new();
        let mut targets = Vec::new();
        let mut owner = Vec::new();
        let mut counts = Vec::new();
        for (g, rows_of) in groups.iter().zip(&layout) {
            for (k, completion) in g.completions.iter().enumerate() {
                let start = rows_of.completion_start(k);
                let n = counts.len() as u32;
                // Token j is predicted from the row before it: the prompt's last row first.
                let from = std::iter::once(rows_of.start + g.prompt.len() - 1)
                    .chain((0..completion.len() - 1).map(|j| start + j));
                for (row, &t) in from.zip(completion.iter()) {
                    rows.push(row as u32);
                    targets.push(t);
                    owner.push(n);
                }
                counts.push(completion.len());
            }
        }
        let n = rows.len();
        let picked = hidden.index_select(&Tensor::from_vec(rows, n, &self.device)?, 0)?;
        let work = self.work_dtype();
        let logits = ops::frozen_linear(&picked, &self.lm_head, None)?.to_dtype(work)?;
        let per_token = ops::target_logprobs(&logits, &targets)?;
        let owner = Tensor::from_vec(owner, n, &self.device)?;
        let sums =
            Tensor::zeros(counts.len(), work, &self.device)?.index_add(&owner, &per_token, 0)?;
        Ok((sums, counts))
    }

    /// Summed completion log-probabilities of each pair, `[2n]`: chosen then rejected per
    /// pair, in f32 (f64 for an f64 model). With adapters (no dropout) the result is part of
    /// a graph, so `backward()` gives their gradients; without, it is the base model's.
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

/// A prompt and the completions that continue it.
#[derive(Debug, Clone)]
pub(crate) struct Group<'a> {
    pub(crate) prompt: &'a [u32],
    pub(crate) completions: Vec<&'a [u32]>,
}

/// Where a group's rows sit in the packed batch.
#[derive(Debug, Clone)]
pub(crate) struct GroupRows {
    start: usize,
    rows: usize,
    prompt: usize,
    completions: Vec<usize>,
}

impl GroupRows {
    /// First row of completion `k`.
    fn completion_start(&self, k: usize) -> usize {
        self.start + self.prompt + self.completions[..k].iter().sum::<usize>()
    }

    /// Additive mask `[rows × rows]`: prompt rows see earlier prompt rows; a completion's rows
    /// see the whole prompt and their own earlier rows; −∞ elsewhere.
    fn mask(&self) -> Vec<f32> {
        let t = self.rows;
        // Segment of each row: 0 = prompt, k + 1 = completion k.
        let mut segment = vec![0usize; self.prompt];
        for (k, &len) in self.completions.iter().enumerate() {
            segment.extend(std::iter::repeat_n(k + 1, len));
        }
        let mut mask = vec![f32::NEG_INFINITY; t * t];
        for i in 0..t {
            for j in 0..=i {
                if segment[j] == 0 || segment[j] == segment[i] {
                    mask[i * t + j] = 0.0;
                }
            }
        }
        mask
    }
}

/// Token ids, RoPE positions and layout of `groups` packed into one set of rows.
fn pack(groups: &[Group<'_>]) -> Result<(Vec<u32>, Vec<usize>, Vec<GroupRows>)> {
    let mut ids = Vec::new();
    let mut positions = Vec::new();
    let mut layout = Vec::with_capacity(groups.len());
    for g in groups {
        if g.prompt.is_empty() || g.completions.iter().any(|c| c.is_empty()) {
            return Err(Error::InvalidInput(
                "every prompt and every completion needs at least one token".into(),
            ));
        }
        let start = ids.len();
        ids.extend_from_slice(g.prompt);
        positions.extend(0..g.prompt.len());
        for c in &g.completions {
            ids.extend_from_slice(c);
            positions.extend(g.prompt.len()..g.prompt.len() + c.len());
        }
        layout.push(GroupRows {
            start,
            rows: ids.len() - start,
            prompt: g.prompt.len(),
            completions: g.completions.iter().map(|c| c.len()).collect(),
        });
    }
    if ids.is_empty() {
        return Err(Error::InvalidInput("nothing to run".into()));
    }
    Ok((ids, positions, layout))
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
