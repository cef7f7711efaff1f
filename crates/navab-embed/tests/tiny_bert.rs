//! A tiny seeded random BERT around the real all-MiniLM-L6-v2 tokenizer (when fetched) or a
//! word-level tokenizer built here: batching, pooling, normalisation, cache and bad inputs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use navab_embed::{CachedEmbedder, EmbedOptions, Embedder, Error, SentenceEmbedder};
use rand::{rngs::StdRng, Rng, SeedableRng};

const VOCAB: usize = 64;

/// A word-level tokenizer with `[PAD]`, `[UNK]`, `[CLS]`, `[SEP]` and 60 lowercase words.
fn tokenizer_json() -> String {
    let mut vocab = serde_json::Map::new();
    for (i, t) in ["[PAD]", "[UNK]", "[CLS]", "[SEP]"].iter().enumerate() {
        vocab.insert((*t).into(), i.into());
    }
    for i in 4..VOCAB {
        vocab.insert(format!("w{i}"), i.into());
    }
    serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [],
        "normalizer": {"type": "Lowercase"},
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {
                "[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}
            }
        },
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}
    })
    .to_string()
}

fn write_model(dir: &Path, pooling: &str, normalize: bool, vocab: usize) {
    write_family_model(dir, "bert", pooling, normalize, vocab);
}

