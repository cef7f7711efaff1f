//! 10. Conflict Reduction: LLM relation checks on kNN pairs, structural balance, removal.

use std::collections::BTreeMap;

use navab_conflict::{reduce_conflicts, Article, Corpus, Statement};
use navab_llm::Step;
use navab_triples::{LlmRelationJudge, RelationJudgment};
use serde::{Deserialize, Serialize};

use super::extract::StatementsStage;
use super::sources::SourcesStage;
use super::{Computed, Ctx};
use crate::corpus::NewsDoc;
use crate::pipeline::Executor;
use crate::Result;

/// The Conflict Reduction stage's file: the statements kept and navab-conflict's report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ConflictStage {
    pub kept: Vec<String>,
    pub report: serde_json::Value,
}

pub(crate) fn run<X: Executor>(
    cx: &mut Ctx<'_, X>,
    docs: &[NewsDoc],
    screened: &StatementsStage,
    sources: &SourcesStage,
) -> Result<ConflictStage> {
    let prompt = RelationJudgment {
        first: String::new(),
        second: String::new(),
    }
    .request();
    let settings = serde_json::json!({
        "conflict": format!("{:?}", cx.config.conflict), "embedder": cx.embedder.model_id(),
    });
    let inputs = cx.llm_inputs(&[prompt], settings);
    cx.stage("conflict", "10-conflict.json", inputs, |cx| {
        let corpus = graph_input(docs, screened, sources);
        let out = if corpus.statements.len() < 2 {
            ConflictStage {
                kept: corpus.statements.iter().map(|s| s.id.clone()).collect(),
                report: serde_json::Value::Null,
            }
        } else {
            let texts: Vec<&str> = corpus.statements.iter().map(|s| s.text.as_str()).collect();
            let vectors = cx.embedder.embed(&texts)?;
            let flat: Vec<f32> = vectors.iter().copied().collect();
            let embeddings = corpus.embeddings_from_flat(&flat, vectors.ncols())?;
            let exec = cx.exec.clone();
            let judge = LlmRelationJudge::new(&cx.llm)
                .with_concurrency(cx.config.concurrency)
                .with_executor(move |batch| exec.block_on(batch));
            let mut params = cx.config.conflict.clone();
            params.k = params.k.min(corpus.statements.len() - 1).max(1);
            let outcome = reduce_conflicts(&corpus, &embeddings, &judge, &params)?;
            ConflictStage {
                kept: outcome
                    .kept
                    .iter()
                    .map(|&i| corpus.statements[i].id.clone())
                    .collect(),
                report: serde_json::from_str(&outcome.report.to_json()).unwrap_or_default(),
            }
        };
        (cx.progress)("conflict", 1, 1);
        let counts = [
            ("statements", sources.items.len()),
            ("kept", out.kept.len()),
        ];
        Ok(Computed::new(out, &counts))
    })
}

/// The judged statements as navab-conflict's corpus: articles with places, statements with
/// their article and speakers.
fn graph_input(docs: &[NewsDoc], screened: &StatementsStage, sources: &SourcesStage) -> Corpus {
    let doc_of: BTreeMap<&str, usize> = screened
        .items
        .iter()
        .map(|s| (s.id.as_str(), s.doc))
        .collect();
    let mut article_ids: Vec<usize> = sources
        .items
        .iter()
        .filter_map(|j| doc_of.get(j.statement.id.as_str()).copied())
        .collect();
    article_ids.sort_unstable();
    article_ids.dedup();
    Corpus {
        articles: article_ids
            .iter()
            .map(|&d| Article::new(docs[d].id.clone()).with_places(docs[d].place.iter().cloned()))
            .collect(),
        statements: sources
            .items
            .iter()
            .map(|j| {
                let mut s = Statement::new(j.statement.id.clone(), j.statement.text.clone());
                if let Some(&d) = doc_of.get(j.statement.id.as_str()) {
                    s = s.with_article(docs[d].id.clone());
                }
                s.with_speakers(j.speaker.iter().cloned())
            })
            .collect(),
    }
}
