//! LoRA adapters: low-rank updates `ΔW = (α / r) · B · A` on chosen linear layers, with the
//! base weights frozen.

use std::collections::BTreeMap;

use candle_core::{DType, Device, Tensor, Var};
use navab_lm::DecoderConfig;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A linear layer of a decoder block that can carry an adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Target {
    /// Attention query projection (`q_proj`).
    Q,
    /// Attention key projection (`k_proj`).
    K,
    /// Attention value projection (`v_proj`).
    V,
    /// Attention output projection (`o_proj`).
    O,
    /// MLP gate projection (`gate_proj`).
    Gate,
    /// MLP up projection (`up_proj`).
    Up,
    /// MLP down projection (`down_proj`).
    Down,
}

impl Target {
    /// Every target, in block order.
    pub const ALL: [Target; 7] = [
        Target::Q,
        Target::K,
        Target::V,
        Target::O,
        Target::Gate,
        Target::Up,
        Target::Down,
    ];

    /// The four attention projections: the default targets.
    pub fn attention() -> Vec<Target> {
        vec![Target::Q, Target::K, Target::V, Target::O]
    }

    /// The module name as HF and PEFT write it (`q_proj`, ...).
    pub fn module_name(self) -> &'static str {
        match self {
            Target::Q => "q_proj",
            Target::K => "k_proj",
            Target::V => "v_proj",
            Target::O => "o_proj",
            Target::Gate => "gate_proj",
            Target::Up => "up_proj",
            Target::Down => "down_proj",
        }
    }

    /// The module's path inside block `layer`: `model.layers.{layer}.self_attn.q_proj`.
    pub fn path(self, layer: usize) -> String {
        let parent = match self {
            Target::Q | Target::K | Target::V | Target::O => "self_attn",
            _ => "mlp",
        };
        format!("model.layers.{layer}.{parent}.{}", self.module_name())
    }

    /// Parses a module name (`q_proj`) or a short name (`q`, `gate`).
    pub fn from_name(name: &str) -> Option<Target> {
        let name = name.trim().trim_end_matches("_proj");
        Target::ALL
            .into_iter()
            .find(|t| t.module_name().trim_end_matches("_proj") == name)
    }

    /// `(out, in)` features of this layer in a model of `config`.
    pub fn shape(self, config: &DecoderConfig) -> (usize, usize) {
        let q = config.num_heads * config.head_dim;
        let kv = config.num_kv_heads * config.head_dim;
        let (h, i) = (config.hidden_size, config.intermediate_size);
        match self {
            Target::Q => (q, h),
            Target::K | Target::V => (kv, h),
            Target::O => (h, q),
            Target::Gate | Target::Up => (i, h),
            Target::Down => (h, i),
        }
    }
}

/// LoRA hyperparameters. The defaults are PEFT's and LLaMA-Factory's (rank 8, α 16, no
/// dropout) on the attention projections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    /// Rank `r` of the update (default 8).
    pub rank: usize,
    /// Scaling numerator: the update is multiplied by `alpha / rank` (default 16).
    pub alpha: f64,
    /// Dropout on the adapter's input during training, in `[0, 1)` (default 0).
    pub dropout: f64,
    /// Layers that carry an adapter, in every block (default: q, k, v, o).
    pub targets: Vec<Target>,
    /// Seed of `A`'s initialisation and of the dropout masks (default 42).
    pub seed: u64,
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self {
            rank: 8,
            alpha: 16.0,
            dropout: 0.0,
            targets: Target::attention(),
            seed: 42,
        }
    }
}

impl LoraConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for a zero rank, a non-positive α, dropout outside `[0, 1)` or
    /// no targets.
    pub fn check(&self) -> Result<()> {
        let bad = |name, value: String, reason| {
            Err(Error::InvalidParam {
                name,
                value,
                reason,
            })
        };
        if self.rank == 0 {
            return bad("rank", "0".into(), "must be at least 1");
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return bad("alpha", format!("{}", self.alpha), "must be positive");
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad("dropout", format!("{}", self.dropout), "must be in [0, 1)");
        }
        if self.targets.is_empty() {
            return bad("targets", "[]".into(), "name at least one layer");
        }
        Ok(())
    }

    /// The factor `alpha / rank` applied to `B · A`.
    pub fn scale(&self) -> f64 {
        self.alpha / self.rank as f64
    }
}

