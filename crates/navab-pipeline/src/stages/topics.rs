//! 3. Topics (kNN, UMAP, HDBSCAN, c-TF-IDF) and 4. InsTag for HDBSCAN's outliers.

use navab_llm::steps::Tagging;
use navab_llm::Step;
use navab_topics::fit_topics;
use navab_topics::instag::{tag_outliers, InsTagResult};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::{Computed, Ctx};
use crate::corpus::NewsDoc;
use crate::pipeline::Executor;
use crate::Result;

/// A topic as the pipeline keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TopicInfo {
    /// Id: HDBSCAN topics first, then InsTag topics.
    pub id: usize,
    /// Documents in it.
    pub size: usize,
    /// Top words (c-TF-IDF), or the consolidated tag for an InsTag topic.
    pub words: Vec<String>,
    /// Representative documents.
    pub representative_docs: Vec<usize>,
    /// `hdbscan` or `instag`.
    pub origin: String,
}

/// The topics stage's file; after [`place_outliers`], InsTag's topics and placements too.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TopicsStage {
    pub labels: Vec<Option<usize>>,
    pub topics: Vec<TopicInfo>,
    pub noise_fraction: f64,
    pub ari: Option<f64>,
    pub nmi: Option<f64>,
    pub notes: Vec<String>,
}

pub(crate) fn run<X: Executor>(
    cx: &mut Ctx<'_, X>,
    docs: &[NewsDoc],
    texts: &[&str],
    embeddings: &Array2<f32>,
) -> Result<TopicsStage> {
    let inputs = serde_json::json!({ "topics": format!("{:?}", cx.config.topics) });
    let stage = cx.stage("topics", "03-topics.json", inputs, |cx| {
        let model = fit_topics(texts, embeddings.view(), &cx.config.topics)?;
        let (ari, nmi) = scores(docs, &model.labels);
        let stage = TopicsStage {
            labels: model.labels.clone(),
            topics: model
                .topics
                .iter()
                .map(|t| TopicInfo {
                    id: t.id,
                    size: t.size,
                    words: t.words.iter().map(|w| w.term.clone()).collect(),
                    representative_docs: t.representative_docs.clone(),
                    origin: "hdbscan".into(),
                })
                .collect(),
            noise_fraction: model.noise_fraction(),
            ari,
            nmi,
            notes: model.notes.clone(),
        };
        let counts = [
            ("topics", stage.topics.len()),
            ("outliers", model.outliers.len()),
        ];
        Ok(Computed::new(stage, &counts))
    })?;
    (cx.progress)("topics", 1, 1);
    Ok(stage)
}

/// ARI and NMI against the corpus labels, when every document has one.
fn scores(docs: &[NewsDoc], labels: &[Option<usize>]) -> (Option<f64>, Option<f64>) {
    if !docs.iter().all(|d| d.label.is_some()) {
        return (None, None);
    }
    let truth: Vec<&str> = docs
        .iter()
        .map(|d| d.label.as_deref().unwrap_or(""))
        .collect();
    let predicted: Vec<i64> = labels.iter().map(|l| l.map_or(-1, |c| c as i64)).collect();
    (
        navab_topics::metrics::adjusted_rand_index(&truth, &predicted).ok(),
        navab_topics::metrics::normalized_mutual_info(&truth, &predicted).ok(),
    )
}

/// 4. InsTag tags the outliers; returns its result (for the report).
pub(crate) fn instag<X: Executor>(
    cx: &mut Ctx<'_, X>,
    topics: &TopicsStage,
    texts: &[&str],
) -> Result<InsTagResult> {
    let prompt = Tagging {
        document: String::new(),
    }
    .request();
    let settings = serde_json::json!({
        "instag": format!("{:?}", cx.config.instag), "embedder": cx.embedder.model_id(),
    });
    let inputs = cx.llm_inputs(&[prompt], settings);
    cx.stage("instag", "04-instag.json", inputs, |cx| {
        let outlier_texts: Vec<&str> = (0..texts.len())
            .filter(|&i| topics.labels[i].is_none())
            .map(|i| texts[i])
            .collect();
        let total = outlier_texts.len();
        let embedder = &cx.embedder;
        let embed = |tags: &[&str]| embedder.embed(tags).map_err(|e| e.to_string());
        let progress = &mut cx.progress;
        let result = cx.exec.block_on(tag_outliers(
            &cx.llm,
            &outlier_texts,
            &embed,
            &cx.config.instag,
            &mut |done| progress("instag", done, total),
        ))?;
        let placed = result.assignments.iter().filter(|a| a.is_some()).count();
        let counts = [
            ("outliers", total),
            ("placed", placed),
            ("failed", result.failures.len()),
        ];
        Ok(Computed::new(result, &counts))
    })
}

/// Adds InsTag's topics after HDBSCAN's and gives the placed outliers their topic.
pub(crate) fn place_outliers(topics: &mut TopicsStage, instag: &InsTagResult) {
    let outliers: Vec<usize> = (0..topics.labels.len())
        .filter(|&i| topics.labels[i].is_none())
        .collect();
    let base = topics.topics.len();
    for (k, tag_topic) in instag.topics.iter().enumerate() {
        topics.topics.push(TopicInfo {
            id: base + k,
            size: tag_topic.size,
            words: vec![tag_topic.label.clone()],
            representative_docs: Vec::new(),
            origin: "instag".into(),
        });
    }
    for (j, &doc) in outliers.iter().enumerate() {
        if let Some(t) = instag.assignments.get(j).copied().flatten() {
            topics.labels[doc] = Some(base + t);
        }
    }
}
