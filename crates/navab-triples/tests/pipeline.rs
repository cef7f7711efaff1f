//! Failures, the DPO split and writers, verification sheets and the LLM relation judge, on
//! hand-made inputs and messy replies.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use navab_conflict::{
    reduce_conflicts, Article, CandidatePair, ConflictParams, Corpus, Relation, RelationJudge,
    Statement,
};
use navab_core::{
    read_navab_dir, read_preferences_jsonl, Nation, PreferenceFields, ReadOptions, StatementSet,
    Triple,
};
use navab_llm::testing::ScriptedChatModel;
use navab_llm::{BoxFuture, ChatModel, ChatRequest, ChatResponse};
use navab_triples::{
    block_on, build_triples, dpo_pairs, judge_sources, read_sheet, sample_for_verification,
    split_train_test, validate_all, verification_rates, write_dpo_dataset, write_navab,
    write_sheet_csv, write_sheet_jsonl, write_trl, BuildParams, Error, ExtractedStatement, Issue,
    JudgedStatement, LlmRelationJudge, RunParams, SplitParams, TrlStyle, ValidationParams,
    VerificationParams,
};
use serde_json::Value;

fn triple(nation: Nation, set: StatementSet, i: usize) -> Triple {
    Triple {
        id: Triple::navab_id(&nation, set, i),
        nation,
        set,
        question: format!("Should rule {i} stay?"),
        statement: format!("Rule {i} should stay."),
        reverse_statement: format!("Rule {i} should not stay."),
        source: None,
        raw_news: Some(format!(
            "News text about rule {i}, with a comma and \"quotes\"."
        )),
    }
}

fn many() -> Vec<Triple> {
    let mut out = Vec::new();
    for (nation, n) in [
        (Nation::China, 40),
        (Nation::UnitedStates, 23),
        (Nation::France, 7),
    ] {
        for set in StatementSet::ALL {
            for i in 0..n {
                out.push(triple(nation.clone(), set, i));
            }
        }
    }
    out
}

// --- failures -------------------------------------------------------------------------------

#[test]
fn step_failures_are_recorded_with_the_raw_reply_never_dropped() {
    let statements: Vec<_> = (0..4)
        .map(|i| ExtractedStatement::new(format!("s{i}"), Nation::UnitedKingdom, format!("S {i}.")))
        .collect();
    let model =
        ScriptedChatModel::new(["## Unknown", "I cannot tell, sorry, it is unclear to me."])
            .with_failure("HTTP 503")
            .with_reply("**Source:** the mayor");
    let judged = block_on(judge_sources(&model, &statements, &RunParams::default())).unwrap();
    let ids: Vec<_> = judged
        .items
        .iter()
        .map(|j| j.statement.id.as_str())
        .collect();
    assert_eq!(ids, ["s0", "s3"]);
    assert_eq!(judged.items[1].speaker.as_deref(), Some("the mayor"));
    assert_eq!(judged.failures.len(), 2);
    let parse = &judged.failures[0];
    assert_eq!((parse.index, parse.id.as_str()), (1, "s1"));
    assert_eq!(parse.step, "source_judgment");
    assert_eq!(
        parse.raw_reply.as_deref(),
        Some("I cannot tell, sorry, it is unclear to me.")
    );
    let call = &judged.failures[1];
    assert_eq!((call.index, call.raw_reply.as_deref()), (2, None));
    assert!(call.reason.contains("HTTP 503"), "{}", call.reason);

    // Triple construction: a reply missing RS fails alone; ids count the built triples only.
    let judged: Vec<JudgedStatement> = statements
        .iter()
        .map(|s| JudgedStatement {
            statement: s.clone(),
            set: StatementSet::Official,
            speaker: None,
            raw_reply: "## unknown".into(),
        })
        .collect();
    let model = ScriptedChatModel::new([
        "Q: Q0? ## S: S 0. ## RS: Not S 0.",
        "Q: Q1? ## S: S 1.",
        "**Question:** Q2?\n**Statement:** S 2.\n**Reverse statement:** Not S 2.",
        "q：Q3？ ## s：S 3. ## rs：Not S 3.",
    ]);
    let built = block_on(build_triples(&model, &judged, &BuildParams::default())).unwrap();
    let ids: Vec<_> = built.items.iter().map(|b| b.triple.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "UK/official/00000",
            "UK/official/00001",
            "UK/official/00002"
        ]
    );
    assert_eq!(built.items[1].statement_id, "s2");
    assert_eq!(built.failures.len(), 1);
    assert_eq!(built.failures[0].id, "s1");
    assert!(
        built.failures[0].reason.contains("RS"),
        "{}",
        built.failures[0].reason
    );
    assert_eq!(built.items[2].triple.question, "Q3？");
}

