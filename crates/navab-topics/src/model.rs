//! [`fit_topics`]: the stages composed as BERTopic composes them, for a corpus and its
//! sentence embeddings.

use std::time::{Duration, Instant};

use ndarray::{Array2, ArrayView2};
use serde::Serialize;

use crate::hdbscan::{hdbscan, HdbscanParams};
use crate::knn::{KnnGraph, KnnParams};
use crate::represent::{keybert_rerank, mmr, CtfidfModel, RepresentParams, ScoredTerm};
use crate::umap::{fit_with_knn, UmapParams};
use crate::{Error, Result};

/// Parameters of [`fit_topics`]; `Default` gives the NaVAB authors' settings (UMAP 15
/// neighbours, 5 components, min_dist 0, cosine, seed 42; HDBSCAN min_cluster_size 50, eom;
/// 1-2-grams, English stop words and the corpus' 100 most frequent tokens dropped; top 10
/// words; MMR diversity 0.3) and a 2-D map.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicParams {
    /// Dimension reduction before clustering.
    pub umap: UmapParams,
    /// Clustering of the reduced points.
    pub hdbscan: HdbscanParams,
    /// Topic words and representative documents.
    pub represent: RepresentParams,
    /// Also compute a 2-D UMAP of the same neighbour graph, for the map.
    pub map: bool,
}

impl Default for TopicParams {
    fn default() -> Self {
        TopicParams {
            umap: UmapParams::default(),
            hdbscan: HdbscanParams::default(),
            represent: RepresentParams::new(crate::represent::Language::English),
            map: true,
        }
    }
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Topic {
    /// Its id: the index in [`TopicModel::topics`].
    pub id: usize,
    /// Documents in it.
    pub size: usize,
    /// c-TF-IDF words, best first.
    pub words: Vec<ScoredTerm>,
    /// Representative documents (indices), most representative first.
    pub representative_docs: Vec<usize>,
    /// KeyBERT-style reranked words, when [`TopicModel::rerank_keywords`] was called.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<ScoredTerm>,
    /// The candidate words chosen by MMR (similar to the topic, unlike each other), likewise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mmr_keywords: Vec<ScoredTerm>,
}

/// Time of each stage.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct TopicTimings {
    /// kNN graph (shared by both UMAP runs).
    pub knn: Duration,
    /// UMAP to `umap.n_components` dimensions.
    pub umap: Duration,
    /// HDBSCAN.
    pub hdbscan: Duration,
    /// c-TF-IDF and representative documents.
    pub represent: Duration,
    /// The 2-D UMAP for the map.
    pub map: Duration,
}

/// A fitted topic model.
#[derive(Debug, Clone)]
pub struct TopicModel {
    /// Per document: its topic, `None` for an outlier.
    pub labels: Vec<Option<usize>>,
    /// Per document: HDBSCAN's membership strength in its topic (0 for outliers).
    pub probabilities: Vec<f64>,
    /// Topics, largest first (ties by first document).
    pub topics: Vec<Topic>,
    /// Outlier documents (HDBSCAN noise), ascending.
    pub outliers: Vec<usize>,
    /// The reduced points HDBSCAN clustered.
    pub reduced: Array2<f32>,
    /// The 2-D map, when asked for.
    pub map: Option<Array2<f32>>,
    /// Time per stage.
    pub timings: TopicTimings,
    /// Notes from the stages (e.g. a spectral initialisation that fell back).
    pub notes: Vec<String>,
    ctfidf: CtfidfModel,
}

