//! Topic modeling for NaVAB (paper Section 3.2): sentence embeddings in, topics out.
//!
//! Each stage is usable alone:
//! - [`knn`]: k-nearest-neighbour graphs, exact by blocked matrix products or approximate;
//! - [`umap`]: UMAP, seeded and bit-reproducible while using every core;
//! - [`hdbscan`]: HDBSCAN with a Borůvka spanning tree, eom / leaf selection, outlier scores;
//! - [`metrics`]: adjusted Rand index and normalised mutual information between labelings;
//! - [`represent`]: c-TF-IDF (BERTopic's formula), KeyBERT-style keyword reranking and MMR;
//! - [`fit_topics`]: all of them composed into a [`TopicModel`].
//!
//! # Features
//! - `chinese`: Chinese word segmentation with jieba (else character bigrams).
//! - `map`: the 2-D topic map as SVG and PNG ([`map`]).
//! - `instag`: InsTag tagging of outliers with any `navab-llm` chat model ([`instag`]).

mod error;
pub mod hdbscan;
#[cfg(feature = "instag")]
pub mod instag;
pub mod knn;
#[cfg(feature = "map")]
pub mod map;
pub mod metrics;
mod model;
pub mod represent;
pub mod umap;

pub use error::{Error, Result};
pub use model::{fit_topics, Topic, TopicModel, TopicParams, TopicTimings};
