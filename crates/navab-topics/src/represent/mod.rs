//! Topic representation as BERTopic does it: c-TF-IDF topic words, representative documents,
//! KeyBERT-inspired reranking and Maximal Marginal Relevance.
//!
//! ```
//! use navab_topics::represent::{CtfidfModel, Language, RepresentParams};
//! let docs = ["Rates rise as the central bank fights inflation", "Inflation slows; the bank holds rates",
//!             "The striker scores twice in the cup final", "A late goal wins the cup for the striker"];
//! let labels = [0, 0, 1, 1];
//! let mut params = RepresentParams::new(Language::English);
//! params.vectorizer.drop_most_frequent = 0; // the authors drop the 100 most frequent tokens; too many for 4 documents
//! let model = CtfidfModel::fit(&docs, &labels, &params)?;
//! let words: Vec<String> = model.topic_words(1).into_iter().map(|w| w.term).collect();
//! assert!(words.contains(&"striker".to_string()) && words.contains(&"cup".to_string()));
//! # Ok::<(), navab_topics::Error>(())
//! ```
//!
//! The stages, each usable alone:
//! - [`Tokenizer`]: lower-casing, scikit-learn's word pattern (Unicode), CJK segmentation
//!   (jieba with the `chinese` feature, overlapping character bigrams without), NLTK stop words
//!   per [`Language`];
//! - [`CountVectorizer`]: n-grams (default 1-2), `min_df`, `max_features`, the corpus's 100 most
//!   frequent tokens dropped as the NaVAB authors did; a sorted, deterministic vocabulary and
//!   sparse counts ([`CsrMatrix`]);
//! - [`ClassTfidf`]: c-TF-IDF with BERTopic's formula and its `bm25_weighting` and
//!   `reduce_frequent_words` options; [`class_counts`] joins documents per topic;
//! - [`CtfidfModel`]: the three above over a labelled corpus, with top words and representative
//!   documents per topic;
//! - [`keybert_rerank`], [`mmr`], [`mean_vector`]: pure functions over embeddings from any
//!   embedder, so this crate needs no ML library.

mod ctfidf;
mod keywords;
mod sparse;
mod tokenize;
mod vectorize;

pub use ctfidf::{class_counts, ClassTfidf, CtfidfModel, CtfidfParams, RepresentParams};
pub use keywords::{keybert_rerank, mean_vector, mmr};
pub use sparse::{sparse_cosine, CsrMatrix};
pub use tokenize::{Language, Tokenizer};
pub use vectorize::{CountVectorizer, VectorizerParams};

/// A term (word or n-gram) with a score: a c-TF-IDF weight or a cosine similarity.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScoredTerm {
    /// The term; n-grams are words joined by a space.
    pub term: String,
    /// Its score; higher is better.
    pub score: f64,
}
