//! Embedding-based keyword selection: KeyBERT-inspired reranking and Maximal Marginal Relevance.
//!
//! Pure functions over vectors: the caller embeds words and documents with any embedder.

use ndarray::{Array1, ArrayView1, ArrayView2};

use super::ScoredTerm;
use crate::{Error, Result};

/// Validates `n_words` row vectors against a target vector: same count, same dimension, finite.
fn check_vectors(
    what: &str,
    n_words: usize,
    vecs: ArrayView2<'_, f32>,
    target: ArrayView1<'_, f32>,
) -> Result<()> {
    if vecs.nrows() != n_words {
        return Err(Error::Input(format!(
            "{what}: {n_words} words but {} vectors",
            vecs.nrows()
        )));
    }
    if n_words > 0 && vecs.ncols() != target.len() {
        return Err(Error::Input(format!(
            "{what}: word vectors have dimension {} but the target vector {}",
            vecs.ncols(),
            target.len()
        )));
    }
    if target.is_empty() {
        return Err(Error::Input(format!("{what}: the target vector is empty")));
    }
    if target.iter().any(|x| !x.is_finite()) {
        return Err(Error::Input(format!(
            "{what}: the target vector has a NaN or infinite value"
        )));
    }
    if let Some(row) = vecs
        .rows()
        .into_iter()
        .position(|r| r.iter().any(|x| !x.is_finite()))
    {
        return Err(Error::Input(format!(
            "{what}: word vector {row} has a NaN or infinite value"
        )));
    }
    Ok(())
}

/// Cosine similarity in f64; 0 when either vector is all zero.
fn cosine(a: ArrayView1<'_, f32>, b: ArrayView1<'_, f32>) -> f64 {
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    let denom = (na * nb).sqrt();
    if denom > 0.0 {
        dot / denom
    } else {
        0.0
    }
}

/// The mean of row vectors, e.g. a topic embedding from its representative documents'
/// embeddings (as BERTopic's KeyBERT-inspired representation builds it).
///
/// # Errors
/// [`Error::Input`] if there is no row, rows have no columns, or a value is NaN or infinite.
pub fn mean_vector(rows: ArrayView2<'_, f32>) -> Result<Array1<f32>> {
    if rows.nrows() == 0 || rows.ncols() == 0 {
        return Err(Error::Input(format!(
            "mean of a {}x{} matrix",
            rows.nrows(),
            rows.ncols()
        )));
    }
    if let Some(row) = rows
        .rows()
        .into_iter()
        .position(|r| r.iter().any(|x| !x.is_finite()))
    {
        return Err(Error::Input(format!(
            "row {row} has a NaN or infinite value"
        )));
    }
    let n = rows.nrows() as f64;
    Ok((0..rows.ncols())
        .map(|j| (rows.column(j).iter().map(|&x| f64::from(x)).sum::<f64>() / n) as f32)
        .collect())
}

/// KeyBERT-inspired reranking: the `top_n` candidates most similar (cosine) to the topic vector,
/// best first, ties kept in candidate order (so c-TF-IDF order breaks them).
///
/// `candidate_words` are usually a topic's c-TF-IDF candidates
/// ([`super::CtfidfModel::candidate_words`]); row `i` of `candidate_vecs` embeds word `i`;
/// `topic_vec` is e.g. the [`mean_vector`] of the topic's representative documents.
/// Scores are cosine similarities.
///
/// # Complexity
/// O(n·d + n log n) for n candidates of dimension d.
///
/// # Errors
/// [`Error::Input`] if the counts or dimensions differ or a value is NaN or infinite.
///
/// # Example
/// ```
/// use ndarray::array;
/// use navab_topics::represent::keybert_rerank;
/// let words = ["goal", "bank", "striker"];
/// let vecs = array![[1.0f32, 0.1], [0.0, 1.0], [0.9, 0.0]];
/// let ranked = keybert_rerank(&words, vecs.view(), array![1.0f32, 0.0].view(), 2)?;
/// assert_eq!(ranked.iter().map(|w| w.term.as_str()).collect::<Vec<_>>(), ["striker", "goal"]);
/// # Ok::<(), navab_topics::Error>(())
/// ```
pub fn keybert_rerank<S: AsRef<str>>(
    candidate_words: &[S],
    candidate_vecs: ArrayView2<'_, f32>,
    topic_vec: ArrayView1<'_, f32>,
    top_n: usize,
) -> Result<Vec<ScoredTerm>> {
    check_vectors(
        "keybert_rerank",
        candidate_words.len(),
        candidate_vecs,
        topic_vec,
    )?;
    let mut scored: Vec<(usize, f64)> = candidate_vecs
        .rows()
        .into_iter()
        .map(|r| cosine(r, topic_vec))
        .enumerate()
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(scored
        .into_iter()
        .take(top_n)
        .map(|(i, s)| ScoredTerm {
            term: candidate_words[i].as_ref().to_owned(),
            score: s,
        })
        .collect())
}

