//! Answer-judgment evaluation: the reference order draw, the verdict mapping, failures, and a
//! run over the real NaVAB sample with a model and a judge whose right answers are known.
#![cfg(feature = "judge")]

use std::collections::HashMap;

use navab_core::{read_navab_nation_dir, Nation, PreferenceItem, ReadOptions};
use navab_eval::judge::{
    evaluate_aj, evaluate_aj_trials, statement_first, AjOptions, AjRun, AjSummary, AjTrialsSummary,
};
use navab_llm::testing::{block_on, ScriptedChatModel};
use navab_llm::{BoxFuture, ChatModel, ChatRequest, ChatResponse};

fn item(id: &str) -> PreferenceItem {
    PreferenceItem {
        id: id.into(),
        prompt: format!("Question {id}?"),
        chosen: format!("Statement {id}."),
        rejected: format!("Reverse {id}."),
        metadata: Default::default(),
    }
}

#[test]
fn the_order_is_balanced_seeded_and_independent_of_item_order() {
    let ids: Vec<String> = (0..400).map(|i| format!("item-{i}")).collect();
    let first = ids.iter().filter(|id| statement_first(42, id)).count();
    assert!((160..=240).contains(&first), "S=A for {first} of 400");
    let other_seed = ids
        .iter()
        .filter(|id| statement_first(42, id) != statement_first(7, id))
        .count();
    assert!(other_seed > 100, "another seed changes {other_seed} of 400");
    assert!(ids
        .iter()
        .all(|id| statement_first(42, id) == statement_first(42, id)));
}

#[test]
fn a_judge_that_always_says_a_is_right_exactly_where_s_is_at_a() {
    let items: Vec<PreferenceItem> = (0..40).map(|i| item(&format!("i{i}"))).collect();
    let model = ScriptedChatModel::new(vec!["An answer."; 40]);
    let judge = ScriptedChatModel::new(vec!["Closer to the first. ## A"; 40]);
    let mut calls = 0;
    let run = block_on(evaluate_aj(
        &model,
        &judge,
        &items,
        &AjOptions::default(),
        &mut |d, t| {
            calls += 1;
            assert!(d <= t);
        },
    ));
    assert_eq!((run.records.len(), run.failures.len(), calls), (40, 0, 40));
    for r in &run.records {
        assert_eq!(r.correct, r.order == "S=A");
        assert_eq!(r.order == "S=A", statement_first(42, &r.item_id));
    }
    // The judge saw the references in the recorded order.
    let requests = judge.requests();
    for (r, req) in run.records.iter().zip(&requests) {
        let text = &req.messages.last().unwrap().content;
        let s = format!("Reference A: Statement {}.", r.item_id);
        assert_eq!(text.contains(&s), r.order == "S=A", "{text}");
    }
    let summary = AjSummary::from_run(&run);
    let all = summary.rows.last().unwrap();
    assert_eq!(all.judge_chose_a.rate, 1.0);
    let s_at_a = run.records.iter().filter(|r| r.order == "S=A").count();
    assert_eq!(all.accuracy.correct, s_at_a);
    assert!(summary.markdown_table().contains("| all | all |"));
}

#[test]
fn failures_are_recorded_with_their_stage_and_the_run_goes_on() {
    let items: Vec<PreferenceItem> = (0..4).map(|i| item(&format!("f{i}"))).collect();
    let model = ScriptedChatModel::new(["An answer.", "   ", "Another answer."])
        .with_failure("connection reset");
    let judge = ScriptedChatModel::new(["I cannot decide between these, sorry", "## B"]);
    let run = block_on(evaluate_aj(
        &model,
        &judge,
        &items,
        &AjOptions::default(),
        &mut |_, _| {},
    ));
    let stages: Vec<(&str, &str)> = run
        .failures
        .iter()
        .map(|f| (f.item_id.as_str(), f.stage.as_str()))
        .collect();
    assert_eq!(
        stages,
        vec![("f0", "judge"), ("f1", "answer"), ("f3", "answer")]
    );
    assert_eq!(
        run.failures[0].raw.as_deref(),
        Some("I cannot decide between these, sorry")
    );
    assert!(run.failures[2].reason.contains("connection reset"));
    assert_eq!(run.records.len(), 1);
    assert_eq!(run.records[0].item_id, "f2");
    assert_eq!(run.records[0].verdict, "B");
}

/// Answers each question with its statement (or its reverse for the ids given).
struct KnownAnswers {
    answers: HashMap<String, String>,
}

impl ChatModel for KnownAnswers {
    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, navab_llm::Result<ChatResponse>> {
        let q = request.messages.last().unwrap().content.clone();
        Box::pin(async move {
            Ok(ChatResponse::new(
                self.answers.get(&q).cloned().unwrap_or_default(),
            ))
        })
    }
}

/// Picks the reference that equals the answer.
struct ExactJudge;

