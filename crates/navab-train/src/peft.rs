//! Adapters in PEFT's folder layout (`adapter_config.json` + `adapter_model.safetensors`, tensor
//! names `base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight`), and merging
//! adapters into the base model.
//!
//! llama GGUF files keep llama.cpp's permuted q/k rows; adapters trained on them have
//! permuted rows in `B` of `q_proj` and `k_proj`. They are un-permuted on save and permuted
//! back on load, so a saved folder is valid for the HF model whatever we trained on.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use navab_lm::{DecoderConfig, LanguageModel, RopeLayout};
use serde_json::{json, Value};

use crate::error::{io_error, json_error};
use crate::lora::{LoraAdapters, LoraConfig, Target};
use crate::model::TrainableModel;
use crate::{Error, Result};

/// PEFT's prefix of every adapter tensor of a causal LM.
const PEFT_PREFIX: &str = "base_model.model.";
/// File names of a PEFT adapter folder.
pub const ADAPTER_CONFIG: &str = "adapter_config.json";
/// The adapter weights in a PEFT folder.
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";

/// Heads whose rows llama.cpp permuted in `target`'s output, if any.
fn permuted_heads(config: &DecoderConfig, target: Target) -> Option<usize> {
    if config.rope_layout != RopeLayout::Interleaved {
        return None;
    }
    match target {
        Target::Q => Some(config.num_heads),
        Target::K => Some(config.num_kv_heads),
        _ => None,
    }
}

/// llama.cpp's permutation of rows `[heads · d, n]` (HF → GGUF), or its inverse.
fn permute_rows(t: &Tensor, heads: usize, inverse: bool) -> candle_core::Result<Tensor> {
    let (rows, cols) = t.dims2()?;
    let half = rows / heads / 2;
    let (a, b) = if inverse { (half, 2) } else { (2, half) };
    t.reshape((heads, a, b, cols))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((rows, cols))
}

/// `(layer, target, is_b)` of an internal adapter name.
fn parse_name(name: &str) -> Option<(usize, Target, bool)> {
    let rest = name.strip_prefix("model.layers.")?;
    let (layer, rest) = rest.split_once('.')?;
    let (module, part) = rest.split_once(".lora_")?;
    let target = Target::from_name(module.rsplit('.').next()?)?;
    Some((layer.parse().ok()?, target, part.starts_with('B')))
}

/// Writes `adapters` as a PEFT LoRA folder into `dir` (created if needed; files replaced
/// atomically). `base_model` goes into `base_model_name_or_path`.
///
/// # Errors
/// [`Error::Io`] if a file cannot be written.
pub fn save_peft(
    adapters: &LoraAdapters,
    model: &DecoderConfig,
    dir: impl AsRef<Path>,
    base_model: &str,
) -> Result<()> {
    let dir = dir.as_ref();
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let mut tensors = HashMap::new();
    for (name, var) in adapters.named_vars() {
        let mut t = var
            .as_tensor()
            .to_dtype(DType::F32)?
            .to_device(&Device::Cpu)?;
        if let Some((_, target, true)) = parse_name(&name) {
            if let Some(heads) = permuted_heads(model, target) {
                t = permute_rows(&t, heads, true)?;
            }
        }
        tensors.insert(format!("{PEFT_PREFIX}{name}"), t);
    }
    let weights = dir.join(ADAPTER_WEIGHTS);
    let tmp = dir.join(format!(".{ADAPTER_WEIGHTS}.tmp"));
    candle_core::safetensors::save(&tensors, &tmp)?;
    std::fs::rename(&tmp, &weights).map_err(io_error(&weights))?;
    let c = adapters.config();
    let modules: Vec<&str> = c.targets.iter().map(|t| t.module_name()).collect();
    let config = json!({
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_model,
        "r": c.rank,
        "lora_alpha": c.alpha,
        "lora_dropout": c.dropout,
        "target_modules": modules,
        "bias": "none",
        "fan_in_fan_out": false,
        "inference_mode": true,
        "init_lora_weights": true,
        "use_rslora": false,
        "use_dora": false,
        "modules_to_save": null,
        "layers_to_transform": null,
        "rank_pattern": {},
        "alpha_pattern": {},
    });
    let path = dir.join(ADAPTER_CONFIG);
    let mut text = serde_json::to_string_pretty(&config).map_err(json_error(&path))?;
    text.push('\n');
    navab_core::replace_file(&path, text.as_bytes()).map_err(io_error(&path))?;
    Ok(())
}

