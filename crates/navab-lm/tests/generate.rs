//! Generation with the real SmolLM2-135M-Instruct GGUF: chat template from the GGUF metadata,
//! greedy and seeded sampling, stop conditions, and the key-value cache against full forwards.

mod common;

use candle_core::{Tensor, D};
use common::*;
use navab_lm::{GenerateOptions, LanguageModel, LoadOptions, StopReason, TemplateMessage};

fn model() -> LanguageModel {
    LanguageModel::load(smollm2_gguf(), &LoadOptions::cpu()).unwrap()
}

fn chat_prompt(model: &LanguageModel, question: &str) -> String {
    model
        .apply_chat_template(
            &[TemplateMessage {
                role: "user",
                content: question,
            }],
            true,
        )
        .unwrap()
}

#[test]
fn chat_template_and_greedy_answer() {
    let model = model();
    let prompt = chat_prompt(&model, "What is the capital of France?");
    // The GGUF's template adds its default system turn and opens the assistant's turn.
    assert!(prompt.starts_with("<|im_start|>system\n"), "{prompt}");
    assert!(prompt.ends_with("<|im_start|>assistant\n"), "{prompt}");
    assert!(model
        .stop_token_ids()
        .contains(&model.tokenizer().token_to_id("<|im_end|>").unwrap()));
    let options = GenerateOptions {
        max_new_tokens: 24,
        ..Default::default()
    };
    let a = model.generate(&prompt, &options).unwrap();
    assert!(a.text.contains("Paris"), "{a:?}");
    assert!(!a.text.contains("<|im_end|>"));
    // Greedy is deterministic.
    assert_eq!(model.generate(&prompt, &options).unwrap(), a);
}

#[test]
fn stop_strings_length_limit_and_seeded_sampling() {
    let model = model();
    let prompt = chat_prompt(
        &model,
        "Count from one to ten in words, separated by commas.",
    );
    let short = model
        .generate(
            &prompt,
            &GenerateOptions {
                max_new_tokens: 3,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        (short.stop_reason, short.completion_tokens),
        (StopReason::Length, 3)
    );
    let full = model
        .generate(
            &prompt,
            &GenerateOptions {
                max_new_tokens: 40,
                ..Default::default()
            },
        )
        .unwrap();
    // A stop string taken from the middle of the greedy text cuts it right there.
    let start = full.text.char_indices().nth(6).map(|(i, _)| i).unwrap();
    let end = full.text.char_indices().nth(9).map(|(i, _)| i).unwrap();
    let stop = full.text[start..end].to_string();
    let expected = &full.text[..full.text.find(&stop).unwrap()];
    let cut = model
        .generate(
            &prompt,
            &GenerateOptions {
                max_new_tokens: 40,
                stop: vec![stop.clone()],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(cut.stop_reason, StopReason::Stop);
    assert_eq!(cut.text, expected, "stop {stop:?} in {full:?}");
    let sampled = |seed| {
        model
            .generate(
                &prompt,
                &GenerateOptions {
                    max_new_tokens: 16,
                    temperature: 1.2,
                    top_p: 0.95,
                    seed,
                    ..Default::default()
                },
            )
            .unwrap()
            .text
    };
    assert_eq!(sampled(1), sampled(1));
    let distinct: std::collections::BTreeSet<String> = (1..5).map(sampled).collect();
    assert!(distinct.len() > 1, "four seeds gave one text: {distinct:?}");
    assert!(model
        .generate(
            &prompt,
            &GenerateOptions {
                top_p: 0.0,
                ..Default::default()
            }
        )
        .is_err());
}

#[test]
fn cached_steps_equal_a_full_forward() {
    let model = model();
    let ids = model
        .tokenizer()
        .encode("The history of the city begins", true)
        .unwrap()
        .ids;
    let decoder = model.decoder();
    let device = decoder.device();
    let prompt = Tensor::new(ids.as_slice(), device)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let (_, mut cache) = decoder.forward_prefixes(&prompt, &[ids.len()]).unwrap();
    let mut all = ids.clone();
    let mut last = None;
    for next in [464u32, 3456, 282, 253] {
        all.push(next);
        let step = Tensor::new(&[next], device).unwrap().unsqueeze(0).unwrap();
        last = Some(
            decoder
                .extend(&step, &mut cache)
                .unwrap()
                .squeeze(1)
                .unwrap(),
        );
    }
    assert_eq!(cache.lengths(), &[all.len()]);
    let full_ids = Tensor::new(all.as_slice(), device)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let hidden = decoder.forward_hidden(&full_ids, &[all.len()]).unwrap();
    let full_last = hidden
        .narrow(1, all.len() - 1, 1)
        .unwrap()
        .squeeze(1)
        .unwrap();
    let a = decoder.logits(&last.unwrap()).unwrap();
    let b = decoder.logits(&full_last).unwrap();
    let diff = (a.clone() - &b)
        .unwrap()
        .abs()
        .unwrap()
        .max(D::Minus1)
        .unwrap()
        .squeeze(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(diff < 1e-2, "cached vs full logits differ by {diff}");
    assert_eq!(
        a.argmax(D::Minus1).unwrap().to_vec1::<u32>().unwrap(),
        b.argmax(D::Minus1).unwrap().to_vec1::<u32>().unwrap()
    );
}

#[test]
fn empty_and_oversized_prompts_are_errors() {
    let model = model();
    assert!(model.generate("", &GenerateOptions::default()).is_err());
    let huge = "word ".repeat(model.config().max_position_embeddings + 10);
    let err = model
        .generate(&huge, &GenerateOptions::default())
        .unwrap_err();
    assert!(err.to_string().contains("context"), "{err}");
}

/// A chat prompt over the context is the request's fault (a server answers 400 and a client
/// does not retry it), not a backend failure.
#[cfg(feature = "chat")]
#[test]
fn a_chat_prompt_over_the_context_is_an_invalid_request() {
    let model = std::sync::Arc::new(model());
    let huge = "word ".repeat(model.config().max_position_embeddings + 10);
    let chat = navab_lm::LocalChatModel::new(model, GenerateOptions::default());
    let request = navab_llm::ChatRequest::new(vec![navab_llm::ChatMessage::user(huge)]);
    let err = chat.chat_blocking(&request).unwrap_err();
    assert!(
        matches!(err, navab_llm::Error::InvalidRequest(_)),
        "{err:?}"
    );
    assert!(err.to_string().contains("context"), "{err}");
}
