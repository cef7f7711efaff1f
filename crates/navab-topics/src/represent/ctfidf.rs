//! Class-based TF-IDF (BERTopic's c-TF-IDF) and the per-topic pipeline built on it.

use std::collections::HashMap;

use super::sparse::CsrMatrix;
use super::vectorize::{CountVectorizer, VectorizerParams};
use super::ScoredTerm;
use crate::{Error, Result};

/// c-TF-IDF options, defaults as in BERTopic.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct CtfidfParams {
    /// BM25-style idf `ln(1 + (A - f_t + 0.5) / (f_t + 0.5))` instead of `ln(1 + A / f_t)`. Default `false`.
    pub bm25_weighting: bool,
    /// Take the square root of the L1-normalised term frequencies, damping very frequent words.
    /// Default `false`.
    pub reduce_frequent_words: bool,
}

/// Fitted c-TF-IDF weights: one row per class (topic), one column per vocabulary term.
///
/// With `c_{t,k}` the count of term `t` in class `k` (all the class's documents joined):
/// `tf_{t,k} = c_{t,k} / Σ_t c_{t,k}` (L1 per class, optionally square-rooted),
/// `idf_t = ln(1 + A / f_t)` where `A` is the mean number of words per class and
/// `f_t = Σ_k c_{t,k}`, and the weight is `tf_{t,k} · idf_t`.
/// BERTopic truncates `A` to an integer; we keep the mean as a real number, as the published
/// formula states (the difference is below one word in `A`).
///
/// # Example
/// ```
/// use navab_topics::represent::{ClassTfidf, CsrMatrix, CtfidfParams};
/// // Two classes over three terms; term 2 only occurs in class 1.
/// let mut counts = CsrMatrix::new(3);
/// counts.push_row([(0, 3), (1, 1)])?;
/// counts.push_row([(0, 1), (2, 4)])?;
/// let ctfidf = ClassTfidf::fit(&counts, CtfidfParams::default())?;
/// assert_eq!(ctfidf.top_terms(1, 1)[0].0, 2);
/// # Ok::<(), navab_topics::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClassTfidf {
    params: CtfidfParams,
    idf: Vec<f64>,
    weights: CsrMatrix<f64>,
}

impl ClassTfidf {
    /// Learns the idf from per-class counts and weights those classes.
    ///
    /// # Complexity
    /// O(nnz + V) for V terms.
    ///
    /// # Errors
    /// [`Error::Input`] if there is no class or no class has any word.
    pub fn fit(class_counts: &CsrMatrix<u32>, params: CtfidfParams) -> Result<Self> {
        let n_classes = class_counts.n_rows();
        if n_classes == 0 {
            return Err(Error::Input("c-TF-IDF needs at least one class".into()));
        }
        let mut term_freq = vec![0.0f64; class_counts.n_cols()];
        let mut total = 0.0f64;
        for (cols, vals) in class_counts.rows() {
            for (&c, &v) in cols.iter().zip(vals) {
                term_freq[c as usize] += f64::from(v);
                total += f64::from(v);
            }
        }
        if total == 0.0 {
            return Err(Error::Input(format!(
                "none of the {n_classes} classes has any word"
            )));
        }
        let avg_words = total / n_classes as f64;
        let idf = term_freq
            .iter()
            .map(|&f| {
                if f == 0.0 {
                    // A term that no class uses gets no weight (BERTopic would divide by zero).
                    0.0
                } else if params.bm25_weighting {
                    (1.0 + (avg_words - f + 0.5) / (f + 0.5)).ln()
                } else {
                    (1.0 + avg_words / f).ln()
                }
            })
            .collect();
        let mut model = ClassTfidf {
            params,
            idf,
            weights: CsrMatrix::new(0),
        };
        model.weights = model.transform(class_counts);
        Ok(model)
    }

