//! Running methods over items with a [`Scorer`].

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use navab_core::{PreferenceItem, Triple};

use crate::method::{ItemOutcome, Method, Plan};
use crate::scorer::{LogLikelihood, ScoreRequest, Scorer};
use crate::Error;

/// Options of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalOptions {
    /// Items whose requests (every method's, deduplicated) go to the scorer in one call. A failed
    /// call costs these items only. The scorer batches further as it likes.
    pub items_per_call: usize,
    /// Stop after this many failed calls in a row (a dead server), keeping what was done.
    pub max_consecutive_failures: usize,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            items_per_call: 8,
            max_consecutive_failures: 3,
        }
    }
}

/// One item under one method, as written to the item-level JSONL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemRecord {
    /// The item's id.
    pub item_id: String,
    /// The method's name.
    pub method: String,
    /// The item's metadata (`nation` and `set` for NaVAB triples).
    pub metadata: BTreeMap<String, String>,
    /// What happened.
    pub outcome: ItemOutcome,
}

impl ItemRecord {
    /// The item's nation (`metadata.nation`), if it has one.
    pub fn nation(&self) -> Option<&str> {
        self.metadata.get("nation").map(String::as_str)
    }

    /// The item's statement set (`metadata.set`), if it has one.
    pub fn set(&self) -> Option<&str> {
        self.metadata.get("set").map(String::as_str)
    }
}

/// An item that could not be scored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemFailure {
    /// The item's id.
    pub item_id: String,
    /// The method whose scores were unusable; `None` when the scorer call failed, which costs
    /// the item under every method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Why.
    pub reason: String,
}

/// Everything one evaluation produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRun {
    /// The scorer's name (the model).
    pub scorer: String,
    /// The methods, in the order asked.
    pub methods: Vec<Method>,
    /// One record per scored item and method, in item order then method order.
    pub records: Vec<ItemRecord>,
    /// Items (or item × method pairs) that could not be scored, in item order.
    pub failures: Vec<ItemFailure>,
    /// Set when the run stopped before the end, with the reason.
    pub stopped_early: Option<String>,
}