/// One adapter: `A` is `[rank, in]`, `B` is `[out, rank]`, both trainable f32 variables.
#[derive(Debug, Clone)]
pub struct LoraPair {
    /// Down projection `[rank, in]`.
    pub a: Var,
    /// Up projection `[out, rank]`, zero at initialisation so training starts from the base.
    pub b: Var,
}

/// The adapters of a whole model: one [`LoraPair`] per block and target.
#[derive(Debug, Clone)]
pub struct LoraAdapters {
    config: LoraConfig,
    layers: Vec<BTreeMap<Target, LoraPair>>,
}

impl LoraAdapters {
    /// Fresh adapters for a model of `model`'s shape: `A` uniform in `±1/√in` (PEFT's Kaiming
    /// uniform with `a = √5`), `B = 0`, seeded by `config.seed`.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for bad settings.
    pub fn new(config: &LoraConfig, model: &DecoderConfig, device: &Device) -> Result<Self> {
        config.check()?;
        let mut rng = StdRng::seed_from_u64(config.seed);
        let mut layers = Vec::with_capacity(model.num_layers);
        for _ in 0..model.num_layers {
            let mut pairs = BTreeMap::new();
            for &target in &config.targets {
                let (out, inp) = target.shape(model);
                let bound = 1.0 / (inp as f32).sqrt();
                let a: Vec<f32> = (0..config.rank * inp)
                    .map(|_| rng.random_range(-bound..bound))
                    .collect();
                let a = Tensor::from_vec(a, (config.rank, inp), device)?;
                let b = Tensor::zeros((out, config.rank), DType::F32, device)?;
                pairs.insert(
                    target,
                    LoraPair {
                        a: Var::from_tensor(&a)?,
                        b: Var::from_tensor(&b)?,
                    },
                );
            }
            layers.push(pairs);
        }
        Ok(Self {
            config: config.clone(),
            layers,
        })
    }

    /// The settings.
    pub fn config(&self) -> &LoraConfig {
        &self.config
    }

    /// Number of blocks.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// The adapter on `target` of block `layer`, if there is one.
    pub fn get(&self, layer: usize, target: Target) -> Option<&LoraPair> {
        self.layers.get(layer)?.get(&target)
    }

    /// Every variable under a stable name (`model.layers.0.self_attn.q_proj.lora_A.weight`),
    /// in layer and target order: what the optimizer and checkpoints iterate over.
    pub fn named_vars(&self) -> Vec<(String, &Var)> {
        let mut out = Vec::new();
        for (layer, pairs) in self.layers.iter().enumerate() {
            for (target, pair) in pairs {
                let path = target.path(layer);
                out.push((format!("{path}.lora_A.weight"), &pair.a));
                out.push((format!("{path}.lora_B.weight"), &pair.b));
            }
        }
        out
    }

    /// Number of trainable parameters.
    pub fn num_parameters(&self) -> usize {
        self.named_vars()
            .iter()
            .map(|(_, v)| v.as_tensor().elem_count())
            .sum()
    }

    /// The dense update `(α / r) · B · A` `[out, in]` of one adapter, in f32.
    pub fn delta(&self, layer: usize, target: Target) -> Result<Option<Tensor>> {
        let Some(pair) = self.get(layer, target) else {
            return Ok(None);
        };
        let ba = pair.b.as_tensor().matmul(pair.a.as_tensor())?;
        Ok(Some((ba * self.config.scale())?))
    }

    /// Overwrites every variable with the tensor of the same name in `tensors` (shapes must
    /// match); names absent from `tensors` are an error, extra names are ignored.
    pub(crate) fn assign(
        &self,
        tensors: &std::collections::HashMap<String, Tensor>,
    ) -> std::result::Result<(), String> {
        for (name, var) in self.named_vars() {
            let t = tensors
                .get(&name)
                .ok_or_else(|| format!("tensor `{name}` is missing"))?;
            if t.dims() != var.as_tensor().dims() {
                return Err(format!(
                    "tensor `{name}` has shape {:?}, this model needs {:?}",
                    t.dims(),
                    var.as_tensor().dims()
                ));
            }
            let t = t
                .to_dtype(DType::F32)
                .and_then(|t| t.to_device(var.as_tensor().device()))
                .map_err(|e| e.to_string())?;
            var.set(&t).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}
