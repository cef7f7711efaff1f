//! 8. Value screening: the LLM keeps the statements that speak to values.

use navab_llm::stage::run_stage;
use navab_llm::steps::ValueScreening;
use navab_llm::Step;

use super::extract::StatementsStage;
use super::{failure_of, Computed, Ctx};
use crate::pipeline::Executor;
use crate::Result;

pub(crate) fn run<X: Executor>(
    cx: &mut Ctx<'_, X>,
    statements: &StatementsStage,
) -> Result<StatementsStage> {
    let prompt = ValueScreening {
        statement: String::new(),
    }
    .request();
    let inputs = cx.llm_inputs(&[prompt], serde_json::Value::Null);
    cx.stage("screen", "08-screened.json", inputs, |cx| {
        let steps: Vec<ValueScreening> = statements
            .items
            .iter()
            .map(|s| ValueScreening {
                statement: s.text.clone(),
            })
            .collect();
        let total = steps.len();
        let progress = &mut cx.progress;
        let stage = cx
            .exec
            .block_on(run_stage(&cx.llm, &steps, cx.config.concurrency, |s| {
                progress("screen", s.done, total)
            }));
        let mut out = StatementsStage {
            items: Vec::new(),
            failures: Vec::new(),
        };
        for (s, outcome) in statements.items.iter().zip(stage.outcomes) {
            match failure_of(&s.id, outcome) {
                Ok(true) => out.items.push(s.clone()),
                Ok(false) => {}
                Err(f) => out.failures.push(f),
            }
        }
        let counts = [
            ("statements", total),
            ("kept", out.items.len()),
            ("failed", out.failures.len()),
        ];
        Ok(Computed::new(out, &counts))
    })
}
