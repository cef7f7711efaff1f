//! 11. Triples: the LLM writes ⟨Q, S, RS⟩ for each kept statement; validation filters them.

use std::collections::HashSet;

use navab_llm::steps::TripleConstruction;
use navab_llm::Step;
use navab_triples::{build_triples, validate_all, BuildParams, ItemFailure, JudgedStatement};
use serde::{Deserialize, Serialize};

use super::conflict::ConflictStage;
use super::sources::SourcesStage;
use super::{Computed, Ctx};
use crate::pipeline::Executor;
use crate::Result;

/// The triples stage's file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TriplesStage {
    pub triples: Vec<navab_core::Triple>,
    pub failures: Vec<ItemFailure>,
    pub excluded: usize,
    pub validation: serde_json::Value,
}

pub(crate) fn run<X: Executor>(
    cx: &mut Ctx<'_, X>,
    sources: &SourcesStage,
    conflict: &ConflictStage,
) -> Result<TriplesStage> {
    let prompt = TripleConstruction {
        statement: String::new(),
    }
    .request();
    let settings = serde_json::json!({ "validation": format!("{:?}", cx.config.validation) });
    let inputs = cx.llm_inputs(&[prompt], settings);
    cx.stage("triples", "11-triples.json", inputs, |cx| {
        let kept: HashSet<&str> = conflict.kept.iter().map(String::as_str).collect();
        let judged: Vec<JudgedStatement> = sources
            .items
            .iter()
            .filter(|j| kept.contains(j.statement.id.as_str()))
            .cloned()
            .collect();
        let params = BuildParams::default().with_concurrency(cx.config.concurrency);
        let batch = cx.exec.block_on(build_triples(&cx.llm, &judged, &params))?;
        (cx.progress)("triples", judged.len(), judged.len());
        let built = batch.triples();
        let validation = validate_all(&built, &cx.config.validation)?;
        let out = TriplesStage {
            excluded: validation.excluded(),
            validation: serde_json::json!({
                "total": validation.total,
                "question": format!("{:?}", validation.question),
                "differs": format!("{:?}", validation.differs),
                "opposes": format!("{:?}", validation.opposes),
            }),
            triples: validation.kept,
            failures: batch.failures,
        };
        let counts = [
            ("statements", judged.len()),
            ("triples", out.triples.len()),
            ("excluded", out.excluded),
            ("failed", out.failures.len()),
        ];
        Ok(Computed::new(out, &counts))
    })
}