/// Scores every item under every method.
///
/// Items go to the scorer [`EvalOptions::items_per_call`] at a time, with every request of every
/// method for those items in one call; identical requests (`paper` and `paper-seq`, `acc` and
/// `acc-norm` share theirs) are sent once. When a call fails, or returns the wrong number of
/// results, its items are recorded as failures and the run goes on, so nothing already scored
/// is lost; after [`EvalOptions::max_consecutive_failures`] failed calls in a row the run stops,
/// every item not scored is listed as a failure and [`EvalRun::stopped_early`] says why. A
/// request the scorer refuses ([`Error::InvalidInput`]: a text over the model's context, say)
/// costs only its own item, and never counts toward that limit. An unusable score (NaN) costs
/// only that item under that method. A method listed twice counts once.
///
/// `progress(done, total)` is called after each call, with items; the last call has
/// `done == total`.
pub fn evaluate<S: Scorer + ?Sized>(
    scorer: &S,
    items: &[PreferenceItem],
    methods: &[Method],
    options: &EvalOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> EvalRun {
    evaluate_with(scorer, items, methods, options, progress, &mut |_, _, _| {
        Ok(())
    })
}

/// `methods` without repeats, first occurrence kept: a method listed twice would count every
/// item twice and narrow the intervals.
fn unique_methods(methods: &[Method]) -> Vec<Method> {
    let mut unique: Vec<Method> = Vec::with_capacity(methods.len());
    for m in methods {
        if !unique.contains(m) {
            unique.push(*m);
        }
    }
    unique
}

/// What [`evaluate_with`] hands its caller for each item whose scorer call succeeded: the item,
/// its records and its per-method failures. An error stops the run (the journal cannot be
/// written), keeping what was done.
pub(crate) type OnScored<'a> =
    dyn FnMut(&PreferenceItem, &[ItemRecord], &[ItemFailure]) -> Result<(), String> + 'a;

/// [`evaluate`], calling `on_scored` as each call's items finish (the resumable run's journal).
pub(crate) fn evaluate_with<S: Scorer + ?Sized>(
    scorer: &S,
    items: &[PreferenceItem],
    methods: &[Method],
    options: &EvalOptions,
    progress: &mut dyn FnMut(usize, usize),
    on_scored: &mut OnScored<'_>,
) -> EvalRun {
    let mut run = EvalRun {
        scorer: scorer.name(),
        methods: methods.to_vec(),
        records: Vec::new(),
        failures: Vec::new(),
        stopped_early: None,
    };
    let unique = unique_methods(methods);
    let methods = unique.as_slice();
    run.methods = unique.clone();
    let mut consecutive_failures = 0;
    let mut done = 0;
    let mut queue: std::collections::VecDeque<&[PreferenceItem]> =
        items.chunks(options.items_per_call.max(1)).collect();
    while let Some(chunk) = queue.pop_front() {
        let plans: Vec<Vec<Plan>> = chunk
            .iter()
            .map(|item| methods.iter().map(|m| m.plan(item)).collect())
            .collect();
        // Deduplicated within the call only: across calls repeats are rare (duplicate items),
        // and a run-wide cache would hold every prompt of the dataset in memory.
        let mut index: HashMap<&ScoreRequest, usize> = HashMap::new();
        let mut pending: Vec<ScoreRequest> = Vec::new();
        for request in plans.iter().flatten().flat_map(Plan::requests) {
            index.entry(request).or_insert_with(|| {
                pending.push(request.clone());
                pending.len() - 1
            });
        }
        let call = if pending.is_empty() {
            Ok(Vec::new())
        } else {
            scorer.score(&pending)
        };
        // A request the scorer refuses (longer than the model's context, say) is that item's
        // fault, not the scorer's: its chunk is scored again item by item, so only the refused
        // items are recorded, and refusals never count toward stopping the run.
        if let Err(Error::InvalidInput(message)) = &call {
            if chunk.len() > 1 {
                for k in (0..chunk.len()).rev() {
                    queue.push_front(&chunk[k..k + 1]);
                }
            } else {
                run.failures.push(ItemFailure {
                    item_id: chunk[0].id.clone(),
                    method: None,
                    reason: format!("invalid input: {message}"),
                });
                done += 1;
                progress(done, items.len());
            }
            continue;
        }
        let reason = match call {
            Ok(results) if results.len() == pending.len() => {
                consecutive_failures = 0;
                let mut journal_error = None;
                for (item, item_plans) in chunk.iter().zip(&plans) {
                    let (records_before, failures_before) = (run.records.len(), run.failures.len());
                    for plan in item_plans {
                        let scores: Vec<LogLikelihood> =
                            plan.requests().map(|r| results[index[r]]).collect();
                        match plan.outcome(&scores) {
                            Ok(outcome) => run.records.push(ItemRecord {
                                item_id: item.id.clone(),
                                method: plan.method.to_string(),
                                metadata: item.metadata.clone(),
                                outcome,
                            }),
                            Err(e) => run.failures.push(ItemFailure {
                                item_id: item.id.clone(),
                                method: Some(plan.method.to_string()),
                                reason: e.to_string(),
                            }),
                        }
                    }
                    if journal_error.is_none() {
                        journal_error = on_scored(
                            item,
                            &run.records[records_before..],
                            &run.failures[failures_before..],
                        )
                        .err();
                    }
                }
                if let Some(reason) = journal_error {
                    run.stopped_early = Some(reason);
                    progress(items.len(), items.len());
                    return run;
                }
                None
            }
            Ok(results) => Some(format!(
                "scorer returned {} results for {} requests",
                results.len(),
                pending.len()
            )),
            Err(e) => Some(e.to_string()),
        };
        done += chunk.len();
        if let Some(reason) = reason {
            consecutive_failures += 1;
            run.failures.extend(chunk.iter().map(|item| ItemFailure {
                item_id: item.id.clone(),
                method: None,
                reason: reason.clone(),
            }));
            if consecutive_failures >= options.max_consecutive_failures.max(1) {
                run.failures
                    .extend(items[done..].iter().map(|item| ItemFailure {
                        item_id: item.id.clone(),
                        method: None,
                        reason: "not scored: the run stopped early".into(),
                    }));
                run.stopped_early = Some(format!(
                    "{consecutive_failures} scorer calls failed in a row; last error: {reason}"
                ));
                progress(items.len(), items.len());
                return run;
            }
        }
        progress(done, items.len());
    }
    run
}

/// [`evaluate`] on NaVAB triples: each goes through [`Triple::to_preference`], so the records
/// carry `nation` and `set` in their metadata.
pub fn evaluate_triples<S: Scorer + ?Sized>(
    scorer: &S,
    triples: &[Triple],
    methods: &[Method],
    options: &EvalOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> EvalRun {
    let items: Vec<PreferenceItem> = triples.iter().map(Triple::to_preference).collect();
    evaluate(scorer, &items, methods, options, progress)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use navab_core::{Nation, StatementSet};

    use super::*;
    use crate::{Error, Result};

    fn items(n: usize) -> Vec<PreferenceItem> {
        (0..n)
            .map(|i| PreferenceItem {
                id: format!("item-{i}"),
                prompt: format!("Question {i}?"),
                chosen: format!("good {i}"),
                rejected: format!("bad {i}"),
                metadata: BTreeMap::new(),
            })
            .collect()
    }

    fn methods(names: &str) -> Vec<Method> {
        Method::parse_list(names).unwrap()
    }

    /// Likes text with "good" in it; for a letter, the text listed at that letter. Records
    /// every call it gets.
    #[derive(Default)]
    struct Recording {
        calls: Mutex<Vec<Vec<ScoreRequest>>>,
    }

    fn oracle_score(r: &ScoreRequest) -> LogLikelihood {
        let text = match r.continuation.trim() {
            letter @ ("A" | "B") => r
                .context
                .lines()
                .find(|l| l.starts_with(&format!("{letter}:")))
                .unwrap_or_default()
                .to_string(),
            _ => r.continuation.clone(),
        };
        LogLikelihood {
            context_logprob: -5.0,
            context_tokens: 5,
            continuation_logprob: if text.contains("good") { -1.0 } else { -3.0 },
            continuation_tokens: 2,
        }
    }

    impl Scorer for Recording {
        fn score(&self, requests: &[ScoreRequest]) -> Result<Vec<LogLikelihood>> {
            self.calls.lock().unwrap().push(requests.to_vec());
            Ok(requests.iter().map(oracle_score).collect())
        }
        fn name(&self) -> String {
            "recording".into()
        }
    }

    /// Refuses any request whose text holds "LONG", as a local scorer refuses a text over
    /// the model's context; scores the rest like the oracle.
    struct Refusing;

    impl Scorer for Refusing {
        fn score(&self, requests: &[ScoreRequest]) -> Result<Vec<LogLikelihood>> {
            if let Some(i) = requests.iter().position(|r| r.context.contains("LONG")) {
                return Err(Error::InvalidInput(format!(
                    "request {i}: over the context"
                )));
            }
            Ok(requests.iter().map(oracle_score).collect())
        }
        fn name(&self) -> String {
            "refusing".into()
        }
    }

    #[test]
    fn an_item_the_scorer_refuses_costs_only_itself_and_never_stops_the_run() {
        let mut all = items(12);
        // Three refused items in a row, more than max_consecutive_failures.
        for k in [4, 5, 6] {
            all[k].prompt = format!("LONG {}", all[k].prompt);
        }
        let run = evaluate(
            &Refusing,
            &all,
            &methods("paper"),
            &EvalOptions {
                items_per_call: 4,
                max_consecutive_failures: 2,
            },
            &mut |_, _| {},
        );
        assert!(run.stopped_early.is_none(), "{:?}", run.stopped_early);
        assert_eq!(run.records.len(), 9);
        let failed: Vec<&str> = run.failures.iter().map(|f| f.item_id.as_str()).collect();
        assert_eq!(failed, ["item-4", "item-5", "item-6"]);
        assert!(run.failures[0].reason.contains("over the context"));
    }

    #[test]
    fn a_method_listed_twice_counts_once() {
        let run = evaluate(
            &Recording::default(),
            &items(4),
            &methods("paper,acc,paper"),
            &EvalOptions::default(),
            &mut |_, _| {},
        );
        assert_eq!(run.methods, methods("paper,acc"));
        assert_eq!(run.records.len(), 4 * 2);
    }

    #[test]
    fn shared_requests_are_scored_once() {
        let scorer = Recording::default();
        let run = evaluate(
            &scorer,
            &items(3),
            &methods("paper,paper-seq,acc,acc-norm,ab-both"),
            &EvalOptions {
                items_per_call: 10,
                ..EvalOptions::default()
            },
            &mut |_, _| {},
        );
        let calls = scorer.calls.lock().unwrap();
        assert_eq!(calls.len(), 1);
        // Per item: paper 2 (shared with paper-seq) + harness 2 (shared) + ab-both 4.
        assert_eq!(calls[0].len(), 3 * 8);
        assert_eq!(run.records.len(), 3 * 5);
        assert!(run.records.iter().all(|r| r.outcome.correct));
        assert!(run.failures.is_empty() && run.stopped_early.is_none());
    }

    #[test]
    fn items_go_to_the_scorer_in_chunks_and_progress_is_reported() {
        let scorer = Recording::default();
        let mut seen = Vec::new();
        let run = evaluate(
            &scorer,
            &items(7),
            &methods("paper"),
            &EvalOptions {
                items_per_call: 3,
                ..EvalOptions::default()
            },
            &mut |done, total| seen.push((done, total)),
        );
        let sizes: Vec<usize> = scorer.calls.lock().unwrap().iter().map(Vec::len).collect();
        assert_eq!(sizes, [6, 6, 2]);
        assert_eq!(seen, [(3, 7), (6, 7), (7, 7)]);
        // Records stay in item order, then method order.
        let ids: Vec<&str> = run.records.iter().map(|r| r.item_id.as_str()).collect();
        assert_eq!(ids, (0..7).map(|i| format!("item-{i}")).collect::<Vec<_>>());
    }

    #[test]
    fn records_are_in_item_then_method_order() {
        let run = evaluate(
            &Recording::default(),
            &items(2),
            &methods("acc,paper"),
            &EvalOptions::default(),
            &mut |_, _| {},
        );
        let keys: Vec<(&str, &str)> = run
            .records
            .iter()
            .map(|r| (r.item_id.as_str(), r.method.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("item-0", "acc"),
                ("item-0", "paper"),
                ("item-1", "acc"),
                ("item-1", "paper")
            ]
        );
    }

    /// Fails any call that holds the item with this question; otherwise the oracle.
    struct FailsOn(&'static str);
    impl Scorer for FailsOn {
        fn score(&self, requests: &[ScoreRequest]) -> Result<Vec<LogLikelihood>> {
            if requests.iter().any(|r| r.context.contains(self.0)) {
                return Err(Error::Scorer("HTTP 500".into()));
            }
            Ok(requests.iter().map(oracle_score).collect())
        }
        fn name(&self) -> String {
            "flaky".into()
        }
    }

    #[test]
    fn a_failed_call_costs_only_its_own_items() {
        let run = evaluate(
            &FailsOn("Question 5?"),
            &items(10),
            &methods("paper,acc"),
            &EvalOptions {
                items_per_call: 2,
                max_consecutive_failures: 2,
            },
            &mut |_, _| {},
        );
        let failed: Vec<(&str, Option<&str>)> = run
            .failures
            .iter()
            .map(|f| (f.item_id.as_str(), f.method.as_deref()))
            .collect();
        assert_eq!(failed, [("item-4", None), ("item-5", None)]);
        assert!(run.failures[0].reason.contains("HTTP 500"));
        assert_eq!(run.records.len(), 8 * 2);
        assert!(run.stopped_early.is_none());
    }

    #[test]
    fn a_dead_scorer_stops_the_run_and_every_item_is_accounted_for() {
        let mut last = None;
        let run = evaluate(
            &FailsOn("Question"),
            &items(20),
            &methods("paper"),
            &EvalOptions {
                items_per_call: 4,
                max_consecutive_failures: 3,
            },
            &mut |done, total| last = Some((done, total)),
        );
        assert!(run.records.is_empty());
        assert_eq!(run.failures.len(), 20);
        assert!(run.failures[..12]
            .iter()
            .all(|f| f.reason.contains("HTTP 500")));
        assert!(run.failures[12..]
            .iter()
            .all(|f| f.reason.contains("stopped early")));
        let ids: Vec<String> = run.failures.iter().map(|f| f.item_id.clone()).collect();
        assert_eq!(
            ids,
            (0..20).map(|i| format!("item-{i}")).collect::<Vec<_>>()
        );
        let why = run.stopped_early.unwrap();
        assert!(
            why.contains("3 scorer calls") && why.contains("HTTP 500"),
            "{why}"
        );
        assert_eq!(last, Some((20, 20)));
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        // Items 0-1 and 4-5 fail, 2-3 succeed: never two failures in a row.
        struct Alternating;
        impl Scorer for Alternating {
            fn score(&self, requests: &[ScoreRequest]) -> Result<Vec<LogLikelihood>> {
                if requests.iter().any(|r| r.context.contains("Question 2?")) {
                    Ok(requests.iter().map(oracle_score).collect())
                } else {
                    Err(Error::Scorer("busy".into()))
                }
            }
            fn name(&self) -> String {
                "alternating".into()
            }
        }
        let run = evaluate(
            &Alternating,
            &items(6),
            &methods("paper"),
            &EvalOptions {
                items_per_call: 2,
                max_consecutive_failures: 2,
            },
            &mut |_, _| {},
        );
        assert!(run.stopped_early.is_none());
        assert_eq!(run.records.len(), 2);
        assert_eq!(run.failures.len(), 4);
    }

    #[test]
    fn wrong_result_counts_and_nan_scores_are_failures() {
        struct Short;
        impl Scorer for Short {
            fn score(&self, requests: &[ScoreRequest]) -> Result<Vec<LogLikelihood>> {
                Ok(requests.iter().skip(1).map(oracle_score).collect())
            }
            fn name(&self) -> String {
                "short".into()
            }
        }
        let run = evaluate(
            &Short,
            &items(2),
            &methods("paper"),
            &EvalOptions::default(),
            &mut |_, _| {},
        );
        assert_eq!(run.failures.len(), 2);
        assert!(run.failures[0].reason.contains("3 results for 4 requests"));

        // NaN only on the harness continuation: paper still counts, acc fails for that item.
        struct NanOnHarness;
        impl Scorer for NanOnHarness {
            fn score(&self, requests: &[ScoreRequest]) -> Result<Vec<LogLikelihood>> {
                Ok(requests
                    .iter()
                    .map(|r| {
                        let mut ll = oracle_score(r);
                        if r.context.starts_with("Question: Question 1?") {
                            ll.continuation_logprob = f64::NAN;
                        }
                        ll
                    })
                    .collect())
            }
            fn name(&self) -> String {
                "nan".into()
            }
        }
        let run = evaluate(
            &NanOnHarness,
            &items(3),
            &methods("paper,acc"),
            &EvalOptions::default(),
            &mut |_, _| {},
        );
        assert_eq!(run.records.len(), 5);
        assert_eq!(run.failures.len(), 1);
        assert_eq!(run.failures[0].item_id, "item-1");
        assert_eq!(run.failures[0].method.as_deref(), Some("acc"));
    }

    #[test]
    fn empty_input_or_no_methods_call_nothing() {
        let scorer = Recording::default();
        let mut progress = Vec::new();
        let run = evaluate(
            &scorer,
            &[],
            &methods("paper"),
            &EvalOptions::default(),
            &mut |d, t| progress.push((d, t)),
        );
        assert!(run.records.is_empty() && run.failures.is_empty());
        assert!(progress.is_empty());
        let run = evaluate(
            &scorer,
            &items(3),
            &[],
            &EvalOptions::default(),
            &mut |_, _| {},
        );
        assert!(run.records.is_empty() && run.failures.is_empty());
        assert!(scorer.calls.lock().unwrap().is_empty());
    }

    #[test]
    fn zero_options_are_treated_as_one() {
        let run = evaluate(
            &FailsOn("Question"),
            &items(3),
            &methods("paper"),
            &EvalOptions {
                items_per_call: 0,
                max_consecutive_failures: 0,
            },
            &mut |_, _| {},
        );
        // One item per call, stop after the first failure.
        assert_eq!(run.failures.len(), 3);
        assert!(run.failures[1].reason.contains("stopped early"));
        assert!(run.stopped_early.is_some());
    }

    #[test]
    fn triples_carry_nation_and_set() {
        let triple = Triple {
            id: "UK/quoted/00000".into(),
            nation: Nation::UnitedKingdom,
            set: StatementSet::Quoted,
            question: "Question 0?".into(),
            statement: "good".into(),
            reverse_statement: "bad".into(),
            source: None,
            raw_news: None,
        };
        let run = evaluate_triples(
            &Recording::default(),
            &[triple],
            &methods("paper"),
            &EvalOptions::default(),
            &mut |_, _| {},
        );
        assert_eq!(run.records[0].nation(), Some("UK"));
        assert_eq!(run.records[0].set(), Some("Quoted"));
        assert!(run.records[0].outcome.correct);
    }

    #[test]
    fn records_round_trip_through_json() {
        let run = evaluate(
            &Recording::default(),
            &items(2),
            &methods("ab-both,acc-norm"),
            &EvalOptions::default(),
            &mut |_, _| {},
        );
        for record in &run.records {
            let line = serde_json::to_string(record).unwrap();
            assert!(!line.contains('\n'));
            let back: ItemRecord = serde_json::from_str(&line).unwrap();
            // Perplexities may come back one ULP off (serde_json's default float parsing), so
            // compare what the reports read.
            assert_eq!(
                (&back.item_id, &back.method, &back.metadata),
                (&record.item_id, &record.method, &record.metadata)
            );
            assert_eq!(back.outcome.correct, record.outcome.correct);
            let choices = |r: &ItemRecord| -> Vec<(Option<String>, Option<String>, Option<bool>)> {
                r.outcome
                    .decisions
                    .iter()
                    .map(|d| (d.order.clone(), d.choice.clone(), d.chose_first))
                    .collect()
            };
            assert_eq!(choices(&back), choices(record));
        }
    }
}
