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
