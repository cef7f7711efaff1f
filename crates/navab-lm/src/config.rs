//! Decoder hyperparameters, read from an HF `config.json` or a GGUF header.

use std::path::Path;

use candle_core::quantized::gguf_file;
use serde_json::Value;

use crate::{Error, Result};

/// The decoder families we implement. They share one code path (pre-norm, RoPE, grouped-query
/// attention, gated MLP) and differ in a few switches of [`DecoderConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Architecture {
    /// Llama 2/3 and relatives (SmolLM, TinyLlama).
    Llama,
    /// Mistral: llama with sliding-window attention ([`DecoderConfig::sliding_window`]).
    Mistral,
    /// Qwen2 and Qwen2.5: biases on the q/k/v projections.
    Qwen2,
    /// Qwen3: RMS norm on each head's queries and keys.
    Qwen3,
    /// Gemma 2: scaled embeddings, `1 + w` norms around attention and MLP, GELU, soft-capped
    /// attention scores and logits, sliding window on every other layer.
    Gemma2,
    /// Gemma 3 (text): as Gemma 2 without soft-capping, with query/key norms and a local RoPE
    /// base on its sliding-window layers.
    Gemma3,
    /// Phi-3: llama with fused q/k/v and gate/up projections and a sliding window.
    Phi3,
}

impl Architecture {
    const SUPPORTED: &'static str = "llama, mistral, qwen2, qwen3, gemma2, gemma3 (text), phi3";

    fn from_name(name: &str) -> Option<Self> {
        let name = name.to_ascii_lowercase();
        let name = name.trim_end_matches("forcausallm");
        match name {
            "llama" => Some(Self::Llama),
            "mistral" => Some(Self::Mistral),
            "qwen2" => Some(Self::Qwen2),
            "qwen3" => Some(Self::Qwen3),
            "gemma2" => Some(Self::Gemma2),
            "gemma3" | "gemma3_text" => Some(Self::Gemma3),
            "phi3" => Some(Self::Phi3),
            _ => None,
        }
    }

    /// Gemma 2 and 3: scaled embeddings, `1 + w` norms, the extra norms around the MLP.
    fn is_gemma(self) -> bool {
        matches!(self, Self::Gemma2 | Self::Gemma3)
    }
}

/// The activation of the gated MLP: `act(gate(x)) * up(x)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Activation {
    /// SiLU (SwiGLU): llama, mistral, qwen, phi3.
    Silu,
    /// GELU, tanh approximation (`gelu_pytorch_tanh`): Gemma.
    GeluTanh,
    /// GELU, exact (erf).
    Gelu,
}

impl Activation {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "silu" | "swish" => Some(Self::Silu),
            "gelu_pytorch_tanh" | "gelu_tanh" | "gelu_new" | "gelu_fast" => Some(Self::GeluTanh),
            "gelu" => Some(Self::Gelu),
            _ => None,
        }
    }
}

/// How rotary embeddings pair up the dimensions of a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeLayout {
    /// Dimension `i` pairs with `i + d/2` (HF `rotate_half`).
    Half,
    /// Dimension `2i` pairs with `2i + 1`. llama.cpp permutes the q/k rows of llama GGUF files
    /// so that this layout gives the same result as [`RopeLayout::Half`] on the original weights.
    Interleaved,
}

/// Llama-3.1-style frequency scaling of RoPE (`rope_scaling.rope_type = "llama3"`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Llama3RopeScaling {
    /// Overall scaling factor.
    pub factor: f32,
    /// Wavelengths above `original_max_position_embeddings / low_freq_factor` are scaled fully.
    pub low_freq_factor: f32,
    /// Wavelengths below `original_max_position_embeddings / high_freq_factor` are kept.
    pub high_freq_factor: f32,
    /// Context length of the model before scaling.
    pub original_max_position_embeddings: usize,
}

