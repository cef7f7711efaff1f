//! Sentence embeddings for NaVAB: the [`Embedder`] seam and a candle implementation of
//! sentence-transformers models.
//!
//! ```no_run
//! use navab_embed::{CachedEmbedder, EmbedOptions, Embedder, SentenceEmbedder};
//!
//! # fn main() -> navab_embed::Result<()> {
//! // A sentence-transformers directory, e.g. fetched by `scripts/fetch-models.sh minilm`.
//! let model = SentenceEmbedder::load("models/all-MiniLM-L6-v2", EmbedOptions::default())?;
//! let model = CachedEmbedder::open(model, "runs/cache/minilm.emb")?;
//! let vectors = model.embed(&["a cat sits on the mat", "a cat sits on a rug"])?;
//! let cosine: f32 = vectors.row(0).dot(&vectors.row(1)); // rows are unit length
//! assert!(cosine > 0.5);
//! # Ok(()) }
//! ```
//!
//! [`SentenceEmbedder`] reads what the directory says: `modules.json` (Transformer, Pooling,
//! Normalize), `1_Pooling/config.json` (mean, CLS, max or mean-sqrt-len pooling),
//! `sentence_bert_config.json` (maximum sequence length), and `config.json` for the BERT family
//! or XLM-RoBERTa. Texts are tokenised in parallel, sorted by length and batched so padding
//! stays small, truncated to the model's limit, and optionally cut to their first N
//! characters first (the authors of NaVAB cut at 3,000).
//!
//! # Features
//! - `cuda`: run on an NVIDIA GPU (`navab_lm::parse_device("cuda")`).
//! - `hub`: the optional hub path of `navab-lm`.
//! - `remote`: [`RemoteEmbedder`], over any OpenAI-compatible `/v1/embeddings` endpoint.

mod cache;
mod config;
mod error;
mod fast;
mod model;
#[cfg(feature = "remote")]
mod remote;

pub use cache::{CacheStats, CachedEmbedder};
pub use config::{Family, Pooling, StConfig};
pub use error::{Error, Result};
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