#[test]
fn zero_concurrency_is_refused() {
    let model = ScriptedChatModel::new(Vec::<String>::new());
    let err = block_on(judge_sources(
        &model,
        &[],
        &RunParams::default().with_concurrency(0),
    ))
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidParam {
                name: "concurrency",
                ..
            }
        ),
        "{err}"
    );
}

/// A model that answers by what the statement says, whatever order the calls come in; counts
/// calls in flight.
struct KeyedModel {
    answers: Vec<(&'static str, &'static str)>,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
}

impl KeyedModel {
    fn new(answers: Vec<(&'static str, &'static str)>) -> Self {
        Self {
            answers,
            in_flight: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }
}

/// Pending once, then ready: lets a concurrent runner start other calls meanwhile.
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            std::task::Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

impl ChatModel for KeyedModel {
    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, navab_llm::Result<ChatResponse>> {
        Box::pin(async move {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            YieldOnce(false).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            let question = &request.messages.last().expect("a message").content;
            // The pair's statements are the last user message; the keys name both.
            self.answers
                .iter()
                .find(|(key, _)| key.split('|').all(|part| question.contains(part)))
                .map(|(_, reply)| ChatResponse::new(*reply))
                .ok_or_else(|| navab_llm::Error::Backend {
                    backend: "keyed".into(),
                    message: format!("no answer for {question:?}"),
                })
        })
    }
}

#[test]
fn source_judgment_runs_calls_concurrently_up_to_the_limit() {
    let statements: Vec<_> = (0..10)
        .map(|i| ExtractedStatement::new(format!("s{i}"), Nation::Germany, format!("Aussage {i}.")))
        .collect();
    let model = KeyedModel::new(vec![("Aussage", "## Unbekannt")]);
    let judged = block_on(judge_sources(
        &model,
        &statements,
        &RunParams::default().with_concurrency(3),
    ))
    .unwrap();
    assert_eq!(judged.items.len(), 10);
    assert!(judged.items.iter().all(|j| j.set == StatementSet::Official));
    assert_eq!(model.peak.load(Ordering::SeqCst), 3);
}

// --- validation -----------------------------------------------------------------------------

#[test]
fn hand_made_bad_triples_fail_and_are_excluded() {
    let good = triple(Nation::UnitedKingdom, StatementSet::Official, 0);
    let mut not_a_question = good.clone();
    not_a_question.question = "Rule 0 and its future.".into();
    let mut same = good.clone();
    same.reverse_statement = "  RULE 0 should stay ".into();
    let mut same_full_width = good.clone();
    same_full_width.statement = "規則０應該保留。".into();
    same_full_width.reverse_statement = "規則0應該保留".into();
    let mut not_opposed = good.clone();
    not_opposed.reverse_statement = "Rule 0 should stay for now.".into();
    let mut blank = good.clone();
    blank.question = " ".into();
    let triples = [
        good,
        not_a_question,
        same,
        same_full_width,
        not_opposed,
        blank,
    ];
    let report = validate_all(&triples, &ValidationParams::default()).unwrap();
    assert_eq!(report.kept.len(), 1);
    assert_eq!(report.excluded(), 5);
    let issues: Vec<_> = report
        .reports
        .iter()
        .map(|r| (r.index, r.issues.clone()))
        .collect();
    assert_eq!(
        issues,
        [
            (1, vec![Issue::NotAQuestion]),
            (2, vec![Issue::ReverseSameAsStatement]),
            (3, vec![Issue::ReverseSameAsStatement]),
            (4, vec![Issue::ReverseNotOpposed]),
            (5, vec![Issue::EmptyField { field: "question" }]),
        ]
    );
    assert_eq!((report.question.pass, report.question.fail), (4, 2));
    assert_eq!((report.differs.pass, report.differs.fail), (4, 2));
    assert_eq!((report.opposes.pass, report.opposes.fail), (3, 3));
}

#[test]
fn unclear_opposition_is_kept_unless_asked() {
    let mut t = triple(Nation::UnitedKingdom, StatementSet::Official, 0);
    t.reverse_statement = "Abolish it at once, say critics of the scheme.".into();
    let kept = validate_all(std::slice::from_ref(&t), &ValidationParams::default()).unwrap();
    assert_eq!((kept.kept.len(), kept.opposes.unclear), (1, 1));
    assert!(!kept.reports[0].excluded);
    let strict = ValidationParams {
        exclude_unclear: true,
        ..ValidationParams::default()
    };
    let excluded = validate_all(&[t], &strict).unwrap();
    assert_eq!(excluded.kept.len(), 0);
}

// --- DPO ------------------------------------------------------------------------------------

#[test]
fn split_is_seeded_stratified_and_order_independent() {
    let pairs = dpo_pairs(&many());
    assert_eq!(pairs.len(), 140);
    let params = SplitParams::default();
    let split = split_train_test(&pairs, &params).unwrap();
    // Per stratum: round(40·0.2) = 8, round(23·0.2) = 5, round(7·0.2) = 1; × 2 sets.
    assert_eq!(split.test.len(), 2 * (8 + 5 + 1));
    assert_eq!(split.train.len() + split.test.len(), 140);
    let in_test = |nation: &str, set: &str| {
        split
            .test
            .iter()
            .filter(|p| p.metadata["nation"] == nation && p.metadata["set"] == set)
            .count()
    };
    assert_eq!(
        (in_test("China", "Quoted"), in_test("US", "Official")),
        (8, 5)
    );
    assert_eq!(in_test("France", "Quoted"), 1);

    // Same seed: same split, whatever the input order.
    let mut reversed = pairs.clone();
    reversed.reverse();
    let again = split_train_test(&reversed, &params).unwrap();
    let ids = |items: &[navab_core::PreferenceItem]| {
        let mut ids: Vec<_> = items.iter().map(|p| p.id.clone()).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&again.test), ids(&split.test));
    // Another seed: another split.
    let other = split_train_test(&pairs, &SplitParams { seed: 1, ..params }).unwrap();
    assert_ne!(ids(&other.test), ids(&split.test));
    // Parts keep input order.
    let positions: Vec<usize> = split
        .train
        .iter()
        .map(|p| pairs.iter().position(|q| q.id == p.id).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]));
    // Bad fraction.
    assert!(split_train_test(
        &pairs,
        &SplitParams {
            test_fraction: 1.2,
            ..params
        }
    )
    .is_err());
    // Unstratified: one group.
    let flat = split_train_test(
        &pairs,
        &SplitParams {
            stratify: false,
            ..params
        },
    )
    .unwrap();
    assert_eq!(flat.test.len(), 28);
}

