//! 9. Source judgment: quoted (with a speaker) or official.

use navab_core::Nation;
use navab_llm::steps::SourceJudgment;
use navab_llm::Step;
use navab_triples::{judge_sources, ExtractedStatement, ItemFailure, JudgedStatement, RunParams};
use serde::{Deserialize, Serialize};

use super::extract::StatementsStage;
use super::{Computed, Ctx};
use crate::corpus::NewsDoc;
use crate::pipeline::Executor;
use crate::Result;

/// The source-judgment stage's file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SourcesStage {
    pub items: Vec<JudgedStatement>,
    pub failures: Vec<ItemFailure>,
}

pub(crate) fn run<X: Executor>(
    cx: &mut Ctx<'_, X>,
    docs: &[NewsDoc],
    screened: &StatementsStage,
) -> Result<SourcesStage> {
    let prompt = SourceJudgment {
        statement: String::new(),
    }
    .request();
    let inputs = cx.llm_inputs(&[prompt], serde_json::Value::Null);
    cx.stage("sources", "09-sources.json", inputs, |cx| {
        let extracted: Vec<ExtractedStatement> = screened
            .items
            .iter()
            .map(|s| {
                ExtractedStatement::new(s.id.clone(), nation_of(&docs[s.doc]), s.text.clone())
                    .with_raw_news(docs[s.doc].text.clone())
            })
            .collect();
        let params = RunParams::default().with_concurrency(cx.config.concurrency);
        let judged = cx
            .exec
            .block_on(judge_sources(&cx.llm, &extracted, &params))?;
        (cx.progress)("sources", extracted.len(), extracted.len());
        let out = SourcesStage {
            items: judged.items,
            failures: judged.failures,
        };
        let counts = [
            ("statements", extracted.len()),
            ("judged", out.items.len()),
            ("failed", out.failures.len()),
        ];
        Ok(Computed::new(out, &counts))
    })
}

fn nation_of(doc: &NewsDoc) -> Nation {
    doc.nation
        .parse()
        .unwrap_or_else(|_| Nation::Other(doc.nation.clone()))
}
