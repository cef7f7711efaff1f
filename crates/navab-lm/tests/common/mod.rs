//! Shared helpers: where the fetched models live, and tiny seeded random models built around
//! real tokenizers (so tests exercise real tokenization without shipping weights).
#![allow(dead_code)]

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use navab_lm::TextTokenizer;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// `models/` of the workspace (or `$NAVAB_MODELS_DIR`), filled by `scripts/fetch-models.sh`.
pub fn models_dir() -> PathBuf {
    navab_core::testing::models_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
}

/// A fetched model file; fails the test with the command to run when it is absent.
pub fn model_file(relative: &str) -> PathBuf {
    let path = models_dir().join(relative);
    assert!(
        path.exists(),
        "{} is missing: run `scripts/fetch-models.sh` first",
        path.display()
    );
    path
}

pub fn smollm2_gguf() -> PathBuf {
    model_file("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
}

pub fn qwen_tokenizer_json() -> PathBuf {
    model_file("qwen3-tokenizer/tokenizer.json")
}

pub fn read_gguf(path: &Path) -> gguf_file::Content {
    let mut file = File::open(path).expect("open gguf");
    gguf_file::Content::read(&mut file).expect("read gguf header")
}

/// SmolLM2's tokenizer, rebuilt from its GGUF and saved as a `tokenizer.json`.
pub fn write_smollm2_tokenizer_json(dest: &Path) {
    let content = read_gguf(&smollm2_gguf());
    let tokenizer = TextTokenizer::from_gguf(&content).expect("rebuild tokenizer");
    tokenizer
        .inner()
        .save(dest, false)
        .expect("save tokenizer.json");
}

/// Shape of a tiny test model.
#[derive(Debug, Clone, Copy)]
pub struct TinySpec {
    pub architecture: &'static str,
    pub vocab_size: usize,
    pub hidden: usize,
    pub intermediate: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub rope_theta: f64,
    pub tie: bool,
    pub seed: u64,
}

impl TinySpec {
    pub fn llama(vocab_size: usize) -> Self {
        Self {
            architecture: "llama",
            vocab_size,
            hidden: 32,
            intermediate: 64,
            layers: 2,
            heads: 4,
            kv_heads: 2,
            rope_theta: 10_000.0,
            tie: true,
            seed: 7,
        }
    }

    pub fn qwen2(vocab_size: usize) -> Self {
        Self {
            architecture: "qwen2",
            rope_theta: 1_000_000.0,
            seed: 11,
            ..Self::llama(vocab_size)
        }
    }

    pub fn head_dim(&self) -> usize {
        self.hidden / self.heads
    }
}

fn random(rng: &mut StdRng, shape: &[usize], scale: f32) -> Tensor {
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n)
        .map(|_| (rng.random::<f32>() * 2.0 - 1.0) * scale)
        .collect();
    Tensor::from_vec(data, shape, &Device::Cpu).expect("tensor")
}

/// Seeded random weights under HF names.
pub fn tiny_weights(spec: &TinySpec) -> Vec<(String, Tensor)> {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let h = spec.hidden;
    let hd = spec.head_dim();
    let mut w = vec![(
        "model.embed_tokens.weight".to_string(),
        random(&mut rng, &[spec.vocab_size, h], 0.5),
    )];
    for i in 0..spec.layers {
        let p = format!("model.layers.{i}");
        let norm = |rng: &mut StdRng| {
            let data: Vec<f32> = (0..h)
                .map(|_| 1.0 + (rng.random::<f32>() - 0.5) * 0.2)
                .collect();
            Tensor::from_vec(data, h, &Device::Cpu).expect("norm")
        };
        w.push((format!("{p}.input_layernorm.weight"), norm(&mut rng)));
        w.push((
            format!("{p}.self_attn.q_proj.weight"),
            random(&mut rng, &[spec.heads * hd, h], 0.3),
        ));
        w.push((
            format!("{p}.self_attn.k_proj.weight"),
            random(&mut rng, &[spec.kv_heads * hd, h], 0.3),
        ));
        w.push((
            format!("{p}.self_attn.v_proj.weight"),
            random(&mut rng, &[spec.kv_heads * hd, h], 0.3),
        ));
        if spec.architecture == "qwen2" {
            w.push((
                format!("{p}.self_attn.q_proj.bias"),
                random(&mut rng, &[spec.heads * hd], 0.1),
            ));
            w.push((
                format!("{p}.self_attn.k_proj.bias"),
                random(&mut rng, &[spec.kv_heads * hd], 0.1),
            ));
            w.push((
                format!("{p}.self_attn.v_proj.bias"),
                random(&mut rng, &[spec.kv_heads * hd], 0.1),
            ));
        }
        w.push((
            format!("{p}.self_attn.o_proj.weight"),
            random(&mut rng, &[h, spec.heads * hd], 0.3),
        ));
        w.push((
            format!("{p}.post_attention_layernorm.weight"),
            norm(&mut rng),
        ));
        w.push((
            format!("{p}.mlp.gate_proj.weight"),
            random(&mut rng, &[spec.intermediate, h], 0.3),
        ));
        w.push((
            format!("{p}.mlp.up_proj.weight"),
            random(&mut rng, &[spec.intermediate, h], 0.3),
        ));
        w.push((
            format!("{p}.mlp.down_proj.weight"),
            random(&mut rng, &[h, spec.intermediate], 0.3),
        ));
    }
    let data: Vec<f32> = (0..h)
        .map(|_| 1.0 + (rng.random::<f32>() - 0.5) * 0.2)
        .collect();
    w.push((
        "model.norm.weight".into(),
        Tensor::from_vec(data, h, &Device::Cpu).expect("norm"),
    ));
    if !spec.tie {
        w.push((
            "lm_head.weight".into(),
            random(&mut rng, &[spec.vocab_size, h], 0.5),
        ));
    }
    w
}