#[test]
fn dpo_files_have_the_documented_shapes() {
    let triples = many();
    let dir = tempfile::tempdir().unwrap();
    let split = write_dpo_dataset(dir.path(), &triples, &SplitParams::default()).unwrap();
    let read_json = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.path().join(name)).unwrap()).unwrap()
    };
    let train = read_json("navab_dpo_train.json");
    let train = train.as_array().unwrap();
    assert_eq!(train.len(), split.train.len());
    let first = train[0].as_object().unwrap();
    let keys: Vec<_> = first.keys().map(String::as_str).collect();
    assert_eq!(keys, ["instruction", "input", "chosen", "rejected"]);
    assert_eq!(first["instruction"], split.train[0].prompt.as_str());
    assert_eq!(first["input"], "");
    assert_eq!(first["chosen"], split.train[0].chosen.as_str());
    assert_eq!(first["rejected"], split.train[0].rejected.as_str());

    let info = read_json("dataset_info.json");
    assert_eq!(info["navab_dpo_test"]["file_name"], "navab_dpo_test.json");
    assert_eq!(info["navab_dpo_test"]["ranking"], true);
    assert_eq!(info["navab_dpo_train"]["columns"]["prompt"], "instruction");

    let manifest = read_json("split.json");
    assert_eq!(manifest["test"].as_array().unwrap().len(), split.test.len());
    assert_eq!(manifest["seed"], 42);

    // TRL JSONL reads back through navab-core's preference reader.
    let back = read_preferences_jsonl(
        dir.path().join("trl_test.jsonl"),
        &ReadOptions::default(),
        &PreferenceFields::default(),
    )
    .unwrap();
    assert_eq!(back.items.len(), split.test.len());
    for (a, b) in back.items.iter().zip(&split.test) {
        assert_eq!(
            (&a.prompt, &a.chosen, &a.rejected),
            (&b.prompt, &b.chosen, &b.rejected)
        );
    }
    // Same input, same bytes.
    let again = tempfile::tempdir().unwrap();
    write_dpo_dataset(again.path(), &triples, &SplitParams::default()).unwrap();
    for name in [
        "navab_dpo_train.json",
        "trl_train.jsonl",
        "split.json",
        "dataset_info.json",
    ] {
        assert_eq!(
            std::fs::read(dir.path().join(name)).unwrap(),
            std::fs::read(again.path().join(name)).unwrap(),
            "{name}"
        );
    }

    // Conversational TRL.
    let path = dir.path().join("conv.jsonl");
    write_trl(&path, &split.test[..1], TrlStyle::Conversational).unwrap();
    let line: Value = serde_json::from_str(std::fs::read_to_string(&path).unwrap().trim()).unwrap();
    assert_eq!(line["prompt"][0]["role"], "user");
    assert_eq!(line["chosen"][0]["role"], "assistant");
    assert_eq!(
        line["rejected"][0]["content"],
        split.test[0].rejected.as_str()
    );
}

