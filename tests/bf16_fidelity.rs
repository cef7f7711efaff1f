//! bf16 on the CPU (packed bf16 matrix products, f32 elsewhere) against f32 with the real
//! SmolLM2-135M-Instruct: the same MC decisions on the demo set and the NaVAB sample, and the
//! per-token log-probability differences, printed.

mod common;

use candle_core::DType;
use navab::core::{read_navab_dir, PreferenceItem, ReadOptions};
use navab::eval::{evaluate, EvalOptions, LocalScorer, Method};
use navab::lm::{LanguageModel, LoadOptions};

fn smollm2(dtype: DType) -> LanguageModel {
    common::smollm2(&LoadOptions {
        dtype,
        ..LoadOptions::cpu()
    })
}

/// The choices of both models on `items` with `methods`; returns (equal decisions, decisions).
fn same_decisions(
    f32s: &LanguageModel,
    bf16s: &LanguageModel,
    items: &[PreferenceItem],
    methods: &[&str],
) -> (usize, usize) {
    let methods: Vec<Method> = methods.iter().map(|m| m.parse().unwrap()).collect();
    let choices = |model: &LanguageModel| {
        let run = evaluate(
            &LocalScorer::new(model.clone(), 8),
            items,
            &methods,
            &EvalOptions::default(),
            &mut |_, _| {},
        );
        assert!(run.failures.is_empty(), "{:?}", run.failures);
        run.records
            .into_iter()
            .flat_map(|r| r.outcome.decisions.into_iter().map(|d| d.choice))
            .collect::<Vec<_>>()
    };
    let (a, b) = (choices(f32s), choices(bf16s));
    assert_eq!(a.len(), b.len());
    (a.iter().zip(&b).filter(|(x, y)| x == y).count(), a.len())
}

/// A few minutes in a debug build, so the NaVAB sample runs the paper's method only.
#[test]
fn bf16_keeps_mc_decisions_and_logprobs_close() {
    let (f32s, bf16s) = (smollm2(DType::F32), smollm2(DType::BF16));
    println!(
        "bf16 matrix product path: {}",
        navab::kernels::bf16::Bf16Path::best().name()
    );
    let demo: Vec<PreferenceItem> = navab::demo::demo_triples()
        .iter()
        .map(|t| t.to_preference())
        .collect();
    let (same, total) = same_decisions(&f32s, &bf16s, &demo, &["paper", "ab-first"]);
    println!("demo set: the same decision on {same} of {total}");
    assert!(
        same as f64 >= 0.99 * total as f64,
        "demo set: {same} of {total}"
    );

    // Per-token log-probabilities of the demo questions with their statements.
    let seqs: Vec<Vec<u32>> = demo
        .iter()
        .map(|item| {
            let text = format!("{}\nMy answer is {}", item.prompt, item.chosen);
            f32s.tokenizer().encode(&text, false).unwrap().ids
        })
        .collect();
    let (a, b) = (
        f32s.token_logprobs(&seqs).unwrap(),
        bf16s.token_logprobs(&seqs).unwrap(),
    );
    let diffs: Vec<f32> = a
        .iter()
        .zip(&b)
        .flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p - q).abs()))
        .collect();
    let mean = diffs.iter().sum::<f32>() / diffs.len() as f32;
    let max = diffs.iter().copied().fold(0f32, f32::max);
    println!(
        "per-token log-prob |bf16 − f32| over {} tokens: mean {mean:.4}, max {max:.4}",
        diffs.len()
    );
    assert!(mean < 0.05 && max < 1.0, "mean {mean}, max {max}");
    assert!(
        max > 0.0,
        "bf16 gave the f32 log-probabilities exactly: the bf16 path did not run"
    );

    let sample = navab::core::real_data!("navab-hk-sample");
    let items: Vec<PreferenceItem> = read_navab_dir(&sample, &ReadOptions::default())
        .unwrap()
        .items
        .iter()
        .map(|t| t.to_preference())
        .collect();
    let (same, total) = same_decisions(&f32s, &bf16s, &items, &["paper"]);
    println!("NaVAB sample: the same decision on {same} of {total}");
    assert!(
        same as f64 >= 0.99 * total as f64,
        "sample: {same} of {total}"
    );
}