/// Everything the decoder needs to know about a model's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct DecoderConfig {
    /// Model family.
    pub architecture: Architecture,
    /// Rows of the embedding matrix (may exceed the tokenizer's vocabulary: padding).
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the MLP.
    pub intermediate_size: usize,
    /// Number of transformer blocks.
    pub num_layers: usize,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads (grouped-query attention when fewer than `num_heads`).
    pub num_kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// Epsilon of the RMS norms.
    pub rms_norm_eps: f64,
    /// RoPE base frequency.
    pub rope_theta: f32,
    /// Optional Llama-3 RoPE scaling.
    pub rope_scaling: Option<Llama3RopeScaling>,
    /// Per-frequency divisors stored by llama.cpp (`rope_freqs.weight`) instead of `rope_scaling`.
    pub rope_freq_factors: Option<Vec<f32>>,
    /// Pairing of head dimensions for RoPE.
    pub rope_layout: RopeLayout,
    /// Longest sequence the model was trained for.
    pub max_position_embeddings: usize,
    /// Whether the output projection reuses the embedding matrix.
    pub tie_word_embeddings: bool,
    /// Biases on the q/k/v projections (Qwen2).
    pub qkv_bias: bool,
    /// RMS norm on per-head queries and keys (Qwen3).
    pub qk_norm: bool,
    /// Sliding attention window: a query sees itself and the `window - 1` keys before it (as
    /// HF transformers masks). Applies to the layers [`DecoderConfig::sliding_layers`] names.
    pub sliding_window: Option<usize>,
    /// Which layers use the sliding window (Gemma alternates); `None`: every layer does.
    pub sliding_layers: Option<Vec<bool>>,
    /// Activation of the gated MLP.
    pub hidden_act: Activation,
    /// Factor applied to the token embeddings (Gemma: `sqrt(hidden_size)`).
    pub embedding_scale: Option<f32>,
    /// Added to every RMS-norm weight at load time. Gemma scales by `1 + w` in its HF weights;
    /// its GGUF files already store `1 + w`, so this is 1 for the one and 0 for the other.
    pub norm_weight_offset: f32,
    /// Gemma's extra norms: on the attention output and around the MLP.
    pub sandwich_norms: bool,
    /// Queries are scaled by `query_pre_attn_scalar^-1/2` instead of `head_dim^-1/2` (Gemma).
    pub query_pre_attn_scalar: Option<f64>,
    /// `cap * tanh(scores / cap)` on the attention scores (Gemma 2).
    pub attn_logit_softcap: Option<f32>,
    /// `cap * tanh(logits / cap)` on the output logits (Gemma 2).
    pub final_logit_softcap: Option<f32>,
    /// RoPE base of the sliding-window layers when it differs from `rope_theta` (Gemma 3).
    pub local_rope_theta: Option<f32>,
    /// Linear RoPE scaling (`rope_type = "linear"`): positions divided by this factor. With
    /// `local_rope_theta`, it applies to the full-attention layers only, as in Gemma 3.
    pub rope_linear_factor: Option<f32>,
}

