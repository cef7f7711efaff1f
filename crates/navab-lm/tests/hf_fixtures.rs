//! Tiny random models of each architecture written by HF transformers, with transformers' own
//! log-probabilities beside them (`tests/fixtures/hf/*/reference.json`, made by
//! `scripts/reference/make_hf_fixtures.py`, f32, eager attention). Our decoder must agree within
//! 1e-3 from the HF directory and from the GGUF file llama.cpp's converter would write, batched
//! or not, with or without a shared prefix; every fixture sequence is longer than its sliding
//! window.

use std::fs::File;
use std::path::{Path, PathBuf};

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use navab_lm::{Architecture, Error, LanguageModel, LoadOptions, SharedPrefix};
use serde_json::Value;

const TOLERANCE: f32 = 1e-3;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hf")
        .join(name)
}

/// The fixture's sequences and HF's log-probabilities for them.
fn reference(dir: &Path) -> (Vec<Vec<u32>>, Vec<Vec<f32>>) {
    let text = std::fs::read_to_string(dir.join("reference.json")).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    json["sequences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let ids = s["ids"].as_array().unwrap();
            let lps = s["logprobs"].as_array().unwrap();
            (
                ids.iter().map(|v| v.as_u64().unwrap() as u32).collect(),
                lps.iter().map(|v| v.as_f64().unwrap() as f32).collect(),
            )
        })
        .unzip()
}

fn max_abs_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            assert_eq!(x.len(), y.len());
            x.iter().zip(y).map(|(p, q)| (p - q).abs())
        })
        .fold(0.0, f32::max)
}

/// Batched, one at a time, and continued from a shared prefix: all equal HF's numbers.
fn check_model(model: &LanguageModel, label: &str, seqs: &[Vec<u32>], hf: &[Vec<f32>]) {
    let batched = model.token_logprobs(seqs).unwrap();
    let diff = max_abs_diff(&batched, hf);
    let tokens: usize = hf.iter().map(Vec::len).sum();
    // Printed for docs/fidelity.md (`cargo test -p navab-lm --test hf_fixtures -- --nocapture`).
    eprintln!("{label}: {tokens} tokens, max |ours - HF| = {diff:.1e}");
    assert!(
        diff < TOLERANCE,
        "{label}: batched max |ours - HF| = {diff}"
    );
    let single: Vec<Vec<f32>> = seqs
        .iter()
        .map(|s| {
            model
                .token_logprobs(std::slice::from_ref(s))
                .unwrap()
                .remove(0)
        })
        .collect();
    let diff = max_abs_diff(&single, hf);
    assert!(diff < TOLERANCE, "{label}: one at a time max diff = {diff}");

    // The longest sequence split after 5 tokens: prefix keys and values are cached and the
    // continuation still sees (or, past the window, no longer sees) them.
    let long = seqs.iter().max_by_key(|s| s.len()).unwrap();
    let hf_long = &hf[seqs.iter().position(|s| s == long).unwrap()];
    let group = SharedPrefix {
        prefix: long[..5].to_vec(),
        continuations: vec![long[5..].to_vec()],
    };
    let shared = model.token_logprobs_shared(&[group]).unwrap();
    let cont = &shared[0].continuations[0];
    let diff = max_abs_diff(std::slice::from_ref(cont), &[hf_long[4..].to_vec()]);
    assert!(diff < TOLERANCE, "{label}: shared-prefix max diff = {diff}");
}

fn check_fixture(name: &str, architecture: Architecture) {
    let dir = fixture(name);
    let (seqs, hf) = reference(&dir);
    let model = LanguageModel::load(&dir, &LoadOptions::cpu()).unwrap();
    assert_eq!(model.config().architecture, architecture);
    if let Some(window) = model.config().sliding_window {
        assert!(
            seqs.iter().any(|s| s.len() > window),
            "{name}: window unused"
        );
    }
    check_model(&model, name, &seqs, &hf);
}

#[test]
fn mistral_with_sliding_window_matches_hf() {
    check_fixture("mistral", Architecture::Mistral);
}

#[test]
fn qwen3_matches_hf() {
    check_fixture("qwen3", Architecture::Qwen3);
}

#[test]
fn gemma2_matches_hf() {
    check_fixture("gemma2", Architecture::Gemma2);
}

#[test]
fn gemma3_matches_hf() {
    check_fixture("gemma3", Architecture::Gemma3);
}

#[test]
fn phi3_matches_hf() {
    check_fixture("phi3", Architecture::Phi3);
}

/// llama.cpp's name for an HF tensor of architecture `arch`.
fn gguf_tensor_name(hf: &str, gemma: bool) -> String {
    match hf {
        "model.embed_tokens.weight" => return "token_embd.weight".into(),
        "model.norm.weight" => return "output_norm.weight".into(),
        "lm_head.weight" => return "output.weight".into(),
        _ => {}
    }
    let rest = hf.strip_prefix("model.layers.").expect("layer tensor");
    let (layer, part) = rest.split_once('.').unwrap();
    let post_attention = if gemma {
        "post_attention_norm"
    } else {
        "ffn_norm"
    };
    let part = part
        .replace("input_layernorm", "attn_norm")
        .replace("post_attention_layernorm", post_attention)
        .replace("pre_feedforward_layernorm", "ffn_norm")
        .replace("post_feedforward_layernorm", "post_ffw_norm")
        .replace("self_attn.qkv_proj", "attn_qkv")
        .replace("self_attn.q_proj", "attn_q")
        .replace("self_attn.k_proj", "attn_k")
        .replace("self_attn.v_proj", "attn_v")
        .replace("self_attn.o_proj", "attn_output")
        .replace("self_attn.q_norm", "attn_q_norm")
        .replace("self_attn.k_norm", "attn_k_norm")
        .replace("mlp.gate_up_proj", "ffn_up")
        .replace("mlp.gate_proj", "ffn_gate")
        .replace("mlp.up_proj", "ffn_up")
        .replace("mlp.down_proj", "ffn_down");
    format!("blk.{layer}.{part}")
}