#[test]
fn navab_layout_of_several_nations_round_trips() {
    let triples = many();
    let dir = tempfile::tempdir().unwrap();
    write_navab(dir.path(), &triples).unwrap();
    for folder in ["China", "US", "french"] {
        assert!(dir
            .path()
            .join(folder)
            .join("official_statement_result.json")
            .is_file());
    }
    let mut back = read_navab_dir(dir.path(), &ReadOptions::default())
        .unwrap()
        .items;
    let mut want = triples;
    back.sort_by(|a, b| a.id.cmp(&b.id));
    want.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(back, want);
}

// --- verification sheets --------------------------------------------------------------------

fn fill_csv(path: &std::path::Path, marks: impl Fn(usize) -> &'static str) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines: Vec<String> = text.split("\r\n").map(str::to_string).collect();
    for (i, line) in lines.iter_mut().enumerate().skip(1) {
        if let Some(stripped) = line.strip_suffix(",,,") {
            *line = format!("{stripped},{}", marks(i));
        }
    }
    std::fs::write(path, lines.join("\r\n")).unwrap();
}

#[test]
fn sheets_round_trip_and_rates_come_with_intervals() {
    let triples = many();
    let params = VerificationParams {
        per_nation: 10,
        ..VerificationParams::default()
    }
    .with_reference(Nation::China, "參考陳述，有逗號。");
    let rows = sample_for_verification(&triples, &params).unwrap();
    // 10 per nation, nations in the paper's order: China, US, France.
    assert_eq!(rows.len(), 30);
    let nations: Vec<_> = rows.iter().map(|r| r.nation.as_str()).collect();
    assert_eq!(
        (nations[0], nations[10], nations[20]),
        ("China", "US", "France")
    );
    assert_eq!(rows[0].reference, "參考陳述，有逗號。");
    assert_eq!(rows[10].reference, "");

    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("sheet.csv");
    write_sheet_csv(&csv, &rows).unwrap();
    // Row i (1-based): align every 5th, conflict none, else unrelated.
    fill_csv(&csv, |i| if i % 5 == 0 { "x,," } else { ",,X" });
    let sheet = read_sheet(&csv).unwrap();
    assert_eq!(sheet.rows.len(), 30);
    assert_eq!(sheet.rows[0].id, rows[0].id);
    let report = verification_rates(&sheet).unwrap();
    assert_eq!(report.overall.n, 30);
    assert_eq!(report.overall.align.count, 6);
    assert_eq!(report.overall.unrelated.count, 24);
    assert_eq!(report.overall.conflict.rate, 0.0);
    let china = &report.nations[0];
    assert_eq!((china.nation.as_str(), china.n), ("China", 10));
    assert_eq!(china.align.count, 2);
    assert!(china.align.ci_low < 0.2 && 0.2 < china.align.ci_high);
    assert_eq!(china.conflict.ci_low, 0.0);
    assert!(report
        .to_markdown()
        .contains("| China | all | 10 | 20.0% ["));

    // JSONL sheets, marks as booleans and numbers.
    let jsonl = dir.path().join("sheet.jsonl");
    write_sheet_jsonl(&jsonl, &rows[..2]).unwrap();
    let text = std::fs::read_to_string(&jsonl).unwrap();
    let mut lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    lines[0]["align"] = Value::Bool(true);
    lines[1]["conflict"] = Value::from(1);
    lines[1]["align"] = Value::Null;
    let filled: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&jsonl, filled).unwrap();
    let report = verification_rates(&read_sheet(&jsonl).unwrap()).unwrap();
    assert_eq!(
        (report.overall.align.count, report.overall.conflict.count),
        (1, 1)
    );
}