    /// Weights any count rows (classes or single documents) with the fitted idf.
    /// Rows with columns beyond the fitted vocabulary get weight 0 there.
    pub fn transform(&self, counts: &CsrMatrix<u32>) -> CsrMatrix<f64> {
        let mut out = CsrMatrix::new(self.idf.len());
        for (cols, vals) in counts.rows() {
            let sum: f64 = vals.iter().map(|&v| f64::from(v)).sum();
            let row = cols
                .iter()
                .zip(vals)
                .filter(|(&c, _)| (c as usize) < self.idf.len())
                .map(|(&c, &v)| {
                    let mut tf = f64::from(v) / sum;
                    if self.params.reduce_frequent_words {
                        tf = tf.sqrt();
                    }
                    (c, tf * self.idf[c as usize])
                });
            // Columns stay sorted and in range, so the row is valid.
            let _ = out.push_row(row.collect::<Vec<_>>());
        }
        out
    }

    /// The idf per term.
    pub fn idf(&self) -> &[f64] {
        &self.idf
    }

    /// The class × term c-TF-IDF matrix.
    pub fn weights(&self) -> &CsrMatrix<f64> {
        &self.weights
    }

    /// The parameters.
    pub fn params(&self) -> CtfidfParams {
        self.params
    }

    /// The `n` highest-weighted terms of `class` as `(term index, weight)`, best first, ties by
    /// term index; terms with weight ≤ 0 are left out (as BERTopic blanks them), so fewer than
    /// `n` may come back. Empty for a class out of range.
    pub fn top_terms(&self, class: usize, n: usize) -> Vec<(usize, f64)> {
        let Some((cols, vals)) = self.weights.row(class) else {
            return Vec::new();
        };
        let mut ranked: Vec<(usize, f64)> = cols
            .iter()
            .zip(vals)
            .filter(|(_, &w)| w > 0.0)
            .map(|(&c, &w)| (c as usize, w))
            .collect();
        ranked.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(n);
        ranked
    }
}

/// Sums document count rows into one row per class: row `k` holds the counts of all documents
/// labelled `k` (BERTopic joins a topic's documents into one).
///
/// # Errors
/// [`Error::Input`] if `labels` and the rows differ in length or a label is `>= n_classes`.
pub fn class_counts(
    doc_counts: &CsrMatrix<u32>,
    labels: &[usize],
    n_classes: usize,
) -> Result<CsrMatrix<u32>> {
    if labels.len() != doc_counts.n_rows() {
        return Err(Error::Input(format!(
            "{} labels for {} documents",
            labels.len(),
            doc_counts.n_rows()
        )));
    }
    let mut per_class: Vec<HashMap<u32, u32>> = vec![HashMap::new(); n_classes];
    for (doc, ((cols, vals), &label)) in doc_counts.rows().zip(labels).enumerate() {
        let class = per_class.get_mut(label).ok_or_else(|| {
            Error::Input(format!(
                "document {doc}: label {label} >= number of classes {n_classes}"
            ))
        })?;
        for (&c, &v) in cols.iter().zip(vals) {
            *class.entry(c).or_insert(0) += v;
        }
    }
    let mut out = CsrMatrix::new(doc_counts.n_cols());
    for class in per_class {
        let mut row: Vec<(u32, u32)> = class.into_iter().collect();
        row.sort_unstable_by_key(|&(c, _)| c);
        out.push_row(row)?;
    }
    Ok(out)
}

/// Parameters of the topic-representation stage, with the NaVAB authors' values.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RepresentParams {
    /// Vocabulary options.
    pub vectorizer: VectorizerParams,
    /// c-TF-IDF options.
    pub ctfidf: CtfidfParams,
    /// Words per topic. Default 10.
    pub top_n_words: usize,
    /// Candidate words per topic handed to KeyBERT-style reranking or MMR. Default 100 (BERTopic's
    /// `nr_candidate_words`).
    pub n_candidate_words: usize,
    /// Representative documents per topic. Default 5 (BERTopic's `nr_repr_docs`).
    pub n_repr_docs: usize,
    /// MMR diversity in [0, 1]. Default 0.3, as the NaVAB authors used.
    pub mmr_diversity: f64,
}