impl DecoderConfig {
    /// Checks the numbers fit together.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let fail = |reason: String| {
            Err(Error::Config {
                path: path.to_path_buf(),
                reason,
            })
        };
        if self.vocab_size == 0 || self.hidden_size == 0 || self.num_layers == 0 {
            return fail("vocab_size, hidden_size and num_hidden_layers must be positive".into());
        }
        if self.num_heads == 0
            || self.num_kv_heads == 0
            || !self.num_heads.is_multiple_of(self.num_kv_heads)
        {
            return fail(format!(
                "num_attention_heads ({}) must be a positive multiple of num_key_value_heads ({})",
                self.num_heads, self.num_kv_heads
            ));
        }
        if self.head_dim == 0 || !self.head_dim.is_multiple_of(2) {
            return fail(format!(
                "head dimension {} must be positive and even",
                self.head_dim
            ));
        }
        if let Some(factors) = &self.rope_freq_factors {
            if factors.len() != self.head_dim / 2 {
                return fail(format!(
                    "rope_freqs has {} entries, expected head_dim/2 = {}",
                    factors.len(),
                    self.head_dim / 2
                ));
            }
        }
        Ok(())
    }

    /// Reads an HF `config.json`.
    pub fn from_hf_config(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(crate::error::io_error(path))?;
        let json: Value = serde_json::from_str(&text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Self::from_hf_json(&json, path)
    }

    /// Builds the config from the parsed JSON of an HF `config.json`.
    pub fn from_hf_json(json: &Value, path: &Path) -> Result<Self> {
        let config_error = |reason: String| Error::Config {
            path: path.to_path_buf(),
            reason,
        };
        let arch_name = json
            .get("model_type")
            .and_then(Value::as_str)
            .or_else(|| {
                json.get("architectures")
                    .and_then(|a| a.get(0))
                    .and_then(Value::as_str)
            })
            .ok_or_else(|| {
                config_error("neither `model_type` nor `architectures` is set".into())
            })?;
        let architecture =
            Architecture::from_name(arch_name).ok_or_else(|| Error::UnsupportedArchitecture {
                path: path.to_path_buf(),
                architecture: arch_name.to_string(),
                supported: Architecture::SUPPORTED,
            })?;
        if json.get("text_config").is_some() {
            return Err(config_error(format!(
                "a multimodal `{arch_name}` checkpoint: only text-only decoders load here \
                 (e.g. Gemma 3 270M/1B, model_type `gemma3_text`)"
            )));
        }
        let usize_field = |key: &str| -> Result<usize> {
            json.get(key)
                .and_then(Value::as_u64)
                .map(|v| v as usize)
                .ok_or_else(|| config_error(format!("missing or non-integer `{key}`")))
        };
        let hidden_size = usize_field("hidden_size")?;
        let num_heads = usize_field("num_attention_heads")?;
        let num_kv_heads = json
            .get("num_key_value_heads")
            .and_then(Value::as_u64)
            .map_or(num_heads, |v| v as usize);
        let head_dim = match json.get("head_dim").and_then(Value::as_u64) {
            Some(d) => d as usize,
            None if num_heads > 0 => hidden_size / num_heads,
            None => 0,
        };
        // transformers 5 writes RoPE settings under `rope_parameters` (per layer type for Gemma 3);
        // older configs have top-level `rope_theta` / `rope_scaling` / `rope_local_base_freq`.
        let rope_params = json.get("rope_parameters").filter(|v| v.is_object());
        let global_rope = rope_params.map(|r| r.get("full_attention").unwrap_or(r));
        let local_rope = rope_params.and_then(|r| r.get("sliding_attention"));
        let scaling = match json.get("rope_scaling") {
            None | Some(Value::Null) => global_rope,
            Some(s) => Some(s),
        };
        let (rope_scaling, rope_linear_factor) = read_rope_scaling(scaling, &config_error)?;
        let partial_rotary = json
            .get("partial_rotary_factor")
            .or_else(|| global_rope.and_then(|r| r.get("partial_rotary_factor")))
            .and_then(Value::as_f64)
            .unwrap_or(1.0);
        if partial_rotary != 1.0 {
            return Err(config_error(format!(
                "partial_rotary_factor {partial_rotary} is not supported (RoPE over whole heads only)"
            )));
        }
        let theta_of = |top: Option<&Value>, nested: Option<&Value>| {
            top.or_else(|| nested.and_then(|r| r.get("rope_theta")))
                .and_then(Value::as_f64)
        };
        let default_theta = match architecture {
            Architecture::Gemma3 => 1_000_000.0,
            _ => 10_000.0,
        };
        let rope_theta = theta_of(json.get("rope_theta"), global_rope).unwrap_or(default_theta);
        let local_rope_theta = match architecture {
            Architecture::Gemma3 => Some(
                theta_of(json.get("rope_local_base_freq"), local_rope).unwrap_or(10_000.0) as f32,
            ),
            _ => None,
        };
        let gemma = architecture.is_gemma();
        let act_name = json
            .get("hidden_activation")
            .filter(|_| gemma)
            .or_else(|| json.get("hidden_act"))
            .and_then(Value::as_str)
            .unwrap_or(if gemma { "gelu_pytorch_tanh" } else { "silu" });
        let hidden_act = Activation::from_name(act_name).ok_or_else(|| {
            config_error(format!(
                "activation `{act_name}` is not supported (supported: silu, gelu_pytorch_tanh, gelu)"
            ))
        })?;
        let f64_field = |key: &str| json.get(key).and_then(Value::as_f64);
        let num_layers = usize_field("num_hidden_layers")?;
        let bool_field =
            |key: &str, default: bool| json.get(key).and_then(Value::as_bool).unwrap_or(default);
        let config = Self {
            architecture,
            vocab_size: usize_field("vocab_size")?,
            hidden_size,
            intermediate_size: usize_field("intermediate_size")?,
            num_layers,
            num_heads,
            num_kv_heads,
            head_dim,
            rms_norm_eps: json
                .get("rms_norm_eps")
                .and_then(Value::as_f64)
                .unwrap_or(1e-6),
            rope_theta: rope_theta as f32,
            rope_scaling,
            rope_freq_factors: None,
            rope_layout: RopeLayout::Half,
            max_position_embeddings: json
                .get("max_position_embeddings")
                .and_then(Value::as_u64)
                .unwrap_or(4096) as usize,
            tie_word_embeddings: bool_field("tie_word_embeddings", gemma),
            qkv_bias: match architecture {
                Architecture::Qwen2 => true,
                _ => bool_field("attention_bias", false),
            },
            qk_norm: matches!(architecture, Architecture::Qwen3 | Architecture::Gemma3),
            sliding_window: match architecture {
                Architecture::Mistral
                | Architecture::Phi3
                | Architecture::Gemma2
                | Architecture::Gemma3 => json
                    .get("sliding_window")
                    .and_then(Value::as_u64)
                    .map(|v| v as usize),
                _ => None,
            },
            sliding_layers: match architecture {
                Architecture::Gemma2 | Architecture::Gemma3 => Some(hf_sliding_layers(
                    json,
                    architecture,
                    num_layers,
                    &config_error,
                )?),
                _ => None,
            },
            hidden_act,
            embedding_scale: gemma.then(|| (hidden_size as f32).sqrt()),
            norm_weight_offset: if gemma { 1.0 } else { 0.0 },
            sandwich_norms: gemma,
            query_pre_attn_scalar: f64_field("query_pre_attn_scalar").filter(|_| gemma),
            attn_logit_softcap: f64_field("attn_logit_softcapping")
                .filter(|_| gemma)
                .map(|v| v as f32),
            final_logit_softcap: f64_field("final_logit_softcapping")
                .filter(|_| gemma)
                .map(|v| v as f32),
            local_rope_theta,
            rope_linear_factor,
        };
        config.validate(path)?;
        Ok(config)
    }

    /// Reads the hyperparameters from a GGUF header (llama.cpp's key names).
    pub fn from_gguf(content: &gguf_file::Content, path: &Path) -> Result<Self> {
        let config_error = |reason: String| Error::Config {
            path: path.to_path_buf(),
            reason,
        };
        let arch_name = content
            .metadata
            .get("general.architecture")
            .and_then(|v| v.to_string().ok())
            .ok_or_else(|| config_error("missing `general.architecture`".into()))?
            .clone();
        let architecture =
            Architecture::from_name(&arch_name).ok_or_else(|| Error::UnsupportedArchitecture {
                path: path.to_path_buf(),
                architecture: arch_name.clone(),
                supported: Architecture::SUPPORTED,
            })?;
        let get = |key: &str| content.metadata.get(&format!("{arch_name}.{key}"));
        let usize_key = |key: &str| -> Result<usize> {
            get(key)
                .and_then(|v| v.to_u64().ok().or_else(|| v.to_u32().ok().map(u64::from)))
                .map(|v| v as usize)
                .ok_or_else(|| config_error(format!("missing `{arch_name}.{key}`")))
        };
        let f32_key = |key: &str| get(key).and_then(|v| v.to_f32().ok());
        let hidden_size = usize_key("embedding_length")?;
        let num_heads = usize_key("attention.head_count")?;
        let num_kv_heads = usize_key("attention.head_count_kv").unwrap_or(num_heads);
        let head_dim = usize_key("attention.key_length").unwrap_or(hidden_size / num_heads.max(1));
        let num_layers = usize_key("block_count")?;
        let gemma = architecture.is_gemma();
        if architecture == Architecture::Phi3 {
            let rotary = usize_key("rope.dimension_count").unwrap_or(head_dim);
            if rotary != head_dim
                || content
                    .tensor_infos
                    .contains_key("rope_factors_long.weight")
            {
                return Err(config_error(
                    "Phi-3 with partial rotary dimensions or LongRoPE factors (128k variants) \
                     is not supported"
                        .into(),
                ));
            }
        }
        let rope_linear_factor = match get("rope.scaling.type").and_then(|v| v.to_string().ok()) {
            Some(kind) if kind == "linear" => f32_key("rope.scaling.factor").filter(|&f| f != 1.0),
            Some(kind) if kind != "none" => {
                return Err(config_error(format!(
                    "rope scaling `{kind}` is not supported (supported: linear)"
                )))
            }
            _ => None,
        };
        let embedding_rows = content
            .tensor_infos
            .get("token_embd.weight")
            .map(|info| info.shape.dims()[0])
            .ok_or_else(|| Error::Weights {
                path: path.to_path_buf(),
                reason: "tensor `token_embd.weight` is missing".into(),
            })?;
        let config = Self {
            architecture,
            vocab_size: embedding_rows,
            hidden_size,
            intermediate_size: usize_key("feed_forward_length")?,
            num_layers,
            num_heads,
            num_kv_heads,
            head_dim,
            rms_norm_eps: f32_key("attention.layer_norm_rms_epsilon").unwrap_or(1e-6) as f64,
            rope_theta: f32_key("rope.freq_base").unwrap_or(10_000.0),
            rope_scaling: None,
            // Filled by the weight loader, which owns the tensor data.
            rope_freq_factors: None,
            // llama.cpp permutes q/k rows of llama-family models only; the others keep HF order.
            rope_layout: match architecture {
                Architecture::Llama | Architecture::Mistral => RopeLayout::Interleaved,
                _ => RopeLayout::Half,
            },
            max_position_embeddings: usize_key("context_length").unwrap_or(4096),
            tie_word_embeddings: !content.tensor_infos.contains_key("output.weight"),
            qkv_bias: content.tensor_infos.contains_key("blk.0.attn_q.bias"),
            qk_norm: content
                .tensor_infos
                .contains_key("blk.0.attn_q_norm.weight"),
            sliding_window: match architecture {
                Architecture::Phi3 | Architecture::Gemma2 | Architecture::Gemma3 => {
                    usize_key("attention.sliding_window").ok()
                }
                _ => None,
            },
            // Older llama.cpp files do not store the layer pattern: Gemma 2 alternates, Gemma 3
            // has one global layer in six.
            sliding_layers: match architecture {
                Architecture::Gemma2 | Architecture::Gemma3 => {
                    let default = if architecture == Architecture::Gemma2 {
                        2
                    } else {
                        6
                    };
                    let every = usize_key("attention.sliding_window_pattern").unwrap_or(default);
                    Some(layer_pattern(num_layers, every.max(1)))
                }
                _ => None,
            },
            hidden_act: if gemma {
                Activation::GeluTanh
            } else {
                Activation::Silu
            },
            embedding_scale: gemma.then(|| (hidden_size as f32).sqrt()),
            // llama.cpp's converter stores Gemma's norm weights as `1 + w` already.
            norm_weight_offset: 0.0,
            sandwich_norms: gemma,
            // llama.cpp scales by key_length^-1/2 (the one exception is Gemma 27B's
            // hidden/heads, which the file does not say).
            query_pre_attn_scalar: gemma.then_some(head_dim as f64),
            attn_logit_softcap: f32_key("attn_logit_softcapping").filter(|_| gemma),
            final_logit_softcap: f32_key("final_logit_softcapping").filter(|_| gemma),
            local_rope_theta: (architecture == Architecture::Gemma3).then_some(10_000.0),
            rope_linear_factor,
        };
        config.validate(path)?;
        Ok(config)
    }

    /// The factor queries are scaled by before the attention scores.
    pub fn attention_scale(&self) -> f64 {
        self.query_pre_attn_scalar
            .unwrap_or(self.head_dim as f64)
            .powf(-0.5)
    }

    /// The sliding window of layer `layer`, if it has one.
    pub fn layer_window(&self, layer: usize) -> Option<usize> {
        let sliding = self
            .sliding_layers
            .as_ref()
            .is_none_or(|layers| layers.get(layer).copied().unwrap_or(false));
        self.sliding_window.filter(|_| sliding)
    }

    /// Inverse frequencies of the sliding-window layers when they have their own RoPE base
    /// (Gemma 3), else `None`: every layer uses [`DecoderConfig::rope_inverse_frequencies`].
    pub fn local_rope_inverse_frequencies(&self) -> Option<Vec<f32>> {
        let theta = self.local_rope_theta?;
        let dim = self.head_dim;
        Some(
            (0..dim / 2)
                .map(|i| 1.0 / theta.powf((2 * i) as f32 / dim as f32))
                .collect(),
        )
    }

    /// Inverse frequencies of the rotary embedding, one per pair of head dimensions, computed in
    /// f32 as HF transformers does.
    pub fn rope_inverse_frequencies(&self) -> Vec<f32> {
        let dim = self.head_dim;
        let mut inv_freq: Vec<f32> = (0..dim / 2)
            .map(|i| 1.0 / self.rope_theta.powf((2 * i) as f32 / dim as f32))
            .collect();
        if let Some(s) = self.rope_scaling {
            let old_len = s.original_max_position_embeddings as f32;
            let low_freq_wavelen = old_len / s.low_freq_factor;
            let high_freq_wavelen = old_len / s.high_freq_factor;
            for f in inv_freq.iter_mut() {
                let wavelen = 2.0 * std::f32::consts::PI / *f;
                *f = if wavelen < high_freq_wavelen {
                    *f
                } else if wavelen > low_freq_wavelen {
                    *f / s.factor
                } else {
                    let smooth = (old_len / wavelen - s.low_freq_factor)
                        / (s.high_freq_factor - s.low_freq_factor);
                    (1.0 - smooth) * *f / s.factor + smooth * *f
                };
            }
        }
        if let Some(factors) = &self.rope_freq_factors {
            for (f, factor) in inv_freq.iter_mut().zip(factors) {
                *f /= *factor;
            }
        }
        if let Some(factor) = self.rope_linear_factor {
            for f in inv_freq.iter_mut() {
                *f /= factor;
            }
        }
        inv_freq
    }
}

