//! 3. Topics (kNN, UMAP, HDBSCAN, c-TF-IDF) and 4. InsTag for HDBSCAN's outliers.

use navab_llm::steps::Tagging;
use navab_llm::Step;
use navab_topics::fit_topics;
use navab_topics::instag::{tag_outliers, InsTagResult};
use serde::{Deserialize, Serialize};

use navab_topics::represent::Language;

use super::embed::DocVectors;
use super::{groups, Computed, Ctx, Group};
use crate::corpus::NewsDoc;
use crate::pipeline::Executor;
use crate::Result;

/// A topic as the pipeline keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TopicInfo {
    /// Id: unique in the run (each group's HDBSCAN topics, then InsTag topics).
    pub id: usize,
    /// The nation whose documents it groups (topics are modeled per nation).
    #[serde(default)]
    pub nation: String,
    /// The language of its documents.
    #[serde(default)]
    pub language: String,
    /// The outlet, when topics are modeled per source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Documents in it.
    pub size: usize,
    /// Top words (c-TF-IDF), or the consolidated tag for an InsTag topic.
    pub words: Vec<String>,
    /// KeyBERT-style keywords: c-TF-IDF candidates reranked by closeness to the topic.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    /// Keywords chosen by MMR (close to the topic, unlike each other).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mmr_keywords: Vec<String>,
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
    /// 2-D map coordinates per document (each group's own map), for the topic maps.
    #[serde(default)]
    pub map: Vec<[f32; 2]>,
    pub noise_fraction: f64,
    pub ari: Option<f64>,
    pub nmi: Option<f64>,
    pub notes: Vec<String>,
}

pub(crate) fn run<X: Executor>(
    cx: &mut Ctx<'_, X>,
    docs: &[NewsDoc],
    texts: &[&str],
    vectors: &DocVectors,
) -> Result<TopicsStage> {
    let inputs = serde_json::json!({
        "topics": format!("{:?}", cx.config.topics),
        "per_source": cx.config.topics_per_source,
        "embedders": cx.embedders.ids(),
    });
    let stage = cx.stage("topics", "03-topics.json", inputs, |cx| {
        let mut stage = TopicsStage {
            labels: vec![None; docs.len()],
            topics: Vec::new(),
            map: vec![[0.0; 2]; docs.len()],
            noise_fraction: 0.0,
            ari: None,
            nmi: None,
            notes: Vec::new(),
        };
        let groups = groups(docs, cx.config.topics_per_source);
        let total = groups.len();
        for (done, (group, members)) in groups.into_iter().enumerate() {
            fit_group(cx, &mut stage, &group, &members, texts, vectors)?;
            (cx.progress)("topics", done + 1, total);
        }
        let outliers = stage.labels.iter().filter(|l| l.is_none()).count();
        stage.noise_fraction = outliers as f64 / docs.len().max(1) as f64;
        (stage.ari, stage.nmi) = scores(docs, &stage.labels);
        let counts = [("topics", stage.topics.len()), ("outliers", outliers)];
        Ok(Computed::new(stage, &counts))
    })?;
    Ok(stage)
}

/// Topics of one group (a nation, in one language, per source if asked): its documents, its
/// language's stop words and segmentation, its embedder's vectors. A group too small to model
/// leaves its documents as outliers, with a note.
fn fit_group<X: Executor>(
    cx: &mut Ctx<'_, X>,
    stage: &mut TopicsStage,
    group: &Group,
    members: &[usize],
    texts: &[&str],
    vectors: &DocVectors,
) -> Result<()> {
    let mut params = cx.config.topics.clone();
    params.map = true;
    params.represent.vectorizer.language = Language::from_code(&group.language);
    let group_texts: Vec<&str> = members.iter().map(|&i| texts[i]).collect();
    let rows = vectors.rows(members);
    let mut model = match fit_topics(&group_texts, rows.view(), &params) {
        Ok(model) => model,
        Err(e) => {
            stage.notes.push(format!(
                "{group}: {} documents not modeled ({e}); they are outliers",
                members.len()
            ));
            return Ok(());
        }
    };
    let embedder = cx.embedders.for_language(&group.language);
    let embed = |words: &[&str]| embedder.embed(words).map_err(|e| e.to_string());
    if let Err(e) = model.rerank_keywords(rows.view(), embed) {
        stage
            .notes
            .push(format!("{group}: no KeyBERT keywords ({e})"));
    }
    let base = stage.topics.len();
    for (j, &doc) in members.iter().enumerate() {
        stage.labels[doc] = model.labels[j].map(|t| base + t);
        if let Some(map) = &model.map {
            stage.map[doc] = [map[[j, 0]], map[[j, 1]]];
        }
    }
    let terms =
        |w: &[navab_topics::represent::ScoredTerm]| w.iter().map(|t| t.term.clone()).collect();
    stage.topics.extend(model.topics.iter().map(|t| TopicInfo {
        id: base + t.id,
        nation: group.nation.clone(),
        language: group.language.clone(),
        source: group.source.clone(),
        size: t.size,
        words: terms(&t.words),
        keywords: terms(&t.keywords),
        mmr_keywords: terms(&t.mmr_keywords),
        representative_docs: t.representative_docs.iter().map(|&j| members[j]).collect(),
        origin: "hdbscan".into(),
    }));
    stage
        .notes
        .extend(model.notes.iter().map(|n| format!("{group}: {n}")));
    Ok(())
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

/// InsTag's result for the outliers of one group.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct GroupInsTag {
    pub group: Group,
    /// The outliers it tagged (document indices), in the order of `result.assignments`.
    pub docs: Vec<usize>,
    pub result: InsTagResult,
}