/// Maximal Marginal Relevance: picks `top_n` words one at a time, each maximising
/// `(1 - diversity) · sim(word, doc) - diversity · max sim(word, already picked)`.
///
/// The first pick is the word most similar to `doc_vec`. With `diversity` 0 this is the ranking
/// by similarity; towards 1 it favours words unlike those already picked. BERTopic's default is
/// 0.1; the NaVAB authors used 0.3. Scores are each word's cosine similarity to `doc_vec`, in
/// pick order. Ties go to the earlier word.
///
/// # Complexity
/// O(n²·d) for the word-word similarities plus O(top_n · n) for the picks.
///
/// # Errors
/// [`Error::InvalidParam`] if `diversity` is outside [0, 1]; [`Error::Input`] if the counts or
/// dimensions differ or a value is NaN or infinite.
///
/// # Example
/// ```
/// use ndarray::array;
/// use navab_topics::represent::mmr;
/// // "goals" nearly repeats "goal"; with diversity the second pick is "referee" instead.
/// let words = ["goal", "goals", "referee"];
/// let vecs = array![[1.0f32, 0.0], [0.99, -0.05], [0.6, 0.8]];
/// let doc = array![0.9f32, 0.3];
/// let plain = mmr(doc.view(), vecs.view(), &words, 2, 0.0)?;
/// let diverse = mmr(doc.view(), vecs.view(), &words, 2, 0.7)?;
/// assert_eq!(plain[1].term, "goals");
/// assert_eq!(diverse[1].term, "referee");
/// # Ok::<(), navab_topics::Error>(())
/// ```
pub fn mmr<S: AsRef<str>>(
    doc_vec: ArrayView1<'_, f32>,
    word_vecs: ArrayView2<'_, f32>,
    words: &[S],
    top_n: usize,
    diversity: f64,
) -> Result<Vec<ScoredTerm>> {
    if !(0.0..=1.0).contains(&diversity) {
        return Err(Error::param("diversity", diversity, "must be in [0, 1]"));
    }
    check_vectors("mmr", words.len(), word_vecs, doc_vec)?;
    let n = words.len();
    let to_doc: Vec<f64> = word_vecs
        .rows()
        .into_iter()
        .map(|r| cosine(r, doc_vec))
        .collect();
    // Max similarity of each candidate to the words picked so far, updated after each pick.
    let mut to_picked = vec![f64::NEG_INFINITY; n];
    let mut picked = vec![false; n];
    let mut out = Vec::with_capacity(top_n.min(n));
    for step in 0..top_n.min(n) {
        let mut best: Option<(usize, f64)> = None;
        for i in (0..n).filter(|&i| !picked[i]) {
            let value = if step == 0 {
                to_doc[i]
            } else {
                (1.0 - diversity) * to_doc[i] - diversity * to_picked[i]
            };
            if best.is_none_or(|(_, b)| value > b) {
                best = Some((i, value));
            }
        }
        let Some((chosen, _)) = best else { break };
        picked[chosen] = true;
        out.push(ScoredTerm {
            term: words[chosen].as_ref().to_owned(),
            score: to_doc[chosen],
        });
        for i in (0..n).filter(|&i| !picked[i]) {
            to_picked[i] = to_picked[i].max(cosine(word_vecs.row(i), word_vecs.row(chosen)));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    fn terms(v: &[ScoredTerm]) -> Vec<&str> {
        v.iter().map(|t| t.term.as_str()).collect()
    }

    /// Words in three tight clusters around the axes, the x cluster closest to the document.
    fn clustered() -> (Vec<String>, Array2<f32>, Array1<f32>) {
        let words: Vec<String> = ["x1", "x2", "x3", "y1", "y2", "z1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let vecs = array![
            [1.0f32, 0.02, 0.0],
            [1.0, 0.0, 0.03],
            [0.98, 0.03, 0.03],
            [0.1, 1.0, 0.0],
            [0.12, 0.97, 0.02],
            [0.05, 0.0, 1.0]
        ];
        (words, vecs, array![1.0f32, 0.5, 0.3])
    }

    #[test]
    fn mmr_zero_diversity_is_similarity_ranking() {
        let (words, vecs, doc) = clustered();
        let picked = mmr(doc.view(), vecs.view(), &words, words.len(), 0.0).unwrap();
        let ranked = keybert_rerank(&words, vecs.view(), doc.view(), words.len()).unwrap();
        assert_eq!(picked, ranked);
        assert!(picked.windows(2).all(|w| w[0].score >= w[1].score));
    }

    #[test]
    fn mmr_full_diversity_spreads_over_clusters() {
        let (words, vecs, doc) = clustered();
        let plain = mmr(doc.view(), vecs.view(), &words, 3, 0.0).unwrap();
        assert!(
            terms(&plain).iter().all(|w| w.starts_with('x')),
            "{plain:?}"
        );
        let diverse = mmr(doc.view(), vecs.view(), &words, 3, 1.0).unwrap();
        let mut clusters: Vec<char> = terms(&diverse)
            .iter()
            .map(|w| w.chars().next().unwrap())
            .collect();
        clusters.sort_unstable();
        assert_eq!(clusters, ['x', 'y', 'z'], "{diverse:?}");
        // The authors' 0.3 already leaves the x cluster after the first pick here.
        let default = mmr(doc.view(), vecs.view(), &words, 2, 0.3).unwrap();
        assert!(default[1].term.starts_with('y'), "{default:?}");
    }

    #[test]
    fn keybert_orders_by_topic_similarity() {
        let words = ["far", "close", "closest", "zero"];
        let vecs = array![[0.0f32, 1.0], [0.7, 0.7], [1.0, 0.1], [0.0, 0.0]];
        let topic = array![1.0f32, 0.0];
        let ranked = keybert_rerank(&words, vecs.view(), topic.view(), 10).unwrap();
        assert_eq!(terms(&ranked), ["closest", "close", "far", "zero"]);
        assert_eq!(ranked[2].score, 0.0);
        assert_eq!(ranked[3].score, 0.0);
        assert_eq!(
            keybert_rerank(&words, vecs.view(), topic.view(), 1)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn bad_vectors_are_errors_not_panics() {
        let words = ["a", "b"];
        let vecs = array![[1.0f32, 0.0], [0.0, 1.0]];
        let three = array![[1.0f32, 0.0], [0.0, 1.0], [1.0, 1.0]];
        let nan = array![[1.0f32, 0.0], [f32::NAN, 1.0]];
        let ok = array![1.0f32, 0.0];
        let long = array![1.0f32, 0.0, 0.0];
        assert!(keybert_rerank(&words, three.view(), ok.view(), 2).is_err());
        assert!(keybert_rerank(&words, vecs.view(), long.view(), 2).is_err());
        let err = keybert_rerank(&words, nan.view(), ok.view(), 2).unwrap_err();
        assert!(err.to_string().contains("word vector 1"), "{err}");
        assert!(mmr(array![f32::NAN, 0.0].view(), vecs.view(), &words, 2, 0.3).is_err());
        assert!(mmr(ok.view(), vecs.view(), &words, 2, -0.1).is_err());
        assert!(mmr(ok.view(), vecs.view(), &words, 2, 1.1).is_err());
        assert!(mmr(ok.view(), three.view(), &words, 2, 0.3).is_err());
        assert!(mmr(
            Array1::<f32>::zeros(0).view(),
            Array2::zeros((0, 0)).view(),
            &[] as &[&str],
            3,
            0.3
        )
        .is_err());
        let none: &[&str] = &[];
        assert!(mmr(ok.view(), Array2::zeros((0, 2)).view(), none, 3, 0.3)
            .unwrap()
            .is_empty());
        assert!(
            keybert_rerank(none, Array2::zeros((0, 2)).view(), ok.view(), 3)
                .unwrap()
                .is_empty()
        );
        assert!(mmr(ok.view(), vecs.view(), &words, 0, 0.3)
            .unwrap()
            .is_empty());
        assert_eq!(
            mmr(ok.view(), vecs.view(), &words, 9, 0.3).unwrap().len(),
            2
        );
        assert!(mean_vector(Array2::zeros((0, 3)).view()).is_err());
        assert!(mean_vector(nan.view()).is_err());
        assert_eq!(mean_vector(vecs.view()).unwrap(), array![0.5f32, 0.5]);
    }
}