/// Layer `i` slides unless `(i + 1)` is a multiple of `every` (HF's Gemma default patterns).
fn layer_pattern(num_layers: usize, every: usize) -> Vec<bool> {
    (0..num_layers).map(|i| (i + 1) % every != 0).collect()
}

/// Which layers of a Gemma config use the sliding window: `layer_types` (transformers 5), else
/// `sliding_window_pattern`, else the architecture's default pattern.
fn hf_sliding_layers(
    json: &Value,
    architecture: Architecture,
    num_layers: usize,
    config_error: &dyn Fn(String) -> Error,
) -> Result<Vec<bool>> {
    if let Some(types) = json.get("layer_types").and_then(Value::as_array) {
        if types.len() != num_layers {
            return Err(config_error(format!(
                "layer_types has {} entries for {num_layers} layers",
                types.len()
            )));
        }
        return types
            .iter()
            .map(|t| match t.as_str() {
                Some("sliding_attention") => Ok(true),
                Some("full_attention") => Ok(false),
                other => Err(config_error(format!(
                    "layer type {other:?} is not supported (sliding_attention, full_attention)"
                ))),
            })
            .collect();
    }
    let every = json
        .get("sliding_window_pattern")
        .or_else(|| json.get("_sliding_window_pattern"))
        .and_then(Value::as_u64)
        .map(|v| v as usize)
        .unwrap_or(if architecture == Architecture::Gemma2 {
            2
        } else {
            6
        });
    Ok(layer_pattern(num_layers, every.max(1)))
}