impl RepresentParams {
    /// The defaults for a corpus in `language`.
    pub fn new(language: super::Language) -> Self {
        RepresentParams {
            vectorizer: VectorizerParams::new(language),
            ctfidf: CtfidfParams::default(),
            top_n_words: 10,
            n_candidate_words: 100,
            n_repr_docs: 5,
            mmr_diversity: 0.3,
        }
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] naming the first field out of range.
    pub fn check(&self) -> Result<&Self> {
        self.vectorizer.check()?;
        if self.top_n_words == 0 {
            return Err(Error::param(
                "top_n_words",
                self.top_n_words,
                "must be at least 1",
            ));
        }
        if self.n_candidate_words == 0 {
            return Err(Error::param(
                "n_candidate_words",
                self.n_candidate_words,
                "must be at least 1",
            ));
        }
        if self.n_repr_docs == 0 {
            return Err(Error::param(
                "n_repr_docs",
                self.n_repr_docs,
                "must be at least 1",
            ));
        }
        if !(0.0..=1.0).contains(&self.mmr_diversity) {
            return Err(Error::param(
                "mmr_diversity",
                self.mmr_diversity,
                "must be in [0, 1]",
            ));
        }
        Ok(self)
    }
}

/// Topic words for a labelled corpus: vocabulary, per-document counts and c-TF-IDF per topic.
///
/// # Example
/// ```
/// use navab_topics::represent::{CtfidfModel, Language, RepresentParams};
/// let docs = ["The striker scored a late goal", "Goal! The keeper could not stop the striker",
///             "Interest rates rose and interest rates will rise", "Bond yields fell"];
/// let mut params = RepresentParams::new(Language::English);
/// params.vectorizer.drop_most_frequent = 0;
/// let model = CtfidfModel::fit(&docs, &[0, 0, 1, 1], &params)?;
/// let sport: Vec<String> = model.topic_words(0).into_iter().map(|w| w.term).collect();
/// assert!(sport[..2].contains(&"striker".into()) && sport[..2].contains(&"goal".into()));
/// assert_eq!(model.representative_docs(1, 1)[0].0, 2); // the one about interest rates
/// # Ok::<(), navab_topics::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct CtfidfModel {
    params: RepresentParams,
    vectorizer: CountVectorizer,
    doc_counts: CsrMatrix<u32>,
    labels: Vec<usize>,
    ctfidf: ClassTfidf,
}

impl CtfidfModel {
    /// Fits the vocabulary on `docs` and c-TF-IDF on the topics given by `labels`
    /// (topic ids `0..=max(labels)`; map HDBSCAN's outlier label to an id of its own first).
    ///
    /// # Complexity
    /// Linear in the corpus's tokens (times the n-gram span), plus sorting the vocabulary.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for bad parameters; [`Error::Input`] for an empty corpus,
    /// labels of another length than the documents, or a corpus without any term.
    pub fn fit<S: AsRef<str>>(
        docs: &[S],
        labels: &[usize],
        params: &RepresentParams,
    ) -> Result<Self> {
        params.check()?;
        if labels.len() != docs.len() {
            return Err(Error::Input(format!(
                "{} labels for {} documents",
                labels.len(),
                docs.len()
            )));
        }
        let (vectorizer, doc_counts) = CountVectorizer::fit_transform(&params.vectorizer, docs)?;
        let n_topics = labels.iter().max().map_or(0, |&m| m + 1);
        let classes = class_counts(&doc_counts, labels, n_topics)?;
        let ctfidf = ClassTfidf::fit(&classes, params.ctfidf)?;
        Ok(CtfidfModel {
            params: params.clone(),
            vectorizer,
            doc_counts,
            labels: labels.to_vec(),
            ctfidf,
        })
    }

    /// Number of topics (`max(label) + 1`).
    pub fn n_topics(&self) -> usize {
        self.ctfidf.weights().n_rows()
    }

    /// The `top_n_words` best terms of `topic` with their c-TF-IDF weights (empty for a topic
    /// without words or out of range).
    pub fn topic_words(&self, topic: usize) -> Vec<ScoredTerm> {
        self.top_words(topic, self.params.top_n_words)
    }

    /// The `n` best terms of `topic`, e.g. `n_candidate_words` candidates for reranking.
    pub fn top_words(&self, topic: usize, n: usize) -> Vec<ScoredTerm> {
        let vocab = self.vectorizer.vocabulary();
        self.ctfidf
            .top_terms(topic, n)
            .into_iter()
            .map(|(i, w)| ScoredTerm {
                term: vocab[i].clone(),
                score: w,
            })
            .collect()
    }

