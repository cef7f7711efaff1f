#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "local")]
mod bert;
mod cache;
mod config;
mod error;
#[cfg(feature = "local")]
mod fast;
#[cfg(feature = "local")]
mod model;
#[cfg(feature = "remote")]
mod remote;

pub use cache::{CacheStats, CachedEmbedder};
pub use config::{Family, Pooling, StConfig};
pub use error::{Error, Result};
#[cfg(feature = "local")]
#[cfg_attr(docsrs, doc(cfg(feature = "local")))]
pub use model::{EmbedOptions, SentenceEmbedder};
pub use ndarray::Array2;
#[cfg(feature = "remote")]
pub use remote::RemoteEmbedder;

/// Turns texts into vectors, one row a text, in input order.
pub trait Embedder: Send + Sync {
    /// Embeds `texts`.
    fn embed(&self, texts: &[&str]) -> Result<Array2<f32>>;

    /// Embeds `texts`, calling `on_batch(done)` as work completes (for progress bars).
    fn embed_with_progress(
        &self,
        texts: &[&str],
        on_batch: &(dyn Fn(usize) + Sync),
    ) -> Result<Array2<f32>> {
        let out = self.embed(texts)?;
        on_batch(texts.len());
        Ok(out)
    }

    /// The length of every vector.
    fn dim(&self) -> usize;

    /// Everything that determines the output vectors (model, pooling, truncation, dtype): the
    /// key under which caches store them.
    fn model_id(&self) -> &str;
}

impl<T: Embedder + ?Sized> Embedder for &T {
    fn embed(&self, texts: &[&str]) -> Result<Array2<f32>> {
        (**self).embed(texts)
    }
    fn embed_with_progress(
        &self,
        texts: &[&str],
        on_batch: &(dyn Fn(usize) + Sync),
    ) -> Result<Array2<f32>> {
        (**self).embed_with_progress(texts, on_batch)
    }
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn model_id(&self) -> &str {
        (**self).model_id()
    }
}

impl<T: Embedder + ?Sized> Embedder for Box<T> {
    fn embed(&self, texts: &[&str]) -> Result<Array2<f32>> {
        (**self).embed(texts)
    }
    fn embed_with_progress(
        &self,
        texts: &[&str],
        on_batch: &(dyn Fn(usize) + Sync),
    ) -> Result<Array2<f32>> {
        (**self).embed_with_progress(texts, on_batch)
    }
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn model_id(&self) -> &str {
        (**self).model_id()
    }
}

impl<T: Embedder + ?Sized> Embedder for std::sync::Arc<T> {
    fn embed(&self, texts: &[&str]) -> Result<Array2<f32>> {
        (**self).embed(texts)
    }
    fn embed_with_progress(
        &self,
        texts: &[&str],
        on_batch: &(dyn Fn(usize) + Sync),
    ) -> Result<Array2<f32>> {
        (**self).embed_with_progress(texts, on_batch)
    }
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn model_id(&self) -> &str {
        (**self).model_id()
    }
}