/// Stage 4: InsTag tags each group's outliers (with the group's embedder for
/// consolidation); nothing when the run turns InsTag off.
pub(crate) fn instag<X: Executor>(
    cx: &mut Ctx<'_, X>,
    docs: &[NewsDoc],
    topics: &TopicsStage,
    texts: &[&str],
) -> Result<Vec<GroupInsTag>> {
    if !cx.config.run_instag {
        cx.run.skip("instag")?;
        return Ok(Vec::new());
    }
    let prompt = Tagging {
        document: String::new(),
    }
    .request();
    let settings = serde_json::json!({
        "instag": format!("{:?}", cx.config.instag), "embedders": cx.embedders.ids(),
        "concurrency": cx.config.concurrency,
    });
    let inputs = cx.llm_inputs(&[prompt], settings);
    cx.stage("instag", "04-instag.json", inputs, |cx| {
        let mut out = Vec::new();
        let all = topics.labels.iter().filter(|l| l.is_none()).count();
        let mut offset = 0;
        for (group, members) in groups(docs, cx.config.topics_per_source) {
            let outliers: Vec<usize> = members
                .into_iter()
                .filter(|&i| topics.labels[i].is_none())
                .collect();
            if outliers.is_empty() {
                continue;
            }
            let outlier_texts: Vec<&str> = outliers.iter().map(|&i| texts[i]).collect();
            let embedder = cx.embedders.for_language(&group.language);
            let embed = |tags: &[&str]| embedder.embed(tags).map_err(|e| e.to_string());
            let progress = &mut cx.progress;
            let mut params = cx.config.instag.clone();
            params.concurrency = cx.config.concurrency;
            let result = cx.exec.block_on(tag_outliers(
                &cx.llm,
                &outlier_texts,
                &embed,
                &params,
                &mut |done| progress("instag", offset + done, all),
            ))?;
            offset += outliers.len();
            out.push(GroupInsTag {
                group,
                docs: outliers,
                result,
            });
        }
        let placed: usize = out.iter().map(|g| g.placed()).sum();
        let failed: usize = out.iter().map(|g| g.result.failures.len()).sum();
        let counts = [("outliers", all), ("placed", placed), ("failed", failed)];
        Ok(Computed::new(out, &counts))
    })
}

impl GroupInsTag {
    /// Outliers it gave a topic.
    pub fn placed(&self) -> usize {
        self.result
            .assignments
            .iter()
            .filter(|a| a.is_some())
            .count()
    }
}

/// Adds each group's InsTag topics after the HDBSCAN topics and gives the placed outliers
/// their topic.
pub(crate) fn place_outliers(topics: &mut TopicsStage, instag: &[GroupInsTag]) {
    for g in instag {
        let base = topics.topics.len();
        for (k, tag_topic) in g.result.topics.iter().enumerate() {
            topics.topics.push(TopicInfo {
                id: base + k,
                nation: g.group.nation.clone(),
                language: g.group.language.clone(),
                source: g.group.source.clone(),
                size: tag_topic.size,
                words: vec![tag_topic.label.clone()],
                keywords: Vec::new(),
                mmr_keywords: Vec::new(),
                representative_docs: Vec::new(),
                origin: "instag".into(),
            });
        }
        for (j, &doc) in g.docs.iter().enumerate() {
            if let Some(t) = g.result.assignments.get(j).copied().flatten() {
                topics.labels[doc] = Some(base + t);
            }
        }
    }
}