    /// The candidate words of `topic` for [`super::keybert_rerank`] and [`super::mmr`].
    pub fn candidate_words(&self, topic: usize) -> Vec<ScoredTerm> {
        self.top_words(topic, self.params.n_candidate_words)
    }

    /// The `k` documents of `topic` closest to it: cosine similarity between each document's
    /// c-TF-IDF vector and the topic's, best first, ties by document index. Returns
    /// `(document index, similarity)`. Unlike BERTopic, which samples 500 candidates at random,
    /// every document of the topic is scored, so the result needs no seed.
    ///
    /// # Complexity
    /// O(V + n + nnz of the topic's documents + m log m) for V terms, n documents, m in the topic.
    pub fn representative_docs(&self, topic: usize, k: usize) -> Vec<(usize, f64)> {
        let Some((topic_cols, topic_vals)) = self.ctfidf.weights().row(topic) else {
            return Vec::new();
        };
        // The topic row scattered into a dense vector, so each document's dot product costs
        // O(its own terms) instead of a walk over the topic's whole row.
        let mut dense = vec![0.0f64; self.doc_counts.n_cols()];
        for (&c, &w) in topic_cols.iter().zip(topic_vals) {
            dense[c as usize] = w;
        }
        let topic_norm = topic_vals.iter().map(|w| w * w).sum::<f64>().sqrt();
        let members: Vec<usize> = (0..self.labels.len())
            .filter(|&d| self.labels[d] == topic)
            .collect();
        let mut counts = CsrMatrix::new(self.doc_counts.n_cols());
        for &d in &members {
            if let Some((cols, vals)) = self.doc_counts.row(d) {
                let _ = counts.push_row(cols.iter().copied().zip(vals.iter().copied()));
            }
        }
        let weighted = self.ctfidf.transform(&counts);
        let mut scored: Vec<(usize, f64)> = members
            .iter()
            .zip(weighted.rows())
            .map(|(&d, (cols, vals))| {
                let dot: f64 = cols
                    .iter()
                    .zip(vals)
                    .map(|(&c, &w)| w * dense[c as usize])
                    .sum();
                let norm = vals.iter().map(|w| w * w).sum::<f64>().sqrt() * topic_norm;
                (d, if norm > 0.0 { dot / norm } else { 0.0 })
            })
            .collect();
        scored.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.truncate(k);
        scored
    }

    /// [`CtfidfModel::representative_docs`] with `n_repr_docs` documents.
    pub fn default_representative_docs(&self, topic: usize) -> Vec<(usize, f64)> {
        self.representative_docs(topic, self.params.n_repr_docs)
    }

    /// The topic's embedding for [`super::keybert_rerank`]: the mean of the embeddings of its
    /// `n_repr_docs` representative documents (BERTopic's KeyBERT-inspired representation).
    /// Row `i` of `doc_embeddings` embeds document `i` of the fitted corpus.
    ///
    /// # Errors
    /// [`Error::Input`] if the rows are not one per document, a representative document's row
    /// has a NaN or infinite value, or the topic has no document.
    pub fn topic_vector(
        &self,
        topic: usize,
        doc_embeddings: ndarray::ArrayView2<'_, f32>,
    ) -> Result<ndarray::Array1<f32>> {
        if doc_embeddings.nrows() != self.labels.len() {
            return Err(Error::Input(format!(
                "{} embedding rows for {} documents",
                doc_embeddings.nrows(),
                self.labels.len()
            )));
        }
        let rows: Vec<usize> = self
            .default_representative_docs(topic)
            .into_iter()
            .map(|(d, _)| d)
            .collect();
        if rows.is_empty() {
            return Err(Error::Input(format!("topic {topic} has no document")));
        }
        super::mean_vector(doc_embeddings.select(ndarray::Axis(0), &rows).view())
    }

    /// The fitted vectorizer (vocabulary, tokenizer, dropped frequent tokens).
    pub fn vectorizer(&self) -> &CountVectorizer {
        &self.vectorizer
    }

    /// The fitted c-TF-IDF (idf and the topic × term matrix).
    pub fn ctfidf(&self) -> &ClassTfidf {
        &self.ctfidf
    }

