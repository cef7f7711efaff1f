//! Stage 10, Conflict Reduction within each nation: LLM relation checks on kNN pairs,
//! structural balance, removal.

use std::collections::BTreeMap;

use navab_conflict::{reduce_conflicts, Article, Corpus, Statement};
use navab_llm::Step;
use navab_triples::{LlmRelationJudge, RelationJudgment};
use serde::{Deserialize, Serialize};

use super::extract::StatementsStage;
use super::sources::SourcesStage;
use super::{Computed, Ctx};
use crate::corpus::NewsDoc;
use crate::pipeline::{ConflictScope, Executor};
use crate::Result;

/// The Conflict Reduction stage's file: the statements kept and navab-conflict's report for each
/// graph (one per nation, or per nation and source).
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
    if !cx.config.run_conflict_reduction {
        cx.run.skip("conflict")?;
        let kept = sources
            .items
            .iter()
            .map(|j| j.statement.id.clone())
            .collect();
        let report = serde_json::json!({ "conflict_reduction": "off" });
        return Ok(ConflictStage { kept, report });
    }
    let prompt = RelationJudgment {
        first: String::new(),
        second: String::new(),
    }
    .request();
    let settings = serde_json::json!({
        "conflict": format!("{:?}", cx.config.conflict), "embedders": cx.embedders.ids(),
        "scope": cx.config.conflict_scope,
    });
    let inputs = cx.llm_inputs(&[prompt], settings);
    cx.stage("conflict", "10-conflict.json", inputs, |cx| {
        let doc_of: BTreeMap<&str, usize> = screened
            .items
            .iter()
            .map(|s| (s.id.as_str(), s.doc))
            .collect();
        let graphs = graphs(cx.config.conflict_scope, docs, &doc_of, sources);
        let mut out = ConflictStage {
            kept: Vec::new(),
            report: serde_json::Value::Object(Default::default()),
        };
        let total = graphs.len();
        for (done, (key, members)) in graphs.into_iter().enumerate() {
            let (kept, report) = reduce_one(cx, docs, &doc_of, sources, &members)?;
            out.kept.extend(kept);
            out.report[key.as_str()] = report;
            (cx.progress)("conflict", done + 1, total);
        }
        let counts = [
            ("statements", sources.items.len()),
            ("kept", out.kept.len()),
        ];
        Ok(Computed::new(out, &counts))
    })
}

/// The judged statements of each graph: per nation (the paper: conflicts are resolved within a
/// nation), or per nation and source.
fn graphs(
    scope: ConflictScope,
    docs: &[NewsDoc],
    doc_of: &BTreeMap<&str, usize>,
    sources: &SourcesStage,
) -> BTreeMap<String, Vec<usize>> {
    let mut out: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (k, j) in sources.items.iter().enumerate() {
        let doc = doc_of.get(j.statement.id.as_str()).map(|&d| &docs[d]);
        let nation = doc.map_or_else(|| j.statement.nation.to_string(), |d| d.nation.clone());
        let key = match (scope, doc.and_then(|d| d.source.as_deref())) {
            (ConflictScope::Source, Some(source)) => format!("{nation} / {source}"),
            _ => nation,
        };
        out.entry(key).or_default().push(k);
    }
    out
}

/// Conflict Reduction on one graph: the ids it keeps and its report.
fn reduce_one<X: Executor>(
    cx: &mut Ctx<'_, X>,
    docs: &[NewsDoc],
    doc_of: &BTreeMap<&str, usize>,
    sources: &SourcesStage,
    members: &[usize],
) -> Result<(Vec<String>, serde_json::Value)> {
    let corpus = graph_input(docs, doc_of, sources, members);
    if corpus.statements.len() < 2 {
        let kept = corpus.statements.iter().map(|s| s.id.clone()).collect();
        return Ok((kept, serde_json::Value::Null));
    }
    let language = majority_language(docs, doc_of, sources, members);
    let texts: Vec<&str> = corpus.statements.iter().map(|s| s.text.as_str()).collect();
    let vectors = cx.embedders.for_language(&language).embed(&texts)?;
    let flat: Vec<f32> = vectors.iter().copied().collect();
    let embeddings = corpus.embeddings_from_flat(&flat, vectors.ncols())?;
    let exec = cx.exec.clone();
    let judge = LlmRelationJudge::new(&cx.llm)
        .with_concurrency(cx.config.concurrency)
        .with_executor(move |batch| exec.block_on(batch));
    let mut params = cx.config.conflict.clone();
    params.k = params.k.min(corpus.statements.len() - 1).max(1);
    let outcome = reduce_conflicts(&corpus, &embeddings, &judge, &params)?;
    let kept = outcome
        .kept
        .iter()
        .map(|&i| corpus.statements[i].id.clone())
        .collect();
    let report = serde_json::from_str(&outcome.report.to_json()).unwrap_or_default();
    Ok((kept, report))
}

/// The language most of the graph's statements are in (their embedder embeds them all).
fn majority_language(
    docs: &[NewsDoc],
    doc_of: &BTreeMap<&str, usize>,
    sources: &SourcesStage,
    members: &[usize],
) -> String {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for &k in members {
        if let Some(&d) = doc_of.get(sources.items[k].statement.id.as_str()) {
            *count.entry(docs[d].language.as_str()).or_default() += 1;
        }
    }
    count
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
        .map_or_else(|| "en".into(), |(l, _)| l.to_string())
}

/// The graph's statements as navab-conflict's corpus: articles with places, statements with
/// their article and speakers. Each source of the graph weighs the same in total (support
/// `n / (sources × n_source)`), so that the dominant stance is the one most sources take, not
/// the one the most prolific outlet repeats.
fn graph_input(
    docs: &[NewsDoc],
    doc_of: &BTreeMap<&str, usize>,
    sources: &SourcesStage,
    members: &[usize],
) -> Corpus {
    let doc = |k: usize| doc_of.get(sources.items[k].statement.id.as_str()).copied();
    let outlet = |k: usize| doc(k).and_then(|d| docs[d].source.as_deref()).unwrap_or("");
    let mut per_source: BTreeMap<&str, usize> = BTreeMap::new();
    for &k in members {
        *per_source.entry(outlet(k)).or_default() += 1;
    }
    let mut article_ids: Vec<usize> = members.iter().filter_map(|&k| doc(k)).collect();
    article_ids.sort_unstable();
    article_ids.dedup();
    let n = members.len() as f64;
    Corpus {
        articles: article_ids
            .iter()
            .map(|&d| Article::new(docs[d].id.clone()).with_places(docs[d].place.iter().cloned()))
            .collect(),
        statements: members
            .iter()
            .map(|&k| {
                let j = &sources.items[k];
                let support = n / (per_source.len() as f64 * per_source[outlet(k)] as f64);
                let mut s = Statement::new(j.statement.id.clone(), j.statement.text.clone())
                    .with_support(support);
                if let Some(d) = doc(k) {
                    s = s.with_article(docs[d].id.clone());
                }
                s.with_speakers(j.speaker.iter().cloned())
            })
            .collect(),
    }
}
