//! Decision logic, position bias, failures and reports, with deterministic fake scorers.

use std::collections::BTreeMap;

use navab_core::PreferenceItem;
use navab_eval::*;

fn items(n: usize) -> Vec<PreferenceItem> {
    (0..n)
        .map(|i| {
            let mut metadata = BTreeMap::new();
            metadata.insert("nation".into(), ["China", "US", "UK"][i % 3].to_string());
            metadata.insert("set".into(), ["Quoted", "Official"][i % 2].to_string());
            metadata.insert("country".into(), ["Kenya", "Brazil"][i % 2].to_string());
            PreferenceItem {
                id: format!("item-{i}"),
                prompt: format!("Question number {i}?"),
                chosen: format!("good answer {i}"),
                rejected: format!("bad answer {i}"),
                metadata,
            }
        })
        .collect()
}

fn ll(continuation_logprob: f64, continuation_tokens: usize) -> LogLikelihood {
    LogLikelihood {
        context_logprob: -10.0,
        context_tokens: 5,
        continuation_logprob,
        continuation_tokens,
    }
}

/// Knows the right answer: text with "good" is likely; for a letter, looks up what it holds.
struct Oracle;
impl Scorer for Oracle {
    fn score(&self, requests: &[ScoreRequest]) -> Result<Vec<LogLikelihood>> {
        Ok(requests
            .iter()
            .map(|r| {
                let text = match r.continuation.trim() {
                    letter @ ("A" | "B") => r
                        .context
                        .lines()
                        .find(|l| l.starts_with(&format!("{letter}:")))
                        .unwrap_or("")
                        .to_string(),
                    _ => r.continuation.clone(),
                };
                ll(if text.contains("good") { -1.0 } else { -4.0 }, 2)
            })
            .collect())
    }
    fn name(&self) -> String {
        "oracle".into()
    }
}

/// Always prefers the letter A, and otherwise has no opinion.
struct AlwaysA;
impl Scorer for AlwaysA {
    fn score(&self, requests: &[ScoreRequest]) -> Result<Vec<LogLikelihood>> {
        Ok(requests
            .iter()
            .map(|r| ll(if r.continuation == " A" { -0.1 } else { -3.0 }, 1))
            .collect())
    }
    fn name(&self) -> String {
        "always-a".into()
    }
}

fn methods(names: &[&str]) -> Vec<Method> {
    names.iter().map(|n| n.parse().unwrap()).collect()
}

fn accuracy(run: &EvalRun, method: &str) -> f64 {
    let records: Vec<_> = run.records.iter().filter(|r| r.method == method).collect();
    records.iter().filter(|r| r.outcome.correct).count() as f64 / records.len() as f64
}

#[test]
fn an_oracle_is_always_right_and_unbiased() {
    let all = methods(&[
        "paper",
        "paper-seq",
        "ab-first",
        "ab-swap",
        "ab-both",
        "acc",
        "acc-norm",
    ]);
    let run = evaluate(
        &Oracle,
        &items(40),
        &all,
        &EvalOptions::default(),
        &mut |_, _| {},
    );
    assert!(run.failures.is_empty());
    assert_eq!(run.records.len(), 40 * all.len());
    for m in &all {
        assert_eq!(accuracy(&run, &m.to_string()), 1.0, "{m}");
    }
    let summary = Summary::from_run(&run);
    let swap_rows: Vec<_> = summary
        .rows
        .iter()
        .filter(|r| r.method == "ab-swap")
        .collect();
    let decisions: usize = swap_rows
        .iter()
        .map(|r| r.chose_a.as_ref().unwrap().n)
        .sum();
    let chose_a: usize = swap_rows
        .iter()
        .map(|r| r.chose_a.as_ref().unwrap().correct)
        .sum();
    let swapped = items(40).iter().filter(|i| is_swapped(&i.id)).count();
    assert_eq!(decisions, 40);
    assert_eq!(
        chose_a,
        40 - swapped,
        "an unbiased oracle picks A exactly when S is at A"
    );
}