impl ChatModel for ExactJudge {
    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, navab_llm::Result<ChatResponse>> {
        let text = request.messages.last().unwrap().content.clone();
        Box::pin(async move {
            let field = |label: &str| {
                text.split("\n\n")
                    .find_map(|p| p.strip_prefix(label))
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            };
            let answer = field("Answer: ");
            let verdict = if answer == field("Reference A: ") {
                "## A"
            } else {
                "## B"
            };
            Ok(ChatResponse::new(verdict))
        })
    }
}

#[test]
fn real_sample_with_known_answers() {
    let dir = navab_core::real_data!("navab-hk-sample");
    let triples = read_navab_nation_dir(dir, Nation::China, &ReadOptions::default())
        .unwrap()
        .items;
    assert_eq!(triples.len(), 75);
    let items: Vec<PreferenceItem> = triples.iter().map(|t| t.to_preference()).collect();
    // The model answers with S for every third item's reverse, S otherwise.
    let answers = items
        .iter()
        .enumerate()
        .map(|(i, it)| {
            let a = if i % 3 == 0 { &it.rejected } else { &it.chosen };
            (it.prompt.trim().to_string(), a.trim().to_string())
        })
        .collect();
    let model = KnownAnswers { answers };
    let run = block_on(evaluate_aj(
        &model,
        &ExactJudge,
        &items,
        &AjOptions::default(),
        &mut |_, _| {},
    ));
    assert!(run.failures.is_empty(), "{:?}", run.failures);
    let expected_wrong = (0..items.len()).filter(|i| i % 3 == 0).count();
    let wrong: Vec<usize> = run
        .records
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.correct)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(wrong.len(), expected_wrong);
    assert!(wrong.iter().all(|i| i % 3 == 0));
    let summary = AjSummary::from_run(&run);
    // Two sets of one nation, plus the overall row.
    assert_eq!(summary.rows.len(), 3);
    let n: usize = summary.rows[..2].iter().map(|r| r.accuracy.n).sum();
    assert_eq!(n, 75);
}

/// Answers with the statement, or with its reverse when the request's seed is odd; records the
/// seeds it saw.
struct SeededAnswers {
    items: Vec<PreferenceItem>,
    seeds: std::sync::Mutex<Vec<Option<u64>>>,
}

impl ChatModel for SeededAnswers {
    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, navab_llm::Result<ChatResponse>> {
        self.seeds.lock().unwrap().push(request.seed);
        let q = request.messages.last().unwrap().content.clone();
        let item = self.items.iter().find(|i| i.prompt == q).unwrap();
        let odd = request.seed.unwrap_or(0) % 2 == 1;
        let answer = if odd { &item.rejected } else { &item.chosen };
        let answer = answer.clone();
        Box::pin(async move { Ok(ChatResponse::new(answer)) })
    }
}

#[test]
fn trials_draw_their_own_answers_and_order_and_report_mean_and_spread() {
    let items: Vec<PreferenceItem> = (0..30)
        .map(|i| {
            let mut it = item(&format!("t{i}"));
            it.metadata
                .insert("nation".into(), ["China", "US"][i % 2].into());
            it.metadata.insert("set".into(), "official".into());
            it
        })
        .collect();
    let model = SeededAnswers {
        items: items.clone(),
        seeds: Default::default(),
    };
    let mut last = (0, 0);
    let runs = block_on(evaluate_aj_trials(
        &model,
        &ExactJudge,
        &items,
        &AjOptions::default(),
        3,
        &mut |d, t| last = (d, t),
    ));
    assert_eq!(last, (90, 90));
    assert_eq!(runs.len(), 3);
    // Seeds 42, 43, 44: the answers are right, wrong, right.
    let seeds = model.seeds.lock().unwrap().clone();
    assert_eq!(seeds[..30], vec![Some(42); 30][..]);
    assert_eq!(seeds[30..60], vec![Some(43); 30][..]);
    let correct: Vec<usize> = runs
        .iter()
        .map(|r| r.records.iter().filter(|x| x.correct).count())
        .collect();
    assert_eq!(correct, [30, 0, 30]);
    // Each trial draws the reference order from its own seed.
    let orders = |r: &AjRun| {
        r.records
            .iter()
            .map(|x| x.order.clone())
            .collect::<Vec<_>>()
    };
    assert_ne!(orders(&runs[0]), orders(&runs[1]));

    let summary = AjTrialsSummary::from_runs(&runs);
    // China, US and the overall row.
    assert_eq!(summary.rows.len(), 3);
    let all = summary.rows.last().unwrap();
    assert_eq!((all.set.as_str(), all.nation.as_str()), ("all", "all"));
    assert!((all.mean - 2.0 / 3.0).abs() < 1e-12);
    assert!((all.sd - (1.0f64 / 3.0).sqrt()).abs() < 1e-12, "{}", all.sd);
    assert_eq!(
        all.trials.iter().map(|t| t.n).collect::<Vec<_>>(),
        [30, 30, 30]
    );
    assert_eq!(summary.failures, [0, 0, 0]);
    let table = summary.markdown_table();
    assert!(
        table.contains("| official | China | 0.667 | 0.577 | 1.000 (15), 0.000 (15), 1.000 (15) |"),
        "{table}"
    );
}
