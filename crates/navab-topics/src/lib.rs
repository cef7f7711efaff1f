//! Topic modeling for NaVAB (paper Section 3.2): sentence embeddings in, topics out.
//!
//! Each stage is usable alone:
//! - [`knn`]: k-nearest-neighbour graphs, exact by blocked matrix products or approximate;
//! - [`umap`]: UMAP, seeded and bit-reproducible while using every core;
//! - [`hdbscan`]: HDBSCAN with a Borůvka spanning tree, eom / leaf selection, outlier scores;
//! - [`metrics`]: adjusted Rand index and normalised mutual information between labelings;
//! - [`represent`]: c-TF-IDF (BERTopic's formula), KeyBERT-style keyword reranking and MMR.
//!
//! # Features
//! - `instag`: InsTag tagging of outliers with any `navab-llm` chat model ([`instag`]).

mod error;
pub mod hdbscan;
#[cfg(feature = "instag")]
pub mod instag;
pub mod knn;
pub mod metrics;
pub mod represent;
pub mod umap;

pub use error::{Error, Result};