#[test]
fn position_bias_is_exposed() {
    let data = items(75);
    let run = evaluate(
        &AlwaysA,
        &data,
        &methods(&["ab-first", "ab-swap", "ab-both"]),
        &EvalOptions::default(),
        &mut |_, _| {},
    );
    let s_at_a = data.iter().filter(|i| !is_swapped(&i.id)).count();
    assert!(
        s_at_a > 20 && s_at_a < 55,
        "about half the items are swapped: {s_at_a}"
    );
    // "With S always at A, 75/75; with half swapped, exactly the items where S sits at A."
    assert_eq!(accuracy(&run, "ab-first"), 1.0);
    assert_eq!(accuracy(&run, "ab-swap"), s_at_a as f64 / 75.0);
    assert_eq!(accuracy(&run, "ab-both"), 0.0);
    let summary = Summary::from_run(&run);
    for row in summary.rows.iter().filter(|r| r.method != "ab-first") {
        assert_eq!(row.chose_a.as_ref().unwrap().rate, 1.0, "{row:?}");
    }
    let swap: Vec<_> = summary
        .rows
        .iter()
        .filter(|r| r.method == "ab-swap")
        .collect();
    assert!(swap
        .iter()
        .all(|r| r.accuracy_s_at_a.as_ref().is_none_or(|a| a.rate == 1.0)));
    assert!(swap
        .iter()
        .all(|r| r.accuracy_s_at_b.as_ref().is_none_or(|b| b.rate == 0.0)));
}

#[test]
fn swapped_half_does_not_depend_on_item_order() {
    let data = items(200);
    let mut reversed = data.clone();
    reversed.reverse();
    let plan =
        |item: &PreferenceItem| "ab-swap".parse::<Method>().unwrap().plan(item).decisions[0].order;
    for item in &reversed {
        assert_eq!(
            plan(item),
            if is_swapped(&item.id) {
                Some("S=B")
            } else {
                Some("S=A")
            }
        );
    }
    let swapped = data.iter().filter(|i| is_swapped(&i.id)).count();
    assert!((70..=130).contains(&swapped), "{swapped} of 200 swapped");
}

#[test]
fn acc_and_acc_norm_can_disagree() {
    // S is long and cheap per character, RS short and expensive.
    struct Lengthy;
    impl Scorer for Lengthy {
        fn score(&self, requests: &[ScoreRequest]) -> Result<Vec<LogLikelihood>> {
            Ok(requests
                .iter()
                .map(|r| {
                    let per_char = if r.continuation.contains("good") {
                        0.1
                    } else {
                        0.5
                    };
                    ll(-per_char * r.continuation.chars().count() as f64, 3)
                })
                .collect())
        }
        fn name(&self) -> String {
            "lengthy".into()
        }
    }
    let item = PreferenceItem {
        id: "x".into(),
        prompt: "Q?".into(),
        chosen: "good: a long and carefully argued statement of the stance".into(),
        rejected: "no".into(),
        metadata: BTreeMap::new(),
    };
    let run = evaluate(
        &Lengthy,
        &[item],
        &methods(&["acc", "acc-norm"]),
        &EvalOptions::default(),
        &mut |_, _| {},
    );
    assert!(
        !run.records[0].outcome.correct,
        "acc prefers the short option"
    );
    assert!(
        run.records[1].outcome.correct,
        "acc-norm corrects for length"
    );
}

#[test]
fn ties_count_as_wrong_and_are_flagged() {
    struct Flat;
    impl Scorer for Flat {
        fn score(&self, requests: &[ScoreRequest]) -> Result<Vec<LogLikelihood>> {
            Ok(requests.iter().map(|_| ll(-2.0, 2)).collect())
        }
        fn name(&self) -> String {
            "flat".into()
        }
    }
    let run = evaluate(
        &Flat,
        &items(3),
        &methods(&["paper"]),
        &EvalOptions::default(),
        &mut |_, _| {},
    );
    assert!(run
        .records
        .iter()
        .all(|r| !r.outcome.correct && r.outcome.tie));
}

#[test]
fn scorer_failures_are_recorded_without_losing_other_items() {
    struct Flaky;
    impl Scorer for Flaky {
        fn score(&self, requests: &[ScoreRequest]) -> Result<Vec<LogLikelihood>> {
            if requests.iter().any(|r| r.context.contains("number 5?")) {
                return Err(Error::Scorer("HTTP 500".into()));
            }
            Oracle.score(requests)
        }
        fn name(&self) -> String {
            "flaky".into()
        }
    }
    let options = EvalOptions {
        items_per_call: 2,
        max_consecutive_failures: 3,
    };
    let mut calls = Vec::new();
    let run = evaluate(
        &Flaky,
        &items(10),
        &methods(&["paper"]),
        &options,
        &mut |done, total| calls.push((done, total)),
    );
    let failed: Vec<&str> = run.failures.iter().map(|f| f.item_id.as_str()).collect();
    assert_eq!(failed, ["item-4", "item-5"]);
    assert!(run.failures[0].reason.contains("HTTP 500"));
    assert_eq!(run.records.len(), 8);
    assert!(run.stopped_early.is_none());
    assert_eq!(calls.last(), Some(&(10, 10)));

    struct Dead;
    impl Scorer for Dead {
        fn score(&self, _: &[ScoreRequest]) -> Result<Vec<LogLikelihood>> {
            Err(Error::Scorer("connection refused".into()))
        }
        fn name(&self) -> String {
            "dead".into()
        }
    }
    let run = evaluate(
        &Dead,
        &items(20),
        &methods(&["paper"]),
        &options,
        &mut |_, _| {},
    );
    assert!(run
        .stopped_early
        .as_deref()
        .unwrap()
        .contains("connection refused"));
    assert_eq!(run.failures.len(), 20, "every item is accounted for");
}