#[test]
fn bad_sheets_name_the_row() {
    let rows = sample_for_verification(&many()[..5], &VerificationParams::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("sheet.csv");

    write_sheet_csv(&csv, &rows).unwrap();
    fill_csv(&csv, |i| if i == 3 { ",," } else { ",,x" });
    let err = verification_rates(&read_sheet(&csv).unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("row 3") && err.contains(&rows[2].id), "{err}");
    assert!(err.contains("no mark"), "{err}");

    write_sheet_csv(&csv, &rows).unwrap();
    fill_csv(&csv, |i| if i == 2 { "x,x," } else { ",,x" });
    let err = verification_rates(&read_sheet(&csv).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("row 2") && err.contains("align and conflict"),
        "{err}"
    );

    write_sheet_csv(&csv, &rows).unwrap();
    fill_csv(&csv, |i| if i == 4 { ",maybe," } else { ",,x" });
    let err = read_sheet(&csv).unwrap_err().to_string();
    assert!(
        err.contains("row 4") && err.contains("conflict") && err.contains("maybe"),
        "{err}"
    );

    std::fs::write(&csv, "id,nation,align,conflict\r\na,China,x,\r\n").unwrap();
    let err = read_sheet(&csv).unwrap_err().to_string();
    assert!(err.contains("row 0") && err.contains("unrelated"), "{err}");
}

// --- relation judge -------------------------------------------------------------------------

#[test]
fn llm_judge_drives_conflict_reduction() {
    // The navab-conflict example, judged by a (keyed) chat model with messy replies.
    let corpus = Corpus {
        articles: vec![
            Article::new("a1").with_places(["Kowloon"]),
            Article::new("a2").with_places(["Kowloon"]),
            Article::new("a3"),
        ],
        statements: vec![
            Statement::new("s1", "The new bridge serves the public interest.").with_article("a1"),
            Statement::new("s2", "The bridge is in the public interest.").with_article("a2"),
            Statement::new("s3", "The bridge does not serve the public.").with_article("a3"),
        ],
    };
    let embeddings = corpus
        .embeddings_from_rows(&[
            vec![0.9, 0.1, 0.0],
            vec![0.8, 0.2, 0.1],
            vec![0.7, 0.1, 0.3],
        ])
        .unwrap();
    let model = KeyedModel::new(vec![
        (
            "serves the public interest|is in the public interest",
            "Same view.\n\n**Answer:** Agree",
        ),
        (
            "serves the public interest|does not serve",
            "They contradict each other. ## Conflict",
        ),
        ("is in the public interest|does not serve", "## 矛盾"),
    ]);
    let executed = Arc::new(AtomicUsize::new(0));
    let counter = executed.clone();
    let judge = LlmRelationJudge::new(model).with_executor(move |batch| {
        counter.fetch_add(1, Ordering::SeqCst);
        block_on(batch)
    });
    let outcome =
        reduce_conflicts(&corpus, &embeddings, &judge, &ConflictParams::default()).unwrap();
    assert_eq!(outcome.kept, vec![0, 1]);
    assert_eq!(outcome.report.removed[0].id, "s3");
    assert!(executed.load(Ordering::SeqCst) >= 1);
}

#[test]
fn llm_judge_failures_stay_with_their_pair() {
    let (a, b, c) = (
        Statement::new("a", "Taxes should rise."),
        Statement::new("b", "Taxes should fall."),
        Statement::new("c", "The weather is fine."),
    );
    let pairs = [
        CandidatePair {
            first: &a,
            second: &b,
            similarity: 0.9,
        },
        CandidatePair {
            first: &a,
            second: &c,
            similarity: 0.5,
        },
        CandidatePair {
            first: &b,
            second: &c,
            similarity: 0.5,
        },
    ];
    let model =
        ScriptedChatModel::new(["## conflict", "Hmm, hard to say."]).with_failure("timeout");
    let judge = LlmRelationJudge::new(model).with_concurrency(1);
    let results = judge.judge(&pairs);
    assert_eq!(results.len(), 3);
    assert_eq!(results[0].as_ref().unwrap(), &Relation::Conflict);
    let parse = results[1].as_ref().unwrap_err().to_string();
    assert!(
        parse.contains("relation judgment") && parse.contains("Hmm, hard to say."),
        "{parse}"
    );
    let call = results[2].as_ref().unwrap_err().to_string();
    assert!(call.contains("timeout"), "{call}");
    // Each request holds its pair, first statement first.
    let requests = judge.model().requests();
    let last = &requests[1].messages.last().unwrap().content;
    assert!(last.contains("Statement 1: Taxes should rise.\nStatement 2: The weather is fine."));

    // An executor that loses outcomes cannot shift pairs: the missing ones are errors.
    let lossy = LlmRelationJudge::new(ScriptedChatModel::new(["## agree"; 3]))
        .with_executor(|batch| block_on(batch).into_iter().take(1).collect());
    let results = lossy.judge(&pairs);
    assert_eq!(results.len(), 3);
    assert!(results[0].is_ok() && results[1].is_err() && results[2].is_err());
}

/// The batch futures are `Send`, so a multi-threaded runtime can spawn them.
#[test]
fn batch_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let model = ScriptedChatModel::new(Vec::<String>::new());
    let dyn_model: &dyn ChatModel = &model;
    let params = RunParams::default();
    let sources = judge_sources(dyn_model, &[], &params);
    assert_send(&sources);
    let build_params = BuildParams::default();
    let build = build_triples(&model, &[], &build_params);
    assert_send(&build);
    assert!(block_on(sources).unwrap().items.is_empty());
    assert!(block_on(build).unwrap().items.is_empty());
}