/// Writes an HF-layout model directory: `config.json`, `model.safetensors`, `tokenizer.json`.
pub fn write_tiny_model(dir: &Path, spec: &TinySpec, tokenizer_json: &Path) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let config = serde_json::json!({
        "architectures": [if spec.architecture == "qwen2" { "Qwen2ForCausalLM" } else { "LlamaForCausalLM" }],
        "model_type": spec.architecture,
        "vocab_size": spec.vocab_size,
        "hidden_size": spec.hidden,
        "intermediate_size": spec.intermediate,
        "num_hidden_layers": spec.layers,
        "num_attention_heads": spec.heads,
        "num_key_value_heads": spec.kv_heads,
        "rms_norm_eps": 1e-6,
        "rope_theta": spec.rope_theta,
        "max_position_embeddings": 2048,
        "tie_word_embeddings": spec.tie,
        "hidden_act": "silu",
        "torch_dtype": "float32",
    });
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(&config).unwrap(),
    )
    .expect("write config");
    let tensors: HashMap<String, Tensor> = tiny_weights(spec).into_iter().collect();
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).expect("save weights");
    std::fs::copy(tokenizer_json, dir.join("tokenizer.json")).expect("copy tokenizer");
}

/// llama.cpp's q/k row permutation for llama GGUF files (see `convert_hf_to_gguf.py`).
fn permute_for_gguf(w: &Tensor, heads: usize) -> Tensor {
    let (out, inp) = w.dims2().expect("2d");
    w.reshape((heads, 2, out / heads / 2, inp))
        .and_then(|t| t.transpose(1, 2))
        .and_then(|t| t.contiguous())
        .and_then(|t| t.reshape((out, inp)))
        .expect("permute")
}

/// Writes the tiny llama as a GGUF file the way llama.cpp's converter would (names, permuted
/// q/k rows, hyperparameters), with `dtype` matrices and the tokenizer metadata of `tokenizer_from`.
pub fn write_tiny_llama_gguf(
    path: &Path,
    spec: &TinySpec,
    dtype: GgmlDType,
    tokenizer_from: &gguf_file::Content,
) {
    use gguf_file::Value;
    assert_eq!(spec.architecture, "llama");
    let mut tensors: Vec<(String, QTensor)> = Vec::new();
    for (name, t) in tiny_weights(spec) {
        let t = if name.ends_with("q_proj.weight") {
            permute_for_gguf(&t, spec.heads)
        } else if name.ends_with("k_proj.weight") {
            permute_for_gguf(&t, spec.kv_heads)
        } else {
            t
        };
        let gg = match name.as_str() {
            "model.embed_tokens.weight" => "token_embd.weight".to_string(),
            "model.norm.weight" => "output_norm.weight".to_string(),
            "lm_head.weight" => "output.weight".to_string(),
            other => {
                let rest = other.strip_prefix("model.layers.").expect("layer tensor");
                let (layer, part) = rest.split_once('.').expect("layer.part");
                let part = part
                    .replace("input_layernorm", "attn_norm")
                    .replace("post_attention_layernorm", "ffn_norm")
                    .replace("self_attn.q_proj", "attn_q")
                    .replace("self_attn.k_proj", "attn_k")
                    .replace("self_attn.v_proj", "attn_v")
                    .replace("self_attn.o_proj", "attn_output")
                    .replace("mlp.gate_proj", "ffn_gate")
                    .replace("mlp.up_proj", "ffn_up")
                    .replace("mlp.down_proj", "ffn_down");
                format!("blk.{layer}.{part}")
            }
        };
        let q = if t.rank() == 2 {
            QTensor::quantize(&t, dtype).expect("quantize")
        } else {
            QTensor::quantize(&t, GgmlDType::F32).expect("f32")
        };
        tensors.push((gg, q));
    }
    let mut metadata: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String("llama".into())),
        (
            "llama.embedding_length".into(),
            Value::U32(spec.hidden as u32),
        ),
        (
            "llama.feed_forward_length".into(),
            Value::U32(spec.intermediate as u32),
        ),
        ("llama.block_count".into(), Value::U32(spec.layers as u32)),
        (
            "llama.attention.head_count".into(),
            Value::U32(spec.heads as u32),
        ),
        (
            "llama.attention.head_count_kv".into(),
            Value::U32(spec.kv_heads as u32),
        ),
        (
            "llama.rope.freq_base".into(),
            Value::F32(spec.rope_theta as f32),
        ),
        (
            "llama.attention.layer_norm_rms_epsilon".into(),
            Value::F32(1e-6),
        ),
        ("llama.context_length".into(), Value::U32(2048)),
    ];
    for (k, v) in &tokenizer_from.metadata {
        if k.starts_with("tokenizer.") {
            metadata.push((k.clone(), v.clone()));
        }
    }
    metadata.sort_by(|a, b| a.0.cmp(&b.0));
    let md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let ts: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut file = File::create(path).expect("create gguf");
    gguf_file::write(&mut file, &md, &ts).expect("write gguf");
}

/// Max absolute difference between two ragged arrays of the same shape.
pub fn max_abs_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            assert_eq!(x.len(), y.len());
            x.iter().zip(y).map(|(p, q)| (p - q).abs())
        })
        .fold(0.0, f32::max)
}