#[test]
fn wilson_interval_matches_known_values() {
    let (lo, hi) = wilson_interval(8, 10);
    assert!(
        (lo - 0.4902).abs() < 1e-4 && (hi - 0.9433).abs() < 1e-4,
        "{lo} {hi}"
    );
    let (lo, hi) = wilson_interval(0, 20);
    assert!(lo == 0.0 && (hi - 0.1611).abs() < 1e-4, "{lo} {hi}");
    assert_eq!(wilson_interval(0, 0), (0.0, 1.0));
}

#[test]
fn reports_are_byte_identical_and_grouping_has_a_spread() {
    // Right on Kenya (even items), wrong on Brazil: a 1.0 spread.
    struct KenyaOnly;
    impl Scorer for KenyaOnly {
        fn score(&self, requests: &[ScoreRequest]) -> Result<Vec<LogLikelihood>> {
            Ok(requests
                .iter()
                .map(|r| {
                    let n: usize = r
                        .context
                        .split_whitespace()
                        .nth(2)
                        .unwrap()
                        .trim_end_matches('?')
                        .parse()
                        .unwrap();
                    let good = r.continuation.contains("good");
                    ll(
                        if good == n.is_multiple_of(2) {
                            -1.0
                        } else {
                            -3.0
                        },
                        2,
                    )
                })
                .collect())
        }
        fn name(&self) -> String {
            "kenya-only".into()
        }
    }
    let data = items(12);
    let run = evaluate(
        &KenyaOnly,
        &data,
        &methods(&["paper"]),
        &EvalOptions::default(),
        &mut |_, _| {},
    );
    let groups = group_by(&run, "country", 1);
    let spread = groups[0].spread.as_ref().unwrap();
    assert_eq!(
        (spread.best.0.as_str(), spread.worst.0.as_str(), spread.gap),
        ("Kenya", "Brazil", 1.0)
    );
    assert!(
        group_by(&run, "country", 100)[0].spread.is_none(),
        "groups below the minimum size are left out"
    );

    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let fields = vec!["country".to_string()];
    write_reports(a.path(), &run, &fields, 1).unwrap();
    let run2 = evaluate(
        &KenyaOnly,
        &data,
        &methods(&["paper"]),
        &EvalOptions::default(),
        &mut |_, _| {},
    );
    write_reports(b.path(), &run2, &fields, 1).unwrap();
    for f in [
        "items.jsonl",
        "summary.json",
        "summary.csv",
        "table.md",
        "groups.json",
    ] {
        assert_eq!(
            std::fs::read(a.path().join(f)).unwrap(),
            std::fs::read(b.path().join(f)).unwrap(),
            "{f}"
        );
    }
    let table = std::fs::read_to_string(a.path().join("table.md")).unwrap();
    assert!(table.contains("Quoted Statements") && table.contains("Official Statements"));
    let header = table.lines().find(|l| l.starts_with("| Method")).unwrap();
    assert!(
        header.find("China").unwrap() < header.find("US").unwrap()
            && header.find("US").unwrap() < header.find("UK").unwrap()
    );
    let items_lines = std::fs::read_to_string(a.path().join("items.jsonl")).unwrap();
    assert_eq!(items_lines.lines().count(), 12);
}

#[test]
fn empty_input_gives_an_empty_report() {
    let run = evaluate(
        &Oracle,
        &[],
        &methods(&["paper"]),
        &EvalOptions::default(),
        &mut |_, _| {},
    );
    let summary = Summary::from_run(&run);
    assert!(summary.rows.is_empty());
    assert!(!summary.text_table().contains("NaN"));
    let dir = tempfile::tempdir().unwrap();
    write_reports(dir.path(), &run, &["country".into()], 1).unwrap();
    assert!(!std::fs::read_to_string(dir.path().join("summary.json"))
        .unwrap()
        .contains("NaN"));
}

#[test]
fn method_names_round_trip_and_unknown_names_are_errors() {
    for (method, _) in Method::catalogue() {
        assert_eq!(method.to_string().parse::<Method>().unwrap(), method);
    }
    let err = "mc".parse::<Method>().unwrap_err().to_string();
    assert!(
        err.contains("unknown method") && err.contains("paper"),
        "{err}"
    );
}