/// Writes the fixture as llama.cpp's converter would: its names, Gemma's norms stored as `1 + w`,
/// the hyperparameters under `{arch}.*`, matrices in `dtype`.
fn write_gguf(dir: &Path, out: &Path, arch: &str, dtype: GgmlDType) {
    use gguf_file::Value as V;
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let gemma = arch.starts_with("gemma");
    let tensors =
        candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).unwrap();
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let mut qtensors: Vec<(String, QTensor)> = Vec::new();
    for name in names {
        let t: &Tensor = &tensors[name];
        let t = if gemma && name.ends_with("norm.weight") {
            (t + 1.0).unwrap()
        } else {
            t.clone()
        };
        let q = if t.rank() == 2 {
            QTensor::quantize(&t, dtype).unwrap()
        } else {
            QTensor::quantize(&t, GgmlDType::F32).unwrap()
        };
        qtensors.push((gguf_tensor_name(name, gemma), q));
    }
    let u = |key: &str| V::U32(config[key].as_u64().unwrap() as u32);
    let mut md: Vec<(String, V)> = vec![
        ("general.architecture".into(), V::String(arch.into())),
        (format!("{arch}.embedding_length"), u("hidden_size")),
        (
            format!("{arch}.feed_forward_length"),
            u("intermediate_size"),
        ),
        (format!("{arch}.block_count"), u("num_hidden_layers")),
        (
            format!("{arch}.attention.head_count"),
            u("num_attention_heads"),
        ),
        (
            format!("{arch}.attention.head_count_kv"),
            u("num_key_value_heads"),
        ),
        (
            format!("{arch}.context_length"),
            u("max_position_embeddings"),
        ),
        (
            format!("{arch}.attention.layer_norm_rms_epsilon"),
            V::F32(1e-6),
        ),
    ];
    if let Some(head_dim) = config["head_dim"].as_u64() {
        md.push((
            format!("{arch}.attention.key_length"),
            V::U32(head_dim as u32),
        ));
    }
    let theta = config["rope_theta"]
        .as_f64()
        .or_else(|| config["rope_parameters"]["full_attention"]["rope_theta"].as_f64())
        .unwrap();
    md.push((format!("{arch}.rope.freq_base"), V::F32(theta as f32)));
    if let Some(window) = config["sliding_window"].as_u64() {
        md.push((
            format!("{arch}.attention.sliding_window"),
            V::U32(window as u32),
        ));
    }
    if arch == "gemma3" {
        // The fixture's layer types [sliding, full, sliding] are the every-other pattern.
        md.push((
            format!("{arch}.attention.sliding_window_pattern"),
            V::U32(2),
        ));
    }
    let md: Vec<(&str, &V)> = md.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let ts: Vec<(&str, &QTensor)> = qtensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut file = File::create(out).unwrap();
    gguf_file::write(&mut file, &md, &ts).unwrap();
}

fn check_gguf(name: &str, arch: &str) {
    let dir = fixture(name);
    let (seqs, hf) = reference(&dir);
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(format!("{name}.gguf"));
    write_gguf(&dir, &path, arch, GgmlDType::F32);
    let options = LoadOptions {
        tokenizer: Some(dir.join("tokenizer.json")),
        ..LoadOptions::cpu()
    };
    let model = LanguageModel::load(&path, &options).unwrap();
    check_model(&model, &format!("{name} (GGUF)"), &seqs, &hf);

    // Quantized matrices (fused ones are split after dequantizing): close, not equal.
    let q8 = tmp.path().join(format!("{name}-q8.gguf"));
    write_gguf(&dir, &q8, arch, GgmlDType::Q8_0);
    let options = LoadOptions {
        dequantize: false,
        ..options
    };
    let model = LanguageModel::load(&q8, &options).unwrap();
    let ours = model.token_logprobs(&seqs).unwrap();
    let diff = max_abs_diff(&ours, &hf);
    assert!(diff < 0.1, "{name} (Q8_0 GGUF): max diff = {diff}");
}

#[test]
fn gemma3_gguf_matches_hf() {
    check_gguf("gemma3", "gemma3");
}

#[test]
fn phi3_gguf_with_fused_projections_matches_hf() {
    check_gguf("phi3", "phi3");
}

#[test]
fn qwen3_gguf_matches_hf() {
    check_gguf("qwen3", "qwen3");
}

#[test]
fn unsupported_architecture_lists_the_supported_ones() {
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture("phi3")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), tmp.path().join(entry.file_name())).unwrap();
    }
    let config_path = tmp.path().join("config.json");
    let text = std::fs::read_to_string(&config_path).unwrap();
    std::fs::write(
        &config_path,
        text.replace("\"phi3\"", "\"gpt_neox\"")
            .replace("Phi3ForCausalLM", "GPTNeoXForCausalLM"),
    )
    .unwrap();
    let err = LanguageModel::load(tmp.path(), &LoadOptions::cpu()).unwrap_err();
    assert!(
        matches!(err, Error::UnsupportedArchitecture { .. }),
        "{err}"
    );
    let message = err.to_string();
    for name in ["gpt_neox", "llama", "gemma2", "gemma3", "phi3", "mistral"] {
        assert!(message.contains(name), "{message}");
    }
}
