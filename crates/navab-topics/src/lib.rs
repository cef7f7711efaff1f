#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
pub mod hdbscan;
#[cfg(feature = "instag")]
#[cfg_attr(docsrs, doc(cfg(feature = "instag")))]
pub mod instag;
pub mod knn;
#[cfg(feature = "map")]
#[cfg_attr(docsrs, doc(cfg(feature = "map")))]
pub mod map;
pub mod metrics;
mod model;
pub mod represent;
pub mod umap;

pub use error::{Error, Result};
pub use model::{fit_topics, Topic, TopicModel, TopicParams, TopicTimings};