/// RoPE scaling from an HF `rope_scaling` (or transformers 5 `rope_parameters`) object: Llama 3
/// frequency scaling, or a linear factor.
fn read_rope_scaling(
    scaling: Option<&Value>,
    config_error: &dyn Fn(String) -> Error,
) -> Result<(Option<Llama3RopeScaling>, Option<f32>)> {
    let Some(scaling) = scaling.filter(|s| s.is_object()) else {
        return Ok((None, None));
    };
    let kind = scaling
        .get("rope_type")
        .or_else(|| scaling.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("default");
    let f = |key: &str| {
        scaling
            .get(key)
            .and_then(Value::as_f64)
            .ok_or_else(|| config_error(format!("rope_scaling.{key} missing")))
    };
    match kind {
        "llama3" => Ok((
            Some(Llama3RopeScaling {
                factor: f("factor")? as f32,
                low_freq_factor: f("low_freq_factor")? as f32,
                high_freq_factor: f("high_freq_factor")? as f32,
                original_max_position_embeddings: f("original_max_position_embeddings")? as usize,
            }),
            None,
        )),
        "linear" => Ok((None, Some(f("factor")? as f32))),
        "default" => Ok((None, None)),
        other => Err(config_error(format!(
            "rope_scaling type `{other}` is not supported (supported: llama3, linear)"
        ))),
    }
}
