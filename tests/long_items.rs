//! Items far past the model's context among normal ones: the normal ones are scored, the long
//! ones recorded as failures naming the limit, and memory stays bounded (the 10 MB item is
//! refused before the tokenizer sees it; batches are cut by a token budget). Its own test
//! binary, so that the process's peak memory is this test's.

mod common;

use std::collections::BTreeMap;

use navab::core::PreferenceItem;
use navab::eval::{evaluate, EvalOptions, LocalScorer, Method};
use navab::lm::LoadOptions;

fn item(id: &str, prompt: String) -> PreferenceItem {
    PreferenceItem {
        id: id.into(),
        prompt,
        chosen: "Public services should be funded.".into(),
        rejected: "Public services should not be funded.".into(),
        metadata: BTreeMap::new(),
    }
}

/// Peak resident memory of this process (Linux), in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[test]
fn a_10_mb_item_and_a_9k_token_item_are_recorded_and_the_rest_scored() {
    let model = common::smollm2(&LoadOptions::cpu());
    let context = model.config().max_position_embeddings;
    let mut items: Vec<PreferenceItem> = (0..12)
        .map(|i| {
            item(
                &format!("normal-{i}"),
                format!("Should the state fund service number {i}?"),
            )
        })
        .collect();
    items.insert(
        3,
        item("ten-megabytes", "tax ".repeat(10 * 1024 * 1024 / 4)),
    );
    // About 9,000 tokens: past SmolLM2's 8,192.
    items.insert(9, item("nine-k-tokens", "word ".repeat(context + 800)));

    let run = evaluate(
        &LocalScorer::new(model, 8),
        &items,
        &["paper".parse::<Method>().unwrap()],
        &EvalOptions {
            items_per_call: 8,
            ..EvalOptions::default()
        },
        &mut |_, _| {},
    );
    assert!(run.stopped_early.is_none(), "{:?}", run.stopped_early);
    let scored: Vec<&str> = run.records.iter().map(|r| r.item_id.as_str()).collect();
    assert_eq!(scored.len(), 12, "{scored:?}");
    assert!(scored.iter().all(|id| id.starts_with("normal-")));
    let failed: Vec<&str> = run.failures.iter().map(|f| f.item_id.as_str()).collect();
    assert_eq!(failed, ["ten-megabytes", "nine-k-tokens"]);
    for f in &run.failures {
        assert!(f.reason.contains(&context.to_string()), "{}", f.reason);
    }
    if let Some(peak) = peak_rss() {
        eprintln!("peak RSS {:.2} GB", peak as f64 / 1e9);
        assert!(peak < 2 << 30, "peak RSS {peak} bytes");
    }
}