/// Reads the LoRA settings of a PEFT folder.
fn read_config(dir: &Path) -> Result<LoraConfig> {
    let path = dir.join(ADAPTER_CONFIG);
    let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
    let json: Value = serde_json::from_str(&text).map_err(json_error(&path))?;
    let fail = |reason: String| Error::Adapter {
        path: path.clone(),
        reason,
    };
    if json.get("peft_type").and_then(Value::as_str) != Some("LORA") {
        return Err(fail("`peft_type` is not \"LORA\"".into()));
    }
    for flag in ["use_dora", "use_rslora"] {
        if json.get(flag).and_then(Value::as_bool) == Some(true) {
            return Err(fail(format!("`{flag}` adapters are not supported")));
        }
    }
    let rank = json
        .get("r")
        .and_then(Value::as_u64)
        .ok_or_else(|| fail("no integer `r`".into()))? as usize;
    let alpha = json
        .get("lora_alpha")
        .and_then(Value::as_f64)
        .ok_or_else(|| fail("no number `lora_alpha`".into()))?;
    let dropout = json
        .get("lora_dropout")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let names: Vec<String> = match json.get("target_modules") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => return Err(fail("no `target_modules` list".into())),
    };
    let mut targets = Vec::new();
    for name in &names {
        let target = Target::from_name(name).ok_or_else(|| {
            fail(format!(
                "target module `{name}` is not a decoder projection"
            ))
        })?;
        targets.push(target);
    }
    targets.sort();
    targets.dedup();
    let config = LoraConfig {
        rank,
        alpha,
        dropout,
        targets,
        ..LoraConfig::default()
    };
    config.check().map_err(|e| fail(e.to_string()))?;
    Ok(config)
}

/// Loads a PEFT LoRA folder (ours or PEFT's) for `model`.
///
/// # Errors
/// [`Error::Adapter`] if the folder is not a LoRA adapter for a model of this shape.
pub fn load_peft(model: &TrainableModel, dir: impl AsRef<Path>) -> Result<LoraAdapters> {
    let dir = dir.as_ref();
    let config = read_config(dir)?;
    let adapters = LoraAdapters::new(&config, model.config(), model.device())?;
    let path = dir.join(ADAPTER_WEIGHTS);
    let raw = candle_core::safetensors::load(&path, &Device::Cpu).map_err(|e| Error::Adapter {
        path: path.clone(),
        reason: format!("not a readable safetensors file: {e}"),
    })?;
    let mut tensors = HashMap::new();
    for (name, t) in raw {
        let name = name.strip_prefix(PEFT_PREFIX).unwrap_or(&name).to_string();
        // PEFT names the adapter `default`: `...q_proj.lora_A.default.weight` in memory.
        let name = name.replace(".default.weight", ".weight");
        let t = match parse_name(&name) {
            Some((_, target, true)) => match permuted_heads(model.config(), target) {
                Some(heads) => permute_rows(&t, heads, false)?,
                None => t,
            },
            _ => t,
        };
        tensors.insert(name, t);
    }
    adapters
        .assign(&tensors)
        .map_err(|reason| Error::Adapter { path, reason })?;
    Ok(adapters)
}

/// The merged linear weights `W + (α/r)·B·A` of every adapted layer, by HF weight name.
pub fn merged_weights(
    model: &TrainableModel,
    adapters: &LoraAdapters,
) -> Result<HashMap<String, Tensor>> {
    let mut out = HashMap::new();
    for layer in 0..adapters.num_layers() {
        for &target in &adapters.config().targets {
            let (Some(delta), Some(base)) = (
                adapters.delta(layer, target)?,
                model.base_weight(layer, target),
            ) else {
                continue;
            };
            let merged = (base.to_dtype(DType::F32)? + delta)?.to_dtype(base.dtype())?;
            out.insert(format!("{}.weight", target.path(layer)), merged);
        }
    }
    Ok(out)
}

/// `base` with `adapters` merged into its weights: an ordinary [`LanguageModel`] that every
/// scorer and evaluation runs unchanged. Unadapted weights are shared with `base`.
///
/// # Errors
/// [`Error::Model`] if the adapters do not fit the model.
pub fn merge_into(
    base: &LanguageModel,
    model: &TrainableModel,
    adapters: &LoraAdapters,
    name: impl Into<String>,
) -> Result<LanguageModel> {
    let weights = merged_weights(model, adapters)?;
    let decoder = base.decoder().with_linear_weights(&weights)?;
    Ok(base.with_decoder(decoder, name)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_round_trips_and_matches_llama_cpp() {
        // One head of dim 8: llama.cpp's `reshape(n_head, 2, d/2, n).swapaxes(1, 2)` interleaves
        // the two halves, HF rows [0 1 2 3 | 4 5 6 7] -> GGUF rows [0 4 1 5 2 6 3 7].
        let hf = Tensor::arange(0f32, 8.0, &Device::Cpu)
            .unwrap()
            .reshape((8, 1))
            .unwrap();
        let gguf = permute_rows(&hf, 1, false).unwrap();
        let rows: Vec<f32> = gguf.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(rows, vec![0., 4., 1., 5., 2., 6., 3., 7.]);
        let back = permute_rows(&gguf, 1, true).unwrap();
        assert_eq!(
            back.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            (0..8).map(|i| i as f32).collect::<Vec<_>>()
        );
    }

    #[test]
    fn adapter_names_parse() {
        assert_eq!(
            parse_name("model.layers.12.self_attn.k_proj.lora_B.weight"),
            Some((12, Target::K, true))
        );
        assert_eq!(
            parse_name("model.layers.0.mlp.down_proj.lora_A.weight"),
            Some((0, Target::Down, false))
        );
    }
}