/// Fits topics: exact or approximate kNN (by size), UMAP, HDBSCAN, then c-TF-IDF words and
/// representative documents per topic. Outliers stay outliers here (InsTag places them:
/// [`crate::instag`], feature `instag`).
///
/// # Errors
/// Mismatched lengths, too few documents for the neighbour count, NaN embeddings, or bad
/// parameters.
pub fn fit_topics<S: AsRef<str>>(
    docs: &[S],
    embeddings: ArrayView2<'_, f32>,
    params: &TopicParams,
) -> Result<TopicModel> {
    if docs.len() != embeddings.nrows() {
        return Err(Error::Input(format!(
            "{} documents but {} embedding rows",
            docs.len(),
            embeddings.nrows()
        )));
    }
    let n = docs.len();
    if n < 3 {
        return Err(Error::Input(format!(
            "topic modeling needs at least 3 documents, got {n}"
        )));
    }
    params.umap.check()?;
    params.hdbscan.check()?;
    params.represent.check()?;
    let mut timings = TopicTimings::default();
    let mut notes = Vec::new();

    let start = Instant::now();
    let k = params.umap.n_neighbors.min(n - 1).max(2);
    if k != params.umap.n_neighbors {
        notes.push(format!("n_neighbors lowered to {k} for {n} documents"));
    }
    let knn_params = KnnParams::new(k)
        .metric(params.umap.metric)
        .method(params.umap.knn_method)
        .seed(params.umap.seed);
    let knn = KnnGraph::build(embeddings, &knn_params)?;
    timings.knn = start.elapsed();
    let umap_params = UmapParams {
        n_neighbors: k,
        ..params.umap.clone()
    };

    let start = Instant::now();
    let fit = fit_with_knn(embeddings, &knn, &umap_params)?;
    notes.extend(fit.notes.iter().cloned());
    timings.umap = start.elapsed();
    let reduced = fit.embedding;

    let start = Instant::now();
    let clustering = hdbscan(reduced.view(), &params.hdbscan)?;
    timings.hdbscan = start.elapsed();

    // Topics largest first, so topic 0 is the biggest (BERTopic's order).
    let mut sizes = vec![0usize; clustering.n_clusters];
    let mut first = vec![usize::MAX; clustering.n_clusters];
    for (i, label) in clustering.labels.iter().enumerate() {
        if let Some(c) = label {
            sizes[*c] += 1;
            first[*c] = first[*c].min(i);
        }
    }
    let mut order: Vec<usize> = (0..clustering.n_clusters).collect();
    order.sort_by(|&a, &b| sizes[b].cmp(&sizes[a]).then(first[a].cmp(&first[b])));
    let mut rank = vec![0usize; clustering.n_clusters];
    for (r, &c) in order.iter().enumerate() {
        rank[c] = r;
    }
    let labels: Vec<Option<usize>> = clustering
        .labels
        .iter()
        .map(|l| l.map(|c| rank[c]))
        .collect();
    let outliers: Vec<usize> = (0..n).filter(|&i| labels[i].is_none()).collect();
    let probabilities = clustering.probabilities.clone();

    let start = Instant::now();
    // Outliers form one extra class, so their words do not leak into real topics.
    let n_topics = clustering.n_clusters;
    let classes: Vec<usize> = labels.iter().map(|l| l.unwrap_or(n_topics)).collect();
    let ctfidf = CtfidfModel::fit(docs, &classes, &params.represent)?;
    let topics = (0..n_topics)
        .map(|t| Topic {
            id: t,
            size: sizes[order[t]],
            words: ctfidf.topic_words(t),
            representative_docs: ctfidf
                .default_representative_docs(t)
                .into_iter()
                .map(|(d, _)| d)
                .collect(),
            keywords: Vec::new(),
            mmr_keywords: Vec::new(),
        })
        .collect();
    timings.represent = start.elapsed();

    let map = if params.map {
        let start = Instant::now();
        let map_params = UmapParams {
            n_components: 2,
            min_dist: 0.1,
            ..umap_params
        };
        let map = fit_with_knn(embeddings, &knn, &map_params)?.embedding;
        timings.map = start.elapsed();
        Some(map)
    } else {
        None
    };
    Ok(TopicModel {
        labels,
        probabilities,
        topics,
        outliers,
        reduced,
        map,
        timings,
        notes,
        ctfidf,
    })
}

impl TopicModel {
    /// Share of documents left as outliers.
    pub fn noise_fraction(&self) -> f64 {
        self.outliers.len() as f64 / self.labels.len().max(1) as f64
    }

    /// The c-TF-IDF model behind the topic words.
    pub fn ctfidf(&self) -> &CtfidfModel {
        &self.ctfidf
    }

    /// KeyBERT-style keywords and their MMR diversification for every topic: the topic's
    /// candidate words are embedded with `embed` and ranked by similarity to the mean embedding
    /// of its representative documents.
    ///
    /// # Errors
    /// `embed` fails or returns the wrong number of rows.
    pub fn rerank_keywords<E>(
        &mut self,
        doc_embeddings: ArrayView2<'_, f32>,
        embed: E,
    ) -> Result<()>
    where
        E: Fn(&[&str]) -> std::result::Result<Array2<f32>, String>,
    {
        let top_n = self.ctfidf.params().top_n_words;
        let diversity = self.ctfidf.params().mmr_diversity;
        for t in 0..self.topics.len() {
            let candidates = self.ctfidf.candidate_words(t);
            if candidates.is_empty() {
                continue;
            }
            let words: Vec<&str> = candidates.iter().map(|c| c.term.as_str()).collect();
            let vectors = embed(&words).map_err(Error::Input)?;
            let topic_vec = self.ctfidf.topic_vector(t, doc_embeddings)?;
            let reranked = keybert_rerank(&words, vectors.view(), topic_vec.view(), top_n)?;
            self.topics[t].mmr_keywords =
                mmr(topic_vec.view(), vectors.view(), &words, top_n, diversity)?;
            self.topics[t].keywords = reranked;
        }
        Ok(())
    }
}
