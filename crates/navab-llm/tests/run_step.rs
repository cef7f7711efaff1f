//! The step runner with the scripted model: parsed, unparseable and failed calls are recorded.

use std::sync::Arc;

use navab_llm::steps::{Source, SourceJudgment, TripleConstruction, ValueScreening};
use navab_llm::testing::{block_on, ScriptedChatModel};
use navab_llm::{
    run_step, run_step_with, ChatModel, Error, Role, Sampling, Step, StepName, StepOutcome,
};

#[test]
fn outcomes_ok_parse_failed_call_failed() {
    let model = ScriptedChatModel::new([
        "the statement lacks attribution, so the source is unknown. ## unknown",
        "I am not able to tell who said it.",
    ])
    .with_failure("HTTP 503");
    let input = SourceJudgment {
        statement: "美國將直接介入以巴衝突。".into(),
    };

    match block_on(run_step(&model, &input)) {
        StepOutcome::Ok { value, raw } => {
            assert_eq!(value, Source::Official);
            assert!(raw.ends_with("## unknown"));
        }
        other => panic!("{other:?}"),
    }
    match block_on(run_step(&model, &input)) {
        StepOutcome::ParseFailed { step, raw, reason } => {
            assert_eq!(step, StepName::SourceJudgment);
            assert_eq!(raw, "I am not able to tell who said it.");
            assert!(!reason.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        block_on(run_step(&model, &input)),
        StepOutcome::CallFailed {
            error: Error::Backend { .. }
        }
    ));
    // Out of script: a typed error, not a panic.
    let outcome = block_on(run_step(&model, &input));
    assert!(matches!(
        outcome,
        StepOutcome::CallFailed {
            error: Error::ScriptExhausted { served: 3 }
        }
    ));

    let requests = model.requests();
    assert_eq!(requests.len(), 4);
    let last = requests[0].messages.last().unwrap();
    assert_eq!(last.role, Role::User);
    assert!(last.content.contains("美國將直接介入以巴衝突。"));
    assert_eq!(requests[0].sampling(), Sampling::PIPELINE);
}

#[test]
fn parse_failure_converts_to_error_keeping_raw() {
    let model = ScriptedChatModel::new(["Q: only a question"]);
    let input = TripleConstruction {
        statement: "X is good.".into(),
    };
    match block_on(run_step(&model, &input)).into_result() {
        Err(Error::Parse(e)) => {
            assert_eq!(e.step, StepName::TripleConstruction);
            assert_eq!(e.raw, "Q: only a question");
            assert!(e.to_string().contains("missing S, RS"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn works_through_dyn_arc_box_and_refs() {
    let input = ValueScreening {
        statement: "The council raised taxes.".into(),
    };
    let model: Arc<dyn ChatModel> = Arc::new(ScriptedChatModel::new(["## yes", "## no", "## yes"]));
    assert_eq!(block_on(run_step(&model, &input)).value(), Some(&true));
    let boxed: Box<&dyn ChatModel> = Box::new(&*model);
    assert_eq!(block_on(run_step(&boxed, &input)).value(), Some(&false));
    let dynamic: &dyn ChatModel = &*model;
    assert_eq!(block_on(run_step(dynamic, &input)).value(), Some(&true));
    assert_eq!(model.model_id(), Some("scripted"));
}

#[test]
fn sampling_override_and_invalid_request() {
    let model = ScriptedChatModel::new(["## no"]);
    let input = ValueScreening {
        statement: "It rained.".into(),
    };
    let greedy = block_on(run_step_with(&model, &input, Sampling::GREEDY));
    assert_eq!(greedy.value(), Some(&false));
    assert_eq!(model.requests()[0].temperature, Some(0.0));

    let bad = Sampling {
        temperature: Some(3.0),
        ..Sampling::PIPELINE
    };
    let outcome = block_on(run_step_with(&model, &input, bad));
    assert!(matches!(
        outcome,
        StepOutcome::CallFailed {
            error: Error::InvalidRequest(_)
        }
    ));
    assert_eq!(
        model.requests().len(),
        1,
        "an invalid request never reaches the model"
    );
}

#[test]
fn canonical_json_is_stable() {
    let input = ValueScreening {
        statement: "The council raised taxes.".into(),
    };
    let a = input.request();
    let b: navab_llm::ChatRequest = serde_json::from_str(&a.canonical_json()).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.canonical_json(), b.canonical_json());
    assert!(a
        .canonical_json()
        .starts_with(r#"{"messages":[{"role":"system","content":"#));
    assert!(a
        .canonical_json()
        .ends_with(r#""temperature":0.6,"top_p":0.8}"#));
}

#[test]
fn rendered_replies_run_through_the_model() {
    let reply = TripleConstruction::render_reply(&navab_llm::steps::TripleDraft {
        question: "Is X good?".into(),
        statement: "X is good.".into(),
        reverse_statement: "X is bad.".into(),
    });
    let model = ScriptedChatModel::new([reply]);
    let input = TripleConstruction {
        statement: "X is good.".into(),
    };
    let t = block_on(run_step(&model, &input)).into_result().unwrap();
    assert_eq!(t.reverse_statement, "X is bad.");
}

#[test]
fn extraction_shows_a_worked_example_in_the_language_it_asks_for() {
    use navab_llm::steps::StatementExtraction;
    let example = |language: &str| {
        let messages = StatementExtraction::new("Some news.", language).messages();
        (messages[1].content.clone(), messages[2].content.clone())
    };
    let han = |s: &str| s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
    let (zh_user, zh_reply) = example("Chinese");
    assert!(
        zh_user.starts_with("Language: Chinese") && han(&zh_reply),
        "{zh_reply}"
    );
    assert_eq!(example("zh-TW").0, zh_user);
    assert!(example("French").1.contains("retraite"));
    assert!(example("de").1.contains("Kohle"));
    let (en_user, _) = example("Swahili");
    assert!(en_user.starts_with("Language: English"));
    // The real question names the requested language, whatever the example's.
    let last = StatementExtraction::new("Habari.", "Swahili").messages();
    assert!(last[3].content.starts_with("Language: Swahili"));
}

#[test]
fn topic_screening_shows_the_topic_and_the_value_sets_and_reads_yes_or_no() {
    use navab_llm::steps::{TopicScreening, VALUE_TOPICS};
    let step = TopicScreening {
        label: "Pension reform".into(),
        keywords: vec!["retraite".into(), "âge".into()],
        documents: vec!["x".repeat(1000)],
        value_topics: Vec::new(),
    };
    let question = step.messages().last().unwrap().content.clone();
    assert!(question.contains("Topic: Pension reform") && question.contains("retraite, âge"));
    assert!(question.contains(VALUE_TOPICS[0]));
    // Documents are cut to keep the prompt bounded.
    assert!(question.len() < 1000 + VALUE_TOPICS.concat().len());
    let model = ScriptedChatModel::new(["Stances on pensions. ## yes", "Sport. ## no", "maybe"]);
    let outcomes: Vec<_> = (0..3).map(|_| block_on(run_step(&model, &step))).collect();
    assert!(matches!(outcomes[0], StepOutcome::Ok { value: true, .. }));
    assert!(matches!(outcomes[1], StepOutcome::Ok { value: false, .. }));
    assert!(matches!(
        outcomes[2],
        StepOutcome::ParseFailed {
            step: StepName::TopicScreening,
            ..
        }
    ));
    let custom = TopicScreening {
        value_topics: vec!["animal welfare".into()],
        ..step
    };
    let question = custom.messages().last().unwrap().content.clone();
    assert!(question.contains("animal welfare") && !question.contains(VALUE_TOPICS[0]));
}