    /// Term counts per document.
    pub fn doc_counts(&self) -> &CsrMatrix<u32> {
        &self.doc_counts
    }

    /// The topic label of each document.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// The parameters.
    pub fn params(&self) -> &RepresentParams {
        &self.params
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(rows: &[&[(u32, u32)]], n_cols: usize) -> CsrMatrix<u32> {
        let mut m = CsrMatrix::new(n_cols);
        for r in rows {
            m.push_row(r.iter().copied()).unwrap();
        }
        m
    }

    #[test]
    fn formula_matches_hand_computation() {
        // Class 0: term0 x3, term1 x1; class 1: term0 x1, term2 x4. A = 9/2.
        let c = counts(&[&[(0, 3), (1, 1)], &[(0, 1), (2, 4)]], 3);
        let m = ClassTfidf::fit(&c, CtfidfParams::default()).unwrap();
        let a = 4.5f64;
        let idf = [
            (1.0 + a / 4.0).ln(),
            (1.0 + a / 1.0).ln(),
            (1.0 + a / 4.0).ln(),
        ];
        for (got, want) in m.idf().iter().zip(idf) {
            assert!((got - want).abs() < 1e-12);
        }
        let (_, w0) = m.weights().row(0).unwrap();
        assert!((w0[0] - 0.75 * idf[0]).abs() < 1e-12 && (w0[1] - 0.25 * idf[1]).abs() < 1e-12);

        let p = CtfidfParams {
            bm25_weighting: true,
            reduce_frequent_words: true,
        };
        let m = ClassTfidf::fit(&c, p).unwrap();
        let bm25 = (1.0 + (a - 4.0 + 0.5) / 4.5).ln();
        assert!((m.idf()[0] - bm25).abs() < 1e-12);
        let (_, w1) = m.weights().row(1).unwrap();
        assert!((w1[0] - 0.2f64.sqrt() * bm25).abs() < 1e-12);
    }

    #[test]
    fn class_aggregation_and_errors() {
        let docs = counts(&[&[(0, 1)], &[(0, 2), (1, 1)], &[(1, 5)]], 2);
        let c = class_counts(&docs, &[1, 1, 0], 2).unwrap();
        assert_eq!(c.row(0).unwrap(), (&[1u32][..], &[5u32][..]));
        assert_eq!(c.row(1).unwrap(), (&[0u32, 1][..], &[3u32, 1][..]));
        assert!(class_counts(&docs, &[0, 1], 2).is_err());
        assert!(class_counts(&docs, &[0, 1, 2], 2).is_err());
        assert!(ClassTfidf::fit(&CsrMatrix::new(2), CtfidfParams::default()).is_err());
        assert!(ClassTfidf::fit(&counts(&[&[], &[]], 2), CtfidfParams::default()).is_err());
    }

    #[test]
    fn topic_without_words_is_empty_not_an_error() {
        let docs = [
            "inflation and interest rates",
            "the of and",
            "interest rates again",
        ];
        let mut params = RepresentParams::new(super::super::Language::English);
        params.vectorizer.drop_most_frequent = 0;
        let model = CtfidfModel::fit(&docs, &[0, 1, 0], &params).unwrap();
        assert_eq!(model.n_topics(), 2);
        assert!(model.topic_words(1).is_empty());
        assert_eq!(model.representative_docs(1, 3), [(1, 0.0)]);
        assert!(model.topic_words(7).is_empty());
        assert!(model.representative_docs(7, 3).is_empty());
        assert!(CtfidfModel::fit(&docs, &[0, 1], &params).is_err());
        let emb = ndarray::array![[1.0f32, 0.0], [0.0, 1.0], [3.0, 0.0]];
        assert_eq!(
            model.topic_vector(0, emb.view()).unwrap(),
            ndarray::array![2.0f32, 0.0]
        );
        assert!(model
            .topic_vector(0, emb.slice(ndarray::s![..2, ..]))
            .is_err());
        assert!(model.topic_vector(5, emb.view()).is_err());
        params.mmr_diversity = 1.5;
        assert!(matches!(
            CtfidfModel::fit(&docs, &[0, 1, 0], &params),
            Err(Error::InvalidParam { .. })
        ));
    }
}