/// A seeded random model of `family` (`bert` or `xlm-roberta`) in a sentence-transformers layout.
fn write_family_model(dir: &Path, family: &str, pooling: &str, normalize: bool, vocab: usize) {
    std::fs::create_dir_all(dir.join("1_Pooling")).unwrap();
    let xlm = family == "xlm-roberta";
    let config = serde_json::json!({
        "model_type": family, "vocab_size": vocab, "hidden_size": 32, "num_hidden_layers": 2,
        "num_attention_heads": 4, "intermediate_size": 64, "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
        "max_position_embeddings": 64, "type_vocab_size": if xlm { 1 } else { 2 },
        "initializer_range": 0.02, "layer_norm_eps": 1e-5, "pad_token_id": if xlm { 1 } else { 0 },
        "position_embedding_type": "absolute"
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    if xlm {
        let cfg: candle_transformers::models::xlm_roberta::Config =
            serde_json::from_value(config).unwrap();
        candle_transformers::models::xlm_roberta::XLMRobertaModel::new(&cfg, vb).unwrap();
    } else {
        let cfg: candle_transformers::models::bert::Config =
            serde_json::from_value(config).unwrap();
        candle_transformers::models::bert::BertModel::load(vb, &cfg).unwrap();
    }
    // Seeded values, so the model is the same in every run.
    let mut rng = StdRng::seed_from_u64(7);
    let data = varmap.data().lock().unwrap();
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    let mut tensors = HashMap::new();
    for name in names {
        let shape = data[name].shape().clone();
        let n = shape.elem_count();
        let values: Vec<f32> = if name.contains("LayerNorm.weight") {
            vec![1.0; n]
        } else {
            (0..n).map(|_| rng.random_range(-0.5..0.5)).collect()
        };
        tensors.insert(
            name.clone(),
            Tensor::from_vec(values, shape, &Device::Cpu).unwrap(),
        );
    }
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
    std::fs::write(dir.join("tokenizer.json"), tokenizer_json()).unwrap();
    let mut modules = vec![
        serde_json::json!({"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}),
        serde_json::json!({"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}),
    ];
    if normalize {
        modules.push(serde_json::json!({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}));
    }
    std::fs::write(
        dir.join("modules.json"),
        serde_json::Value::from(modules).to_string(),
    )
    .unwrap();
    let pooling_cfg = serde_json::json!({
        "word_embedding_dimension": 32,
        "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean",
        "pooling_mode_max_tokens": pooling == "max",
        "pooling_mode_mean_sqrt_len_tokens": false,
    });
    std::fs::write(dir.join("1_Pooling/config.json"), pooling_cfg.to_string()).unwrap();
    std::fs::write(
        dir.join("sentence_bert_config.json"),
        r#"{"max_seq_length": 16, "do_lower_case": false}"#,
    )
    .unwrap();
}

fn model_dir(pooling: &str, normalize: bool) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tiny-bert");
    write_model(&dir, pooling, normalize, VOCAB);
    (tmp, dir)
}

fn texts() -> Vec<&'static str> {
    vec![
        "w4 w5 w6",
        "w7",
        "w8 w9 w10 w11 w12 w13 w14 w15 w16",
        "",
        "w17 w18 w19 w20 w21 w22 w23 w24 w25 w26 w27 w28 w29 w30 w31 w32 w33 w34 w35",
        "W4 w5 w6",
    ]
}

fn max_abs_diff(a: &ndarray::Array2<f32>, b: &ndarray::Array2<f32>) -> f32 {
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn automatic_workers_are_one_per_thread_of_the_current_pool() {
    let (_tmp, dir) = model_dir("mean", false);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    let auto = SentenceEmbedder::load(
        &dir,
        EmbedOptions {
            batch_size: 2,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(pool.install(|| auto.workers()), 3);
    let texts = texts();
    let one = SentenceEmbedder::load(
        &dir,
        EmbedOptions {
            workers: 1,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(one.workers(), 1);
    // Three workers, each on its own single-thread pool, give one worker's vectors.
    let a = pool.install(|| auto.embed(&texts)).unwrap();
    let b = one.embed(&texts).unwrap();
    assert!(max_abs_diff(&a, &b) < 1e-5);
}

#[test]
fn batched_equals_one_at_a_time_for_every_pooling() {
    for pooling in ["mean", "cls", "max"] {
        let (_tmp, dir) = model_dir(pooling, false);
        let batched = SentenceEmbedder::load(
            &dir,
            EmbedOptions {
                batch_size: 4,
                ..Default::default()
            },
        )
        .unwrap();
        let single = SentenceEmbedder::load(
            &dir,
            EmbedOptions {
                batch_size: 1,
                workers: 1,
                ..Default::default()
            },
        )
        .unwrap();
        let texts = texts();
        let a = batched.embed(&texts).unwrap();
        let b = single.embed(&texts).unwrap();
        assert_eq!(a.dim(), (texts.len(), 32));
        let parallel = SentenceEmbedder::load(
            &dir,
            EmbedOptions {
                batch_size: 2,
                workers: 3,
                ..Default::default()
            },
        )
        .unwrap();
        let c = parallel.embed(&texts).unwrap();
        assert!(
            max_abs_diff(&a, &c) < 1e-4,
            "{pooling}: workers change the result"
        );
        let diff = max_abs_diff(&a, &b);
        assert!(diff < 1e-4, "{pooling}: batched vs single differ by {diff}");
        // Same words (the normaliser lowercases) give the same vector; other words do not.
        let same = (&a.row(0) - &a.row(5)).mapv(f32::abs).sum();
        let other = (&a.row(0) - &a.row(1)).mapv(f32::abs).sum();
        assert!(
            same < 1e-4 && other > 1e-3,
            "{pooling}: same {same}, other {other}"
        );
    }
}

#[test]
fn fused_encoder_equals_candle_transformers_for_bert_and_xlm_r() {
    let texts = texts();
    for family in ["bert", "xlm-roberta"] {
        for pooling in ["mean", "cls", "max"] {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().join(family);
            write_family_model(&dir, family, pooling, false, VOCAB);
            let embed = |fused: bool| {
                let options = EmbedOptions {
                    fused,
                    batch_size: 3,
                    ..EmbedOptions::default()
                };
                SentenceEmbedder::load(&dir, options)
                    .unwrap()
                    .embed(&texts)
                    .unwrap()
            };
            let (fused, reference) = (embed(true), embed(false));
            let diff = max_abs_diff(&fused, &reference);
            let scale = reference.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!(scale > 0.1, "{family}/{pooling}: degenerate outputs");
            assert!(
                diff < 1e-4 * scale.max(1.0),
                "{family}/{pooling}: fused and candle-transformers differ by {diff}"
            );
        }
    }
}

#[test]
fn normalisation_and_truncation_follow_the_directory() {
    let (_tmp, dir) = model_dir("mean", true);
    let model = SentenceEmbedder::load(&dir, EmbedOptions::default()).unwrap();
    assert!(model.normalizes());
    assert_eq!(model.max_seq_length(), 16);
    let texts = texts();
    let v = model.embed(&texts).unwrap();
    for row in v.rows() {
        let norm = row.dot(&row).sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
    }
    // The 19-word text is cut to 16 tokens ([CLS] + 14 words + [SEP]).
    assert_eq!(model.token_counts(&texts).unwrap()[4], 16);
    // A character cut changes what the model sees.
    let cut = SentenceEmbedder::load(
        &dir,
        EmbedOptions {
            char_limit: Some(3),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(cut.token_counts(&["w10 w11"]).unwrap(), vec![3]);
    assert_ne!(cut.model_id(), model.model_id());
}

#[test]
fn cache_serves_a_rerun_and_survives_a_torn_write() {
    let (tmp, dir) = model_dir("mean", true);
    let cache_path = tmp.path().join("cache/emb.bin");
    let texts = texts();
    let direct = SentenceEmbedder::load(&dir, EmbedOptions::default())
        .unwrap()
        .embed(&texts)
        .unwrap();
    {
        let cached = CachedEmbedder::open(
            SentenceEmbedder::load(&dir, EmbedOptions::default()).unwrap(),
            &cache_path,
        )
        .unwrap();
        let first = cached.embed(&texts).unwrap();
        assert_eq!(cached.stats().misses, texts.len() as u64);
        assert_eq!(first, direct);
        // A repeated text within one call is computed once.
        cached.embed(&["w40 w41", "w40 w41"]).unwrap();
        assert_eq!(cached.stats().misses, texts.len() as u64 + 1);
    }
    // Simulate a crash in the middle of an append.
    let len = std::fs::metadata(&cache_path).unwrap().len();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&cache_path)
        .unwrap();
    std::io::Write::write_all(&mut f, &[1, 2, 3, 4, 5]).unwrap();
    drop(f);
    let cached = CachedEmbedder::open(
        SentenceEmbedder::load(&dir, EmbedOptions::default()).unwrap(),
        &cache_path,
    )
    .unwrap();
    assert_eq!(cached.dropped_tail_bytes(), 5);
    assert_eq!(std::fs::metadata(&cache_path).unwrap().len(), len);
    let again = cached.embed(&texts).unwrap();
    assert_eq!(
        cached.stats(),
        navab_embed::CacheStats {
            hits: texts.len() as u64,
            misses: 0
        }
    );
    assert_eq!(again, direct);
}

#[test]
fn cache_refuses_another_dimension_and_foreign_files() {
    let (tmp, dir) = model_dir("mean", true);
    let path = tmp.path().join("foreign.bin");
    std::fs::write(&path, b"this is not a cache").unwrap();
    let model = SentenceEmbedder::load(&dir, EmbedOptions::default()).unwrap();
    let err = CachedEmbedder::open(model, &path).err().expect("must fail");
    assert!(matches!(err, Error::Cache { .. }), "{err}");
    let path = tmp.path().join("d16.bin");
    let mut header = b"NAVABEMB".to_vec();
    header.extend_from_slice(&1u32.to_le_bytes());
    header.extend_from_slice(&16u32.to_le_bytes());
    std::fs::write(&path, header).unwrap();
    let model = SentenceEmbedder::load(&dir, EmbedOptions::default()).unwrap();
    let err = CachedEmbedder::open(model, &path).err().expect("must fail");
    assert!(err.to_string().contains("16-d"), "{err}");
}

#[test]
fn bad_model_directories_give_clear_errors() {
    let (_tmp, dir) = model_dir("mean", false);
    // Missing directory.
    let err = SentenceEmbedder::load(dir.join("nope"), EmbedOptions::default()).unwrap_err();
    assert!(err.to_string().contains("config.json"), "{err}");
    // Truncated weights.
    let weights = dir.join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    let err = SentenceEmbedder::load(&dir, EmbedOptions::default()).unwrap_err();
    assert!(err.to_string().contains("model.safetensors"), "{err}");
    std::fs::write(&weights, &bytes).unwrap();
    // A module we do not implement.
    let modules = std::fs::read_to_string(dir.join("modules.json")).unwrap();
    std::fs::write(
        dir.join("modules.json"),
        modules.replace("models.Pooling", "models.Dense"),
    )
    .unwrap();
    let err = SentenceEmbedder::load(&dir, EmbedOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err}");
    std::fs::write(dir.join("modules.json"), modules).unwrap();
    // A tokenizer with more tokens than the model has rows.
    let tmp2 = tempfile::tempdir().unwrap();
    let small = tmp2.path().join("small");
    write_model(&small, "mean", false, 32);
    let err = SentenceEmbedder::load(&small, EmbedOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Tokenizer(_)), "{err}");
    // Zero batch size.
    let err = SentenceEmbedder::load(
        &dir,
        EmbedOptions {
            batch_size: 0,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidOption {
                name: "batch_size",
                ..
            }
        ),
        "{err}"
    );
}
