//! Training on tiny seeded random models around SmolLM2's real tokenizer: gradients against
//! finite differences, DPO learning a synthetic preference, checkpoints and resume, and PEFT
//! adapters across the GGUF (permuted q/k rows) and HF layouts.

// The tiny-model writers of navab-lm's tests: one home for them.
#[path = "../../navab-lm/tests/common/mod.rs"]
mod common;

use std::path::Path;

use candle_core::quantized::GgmlDType;
use candle_core::{DType, Device, Tensor};
use common::{
    read_gguf, smollm2_gguf, write_smollm2_tokenizer_json, write_tiny_llama_gguf, write_tiny_model,
    TinySpec,
};
use navab_core::PreferenceItem;
use navab_lm::{LanguageModel, LoadOptions};
use navab_train::{
    encode_pairs, load_peft, merge_into, reward_accuracy, save_peft, train, DpoConfig,
    EncodeOptions, EncodedPair, LoraAdapters, LoraConfig, OptimConfig, RunFiles, Schedule, Target,
    TrainConfig, TrainableModel,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const VOCAB: usize = 49152;

/// A tiny llama as an HF directory (and optionally as a GGUF file with permuted q/k rows).
fn tiny_llama(dir: &Path, dtype: DType) -> LanguageModel {
    let tokenizer = dir.join("tokenizer.json");
    write_smollm2_tokenizer_json(&tokenizer);
    let spec = TinySpec::llama(VOCAB);
    write_tiny_model(&dir.join("hf"), &spec, &tokenizer);
    let options = LoadOptions {
        dtype,
        ..LoadOptions::cpu()
    };
    LanguageModel::load(dir.join("hf"), &options).expect("load tiny model")
}

fn item(i: usize, prompt: &str, chosen: &str, rejected: &str) -> PreferenceItem {
    PreferenceItem {
        id: format!("item-{i}"),
        prompt: prompt.into(),
        chosen: chosen.into(),
        rejected: rejected.into(),
        metadata: Default::default(),
    }
}

fn synthetic_items(n: usize) -> Vec<PreferenceItem> {
    let topics = [
        "taxes", "schools", "rail", "health", "housing", "energy", "parks", "courts",
    ];
    (0..n)
        .map(|i| {
            let t = topics[i % topics.len()];
            let prompt = format!("Question {i}: what should happen to {t}?");
            item(
                i,
                &prompt,
                &format!("Fund {t} well."),
                &format!("Cut {t} now."),
            )
        })
        .collect()
}

/// Adapters on every target with random `B` (fresh ones have `B = 0`, where `A` gets no gradient).
fn random_adapters(model: &TrainableModel, seed: u64) -> LoraAdapters {
    let config = LoraConfig {
        targets: Target::ALL.to_vec(),
        rank: 2,
        alpha: 2.0,
        seed,
        ..LoraConfig::default()
    };
    let adapters = LoraAdapters::new(&config, model.config(), model.device()).unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    for (_, var) in adapters.named_vars() {
        let n = var.as_tensor().elem_count();
        let data: Vec<f32> = (0..n).map(|_| rng.random_range(-0.3f32..0.3)).collect();
        var.set(&Tensor::from_vec(data, var.as_tensor().shape(), &Device::Cpu).unwrap())
            .unwrap();
    }
    adapters
}

fn pairs(model: &LanguageModel, n: usize) -> Vec<EncodedPair> {
    let (pairs, skipped) = encode_pairs(
        model.tokenizer(),
        &synthetic_items(n),
        &EncodeOptions::default(),
    )
    .unwrap();
    assert!(skipped.is_empty());
    pairs
}

#[test]
fn lora_gradients_equal_finite_differences() {
    let dir = tempfile::tempdir().unwrap();
    // f64 for the finite differences; f32 runs the CPU custom ops, checked against f64.
    let base64 = tiny_llama(dir.path(), DType::F64);
    let model64 = TrainableModel::new(&base64).unwrap();
    let model32 = TrainableModel::new(
        &LanguageModel::load(dir.path().join("hf"), &LoadOptions::cpu()).unwrap(),
    )
    .unwrap();
    let pairs = pairs(&base64, 2);
    let adapters = random_adapters(&model64, 3);
    let weights = [0.7, -1.3, 0.4, 0.9];
    let objective = |model: &TrainableModel| -> Tensor {
        let lp = model.pair_logprobs(&pairs, Some(&adapters)).unwrap();
        let w = Tensor::from_slice(&weights, 4, &Device::Cpu)
            .unwrap()
            .to_dtype(lp.dtype())
            .unwrap();
        (lp * w).unwrap().sum_all().unwrap()
    };
    let grads64 = objective(&model64).backward().unwrap();
    let grads32 = objective(&model32).backward().unwrap();
    let mut rng = StdRng::seed_from_u64(9);
    let mut checked = 0;
    for (name, var) in adapters.named_vars() {
        let g64 = grads64
            .get(var.as_tensor())
            .expect("gradient")
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let g32 = grads32
            .get(var.as_tensor())
            .expect("gradient")
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let scale = g64.iter().fold(1e-3f32, |m, g| m.max(g.abs()));
        for (a, b) in g64.iter().zip(&g32) {
            assert!(
                (a - b).abs() <= 1e-3 * scale,
                "{name}: f32 custom ops {b} vs f64 {a}"
            );
        }
        // Two coordinates of each tensor against central differences.
        let values = var
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        for _ in 0..2 {
            let k = rng.random_range(0..values.len());
            let h = 1e-4f32;
            let at = |delta: f32| {
                let mut v = values.clone();
                v[k] += delta;
                var.set(&Tensor::from_vec(v, var.as_tensor().shape(), &Device::Cpu).unwrap())
                    .unwrap();
                objective(&model64)
                    .to_dtype(DType::F64)
                    .unwrap()
                    .to_scalar::<f64>()
                    .unwrap()
            };
            let fd = (at(h) - at(-h)) / (2.0 * f64::from(h));
            at(0.0);
            let g = f64::from(g64[k]);
            assert!(
                (fd - g).abs() <= 1e-3 * f64::from(scale).max(g.abs()),
                "{name}[{k}]: finite difference {fd} vs gradient {g}"
            );
            checked += 1;
        }
    }
    assert_eq!(
        checked,
        2 * 2 * 7 * 2,
        "2 layers × 7 targets × (A, B) × 2 coordinates"
    );
}

fn fast_config() -> TrainConfig {
    TrainConfig {
        lora: LoraConfig {
            rank: 4,
            ..LoraConfig::default()
        },
        dpo: DpoConfig {
            beta: 0.5,
            ..DpoConfig::default()
        },
        optim: OptimConfig {
            learning_rate: 2e-2,
            warmup_ratio: 0.0,
            schedule: Schedule::Constant,
            ..OptimConfig::default()
        },
        epochs: 8,
        batch_size: 4,
        grad_accumulation: 1,
        checkpoint_every: 3,
        ..TrainConfig::default()
    }
}

#[test]
fn dpo_learns_a_synthetic_preference() {
    let dir = tempfile::tempdir().unwrap();
    let base = tiny_llama(dir.path(), DType::F32);
    let model = TrainableModel::new(&base).unwrap();
    let pairs = pairs(&base, 16);
    let config = fast_config();
    let (before, loss_before) = reward_accuracy(
        &model,
        &LoraAdapters::new(&config.lora, model.config(), model.device()).unwrap(),
        &pairs,
        &config.dpo,
        8,
    )
    .unwrap();
    assert!(
        (loss_before - std::f64::consts::LN_2).abs() < 1e-6,
        "fresh adapters change nothing: {loss_before}"
    );
    assert_eq!(before, 0.0, "no margin yet");
    let outcome = train(&model, &pairs, &config, None, &mut |_| {}).unwrap();
    let (after, loss_after) =
        reward_accuracy(&model, &outcome.adapters, &pairs, &config.dpo, 8).unwrap();
    assert!(
        after >= 0.9,
        "reward accuracy {after} on the training pairs"
    );
    assert!(
        loss_after < 0.5 * loss_before,
        "loss {loss_before} -> {loss_after}"
    );
    let first = &outcome.log[0];
    assert!((first.loss - std::f64::consts::LN_2).abs() < 1e-6);
    assert_eq!(outcome.log.len(), 8 * 4);
}

#[test]
fn a_resumed_run_ends_where_an_uninterrupted_one_does() {
    let dir = tempfile::tempdir().unwrap();
    let base = tiny_llama(dir.path(), DType::F32);
    let model = TrainableModel::new(&base).unwrap();
    let pairs = pairs(&base, 8);
    let config = TrainConfig {
        epochs: 3,
        batch_size: 2,
        grad_accumulation: 2,
        ..fast_config()
    };
    let whole = train(
        &model,
        &pairs,
        &config,
        Some(&RunFiles::new(dir.path().join("a"))),
        &mut |_| {},
    )
    .unwrap();
    // A crash after step 3: later checkpoints never written, the log holds a torn extra line.
    let b = dir.path().join("b");
    train(
        &model,
        &pairs,
        &config,
        Some(&RunFiles::new(&b)),
        &mut |_| {},
    )
    .unwrap();
    std::fs::remove_dir_all(b.join("checkpoints/step-6")).unwrap();
    let mut log = std::fs::read_to_string(b.join("train_log.jsonl")).unwrap();
    log.push_str("{\"step\": 7, torn");
    std::fs::write(b.join("train_log.jsonl"), log).unwrap();
    let resumed = train(
        &model,
        &pairs,
        &config,
        Some(&RunFiles::new(&b)),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(resumed.resumed_from, 3);
    assert_eq!(
        resumed.reference_seconds, 0.0,
        "reference log-probs come from the cache"
    );
    assert_eq!(resumed.log.len(), whole.log.len());
    for ((_, a), (_, b)) in whole
        .adapters
        .named_vars()
        .iter()
        .zip(resumed.adapters.named_vars())
    {
        let diff = (a.as_tensor() - b.as_tensor())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 1e-6, "resumed adapters differ by {diff}");
    }
    let lines = std::fs::read_to_string(b.join("train_log.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), whole.log.len());
    // Other settings on the same directory are refused, not mixed in.
    let other = TrainConfig { seed: 7, ..config };
    assert!(train(
        &model,
        &pairs,
        &other,
        Some(&RunFiles::new(&b)),
        &mut |_| {}
    )
    .is_err());
}

#[test]
fn adapters_trained_on_gguf_rows_are_valid_on_the_hf_model() {
    let dir = tempfile::tempdir().unwrap();
    let hf = tiny_llama(dir.path(), DType::F32);
    let gguf_path = dir.path().join("tiny.gguf");
    write_tiny_llama_gguf(
        &gguf_path,
        &TinySpec::llama(VOCAB),
        GgmlDType::F32,
        &read_gguf(&smollm2_gguf()),
    );
    let gguf = LanguageModel::load(
        &gguf_path,
        &LoadOptions {
            tokenizer: Some(dir.path().join("tokenizer.json")),
            ..LoadOptions::cpu()
        },
    )
    .unwrap();
    let gguf_model = TrainableModel::new(&gguf).unwrap();
    let hf_model = TrainableModel::new(&hf).unwrap();
    let adapters = random_adapters(&gguf_model, 5);
    let pairs = pairs(&hf, 3);
    let seqs: Vec<Vec<u32>> = pairs
        .iter()
        .map(|p| [p.prompt.clone(), p.chosen.clone()].concat())
        .collect();

    // Training forward with adapters == the merged model through navab-lm's inference path.
    let ours = gguf_model
        .pair_logprobs(&pairs, Some(&adapters))
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let merged = merge_into(&gguf, &gguf_model, &adapters, "merged").unwrap();
    let inference = merged.token_logprobs(&seqs).unwrap();
    for (k, p) in pairs.iter().enumerate() {
        let tail: f32 = inference[k][p.prompt.len() - 1..].iter().sum();
        assert!(
            (tail - ours[2 * k]).abs() < 1e-3,
            "merged inference {tail} vs training forward {}",
            ours[2 * k]
        );
    }

    // Saved in PEFT layout (q/k rows un-permuted), loaded on the HF-layout model: same numbers.
    save_peft(
        &adapters,
        gguf_model.config(),
        dir.path().join("adapter"),
        "tiny",
    )
    .unwrap();
    let on_hf = load_peft(&hf_model, dir.path().join("adapter")).unwrap();
    let theirs = hf_model
        .pair_logprobs(&pairs, Some(&on_hf))
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    for (a, b) in ours.iter().zip(&theirs) {
        assert!((a - b).abs() < 1e-3, "GGUF-layout {a} vs HF-layout {b}");
    }
    // And back onto the GGUF model: the very tensors we saved.
    let back = load_peft(&gguf_model, dir.path().join("adapter")).unwrap();
    for ((name, a), (_, b)) in adapters.named_vars().iter().zip(back.named_vars()) {
        let diff = (a.as_tensor() - b.as_tensor())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(diff, 0.0, "{name}");
    }
    let config = std::fs::read_to_string(dir.path().join("adapter/adapter_config.json")).unwrap();
    assert!(config.contains("\"peft_type\": \"LORA\""));
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let base = tiny_llama(dir.path(), DType::F32);
    let model = TrainableModel::new(&base).unwrap();
    assert!(train(&model, &[], &TrainConfig::default(), None, &mut |_| {}).is_err());
    let items = vec![
        item(0, "Q?", "Same.", "Same."),
        item(1, "", "a", "b"),
        item(2, "Q?", "Yes.", "No."),
    ];
    let (pairs, skipped) =
        encode_pairs(base.tokenizer(), &items, &EncodeOptions::default()).unwrap();
    assert_eq!(pairs.len(), 1);
    assert_eq!(skipped.len(), 2);
    let bad = TrainConfig {
        batch_size: 0,
        ..TrainConfig::default()
    };
    assert!(train(&model, &pairs, &bad, None, &mut |_| {}).is_err());
}
