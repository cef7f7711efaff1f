//! A resumable run killed mid-way (a scorer that panics after some calls) and run again into the
//! same journal: only the missing items are scored and the reports are byte-identical to an
//! uninterrupted run's; a torn last line is cut off; another scorer's journal is refused.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use navab_core::PreferenceItem;
use navab_eval::{
    evaluate_resumable, write_reports, EvalOptions, LogLikelihood, Method, Result, ScoreRequest,
    Scorer,
};

/// Prefers "good" text; the score also depends on the text's bytes so that floats are not
/// round. Panics on call number `die_at` (a kill); counts the items it saw.
struct Oracle {
    calls: AtomicUsize,
    die_at: usize,
    name: &'static str,
}

impl Oracle {
    fn new(die_at: usize) -> Self {
        Self {
            calls: AtomicUsize::new(0),
            die_at,
            name: "oracle",
        }
    }
}

impl Scorer for Oracle {
    fn score(&self, requests: &[ScoreRequest]) -> Result<Vec<LogLikelihood>> {
        if self.calls.fetch_add(1, Ordering::SeqCst) + 1 == self.die_at {
            panic!("killed mid-run");
        }
        Ok(requests
            .iter()
            .map(|r| {
                let bytes: u32 = r.continuation.bytes().map(u32::from).sum();
                let good = r.continuation.contains("good")
                    || r.context.lines().any(|l| {
                        l.ends_with("good") && l.starts_with(&format!("{}:", r.continuation.trim()))
                    });
                LogLikelihood {
                    context_logprob: -5.0 - f64::from(bytes) / 997.0,
                    context_tokens: 5,
                    continuation_logprob: if good { -1.0 } else { -3.0 } - f64::from(bytes) / 1e4,
                    continuation_tokens: 2,
                }
            })
            .collect())
    }
    fn name(&self) -> String {
        self.name.into()
    }
}

fn items(n: usize) -> Vec<PreferenceItem> {
    (0..n)
        .map(|i| PreferenceItem {
            id: format!("item-{i:03}"),
            prompt: format!("Question {i}: is this good?"),
            chosen: format!("good answer {i}"),
            rejected: format!("bad answer {}", i * 7),
            metadata: BTreeMap::from([("nation".to_string(), ["US", "UK"][i % 2].to_string())]),
        })
        .collect()
}

fn report_bytes(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "progress.jsonl")
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn killed_run_resumes_scoring_only_what_is_missing_with_identical_reports() {
    let items = items(40);
    let methods = Method::parse_list("paper,ab-swap,acc-norm").unwrap();
    let options = EvalOptions {
        items_per_call: 4,
        ..EvalOptions::default()
    };

    // Uninterrupted.
    let whole = tempfile::tempdir().unwrap();
    let scorer = Oracle::new(0);
    let journal = whole.path().join("progress.jsonl");
    let run = evaluate_resumable(
        &scorer,
        &items,
        &methods,
        &options,
        &journal,
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(scorer.calls.load(Ordering::SeqCst), 10);
    assert_eq!(run.records.len(), 40 * 3);
    write_reports(whole.path(), &run, &[], 5).unwrap();

    // Killed during its 6th call: 5 calls (20 items) are in the journal.
    let resumed = tempfile::tempdir().unwrap();
    let journal = resumed.path().join("progress.jsonl");
    let dying = Oracle::new(6);
    let killed = catch_unwind(AssertUnwindSafe(|| {
        evaluate_resumable(&dying, &items, &methods, &options, &journal, &mut |_, _| {})
    }));
    assert!(killed.is_err());
    let lines = std::fs::read_to_string(&journal).unwrap().lines().count();
    assert_eq!(lines, 1 + 20, "header + one line per finished item");
    // And a write torn by the kill: half a line at the end.
    let mut text = std::fs::read_to_string(&journal).unwrap();
    text.push_str("{\"item_id\": \"item-020\", \"reco");
    std::fs::write(&journal, text).unwrap();

    let again = Oracle::new(0);
    let mut last = (0, 0);
    let run = evaluate_resumable(&again, &items, &methods, &options, &journal, &mut |d, t| {
        last = (d, t)
    })
    .unwrap();
    assert_eq!(
        again.calls.load(Ordering::SeqCst),
        5,
        "only the 20 missing items"
    );
    assert_eq!(last, (40, 40));
    write_reports(resumed.path(), &run, &[], 5).unwrap();
    assert_eq!(report_bytes(whole.path()), report_bytes(resumed.path()));

    // A third run scores nothing and changes nothing.
    let idle = Oracle::new(1);
    let run =
        evaluate_resumable(&idle, &items, &methods, &options, &journal, &mut |_, _| {}).unwrap();
    assert_eq!(idle.calls.load(Ordering::SeqCst), 0);
    write_reports(resumed.path(), &run, &[], 5).unwrap();
    assert_eq!(report_bytes(whole.path()), report_bytes(resumed.path()));

    // Another scorer (or other methods) into the same journal is refused, not mixed.
    let other = Oracle {
        name: "another-model",
        ..Oracle::new(0)
    };
    let err = evaluate_resumable(&other, &items, &methods, &options, &journal, &mut |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("another-model") && err.contains("oracle"),
        "{err}"
    );
    let fewer = Method::parse_list("paper").unwrap();
    assert!(
        evaluate_resumable(&again, &items, &fewer, &options, &journal, &mut |_, _| {}).is_err()
    );
}
