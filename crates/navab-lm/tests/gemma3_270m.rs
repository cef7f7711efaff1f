//! The real Gemma 3 270M (Q4_K_M GGUF and its tokenizer.json, `scripts/fetch-models.sh gemma3`):
//! it loads as Gemma 3 with its published tokenizer.json, prefers real text to shuffled text,
//! and continues prompts as HF transformers does.
//! Skipped with a message when the model has not been fetched (it is not in the default set).

mod common;

use std::path::PathBuf;

use common::models_dir;
use navab_lm::{Architecture, GenerateOptions, LanguageModel, LoadOptions};

fn gemma3() -> Option<LanguageModel> {
    let dir: PathBuf = models_dir().join("gemma-3-270m");
    let gguf = dir.join("gemma-3-270m-q4_k_m.gguf");
    if !gguf.exists() {
        eprintln!(
            "skipping: {} is missing (scripts/fetch-models.sh gemma3)",
            gguf.display()
        );
        return None;
    }
    // No tokenizer given: a SentencePiece GGUF takes the tokenizer.json beside it.
    let model = LanguageModel::load(&gguf, &LoadOptions::cpu()).unwrap();
    let explicit = LoadOptions {
        tokenizer: Some(dir.join("tokenizer.json")),
        ..LoadOptions::cpu()
    };
    let text = "Hong Kong's Legislative Council passed the bill.";
    let ids = |m: &LanguageModel| m.tokenizer().encode(text, true).unwrap().ids;
    assert_eq!(
        ids(&model),
        ids(&LanguageModel::load(&gguf, &explicit).unwrap())
    );
    Some(model)
}

#[test]
fn gemma3_270m_scores_and_generates_sensibly() {
    let Some(model) = gemma3() else { return };
    let c = model.config();
    assert_eq!(c.architecture, Architecture::Gemma3);
    assert_eq!(
        (c.num_layers, c.head_dim, c.sliding_window),
        (18, 256, Some(512))
    );
    let encode = |t: &str| model.tokenizer().encode(t, true).unwrap().ids;
    let real = encode("The capital of France is Paris, a city known for its museums and cafes.");
    let shuffled =
        encode("museums France its and Paris, capital known The for is city a of cafes.");
    assert_eq!(real[0], 2, "Gemma's tokenizer adds <bos>");
    let lps = model.token_logprobs(&[real, shuffled]).unwrap();
    let ppl = |lp: &[f32]| (-lp.iter().sum::<f32>() / lp.len() as f32).exp();
    let (real_ppl, shuffled_ppl) = (ppl(&lps[0]), ppl(&lps[1]));
    assert!(
        real_ppl * 10.0 < shuffled_ppl,
        "perplexity {real_ppl} (real) vs {shuffled_ppl} (shuffled)"
    );
    let options = GenerateOptions {
        max_new_tokens: 8,
        ..Default::default()
    };
    // Greedy continuations; HF transformers on the same GGUF gives " Paris, France. It is the
    // tallest" and " 100 degrees Celsius.".
    let out = model
        .generate("The Eiffel Tower is in the city of", &options)
        .unwrap();
    assert!(out.text.starts_with(" Paris"), "{:?}", out.text);
    let out = model
        .generate("Water boils at a temperature of", &options)
        .unwrap();
    assert!(out.text.starts_with(" 100 degrees"), "{:?}", out.text);
}
