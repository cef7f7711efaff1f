//! [`RemoteEmbedder`]: an [`Embedder`] over any OpenAI-compatible `/v1/embeddings` endpoint
//! (feature `remote`): vLLM, text-embeddings-inference, Ollama, or `navab-server`.

use futures_util::stream::{self, StreamExt, TryStreamExt};
use navab_llm::openai::{OpenAiChatModel, OpenAiConfig};
use ndarray::Array2;

use crate::{Embedder, Error, Result};

/// Embeds through `POST {base_url}/embeddings` with `navab-llm`'s OpenAI client: requests of
/// `batch_size` texts, at most `max_concurrency` of them in flight, each retried on 408, 429,
/// 5xx and broken connections with jittered backoff (the client's [`OpenAiConfig`]). Wrap it
/// in [`crate::CachedEmbedder`] to keep vectors across runs, as the chat client's cache does.
///
/// [`Embedder::embed`] blocks: the embedder owns a single-threaded tokio runtime. Call it from
/// ordinary threads; inside an async runtime it returns an error rather than panicking.
///
/// ```no_run
/// use navab_embed::{Embedder, RemoteEmbedder};
/// use navab_llm::openai::OpenAiConfig;
///
/// # fn main() -> navab_embed::Result<()> {
/// // e.g. `vllm serve BAAI/bge-m3 --task embed`, or text-embeddings-inference on port 8080.
/// let config = OpenAiConfig::new("http://127.0.0.1:8000/v1", "BAAI/bge-m3");
/// let embedder = RemoteEmbedder::new(config, 64)?; // asks the server once for the dimension
/// let vectors = embedder.embed(&["a cat sits on the mat"])?;
/// assert_eq!(vectors.ncols(), embedder.dim());
/// # Ok(()) }
/// ```
pub struct RemoteEmbedder {
    client: OpenAiChatModel,
    runtime: tokio::runtime::Runtime,
    batch_size: usize,
    dim: usize,
    model_id: String,
}

impl std::fmt::Debug for RemoteEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteEmbedder")
            .field("client", &self.client)
            .field("batch_size", &self.batch_size)
            .field("dim", &self.dim)
            .finish_non_exhaustive()
    }
}

impl RemoteEmbedder {
    /// Checks `config`, starts the runtime and embeds one probe text to learn the dimension
    /// (so a wrong URL or model fails here, not in the middle of a run).
    pub fn new(config: OpenAiConfig, batch_size: usize) -> Result<Self> {
        if batch_size == 0 {
            return Err(Error::InvalidOption {
                name: "batch_size",
                value: "0".into(),
                reason: "must be at least 1",
            });
        }
        let model_id = format!("openai-embeddings:{}", config.model);
        let client = OpenAiChatModel::new(config).map_err(remote_error)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Remote(format!("cannot start the async runtime: {e}")))?;
        let mut embedder = Self {
            client,
            runtime,
            batch_size,
            dim: 0,
            model_id,
        };
        let probe = embedder.request(&["dimension probe"])?;
        embedder.dim = probe.ncols();
        if embedder.dim == 0 {
            return Err(Error::Remote("the server returned an empty vector".into()));
        }
        Ok(embedder)
    }

    /// The client's counts (requests, retries, failures).
    pub fn stats(&self) -> navab_llm::openai::ClientStats {
        self.client.stats()
    }

    fn request(&self, texts: &[&str]) -> Result<Array2<f32>> {
        self.embed_batches(texts, &|_| {})
    }

    fn embed_batches(
        &self,
        texts: &[&str],
        on_batch: &(dyn Fn(usize) + Sync),
    ) -> Result<Array2<f32>> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Error::Remote(
                "RemoteEmbedder::embed blocks; call it outside the async runtime \
                 (e.g. in spawn_blocking)"
                    .into(),
            ));
        }
        let rows: Vec<Vec<f32>> = self.runtime.block_on(async {
            let concurrency = self.client.config().max_concurrency;
            stream::iter(texts.chunks(self.batch_size))
                .map(|batch| async move {
                    let vectors = self.client.embeddings(batch).await;
                    on_batch(batch.len());
                    vectors
                })
                .buffered(concurrency)
                .map_ok(|vectors| stream::iter(vectors.into_iter().map(Ok)))
                .try_flatten()
                .try_collect()
                .await
                .map_err(remote_error)
        })?;
        let dim = rows.first().map_or(self.dim, Vec::len);
        if let Some((i, row)) = rows.iter().enumerate().find(|(_, r)| r.len() != dim) {
            return Err(Error::Remote(format!(
                "vector {i} has {} dimensions, the others {dim}",
                row.len()
            )));
        }
        if self.dim != 0 && dim != self.dim && !rows.is_empty() {
            return Err(Error::Remote(format!(
                "the server now returns {dim} dimensions, it returned {} before",
                self.dim
            )));
        }
        let n = rows.len();
        Array2::from_shape_vec((n, dim), rows.into_iter().flatten().collect())
            .map_err(|e| Error::Remote(e.to_string()))
    }
}

fn remote_error(e: navab_llm::Error) -> Error {
    Error::Remote(e.to_string())
}

impl Embedder for RemoteEmbedder {
    fn embed(&self, texts: &[&str]) -> Result<Array2<f32>> {
        self.embed_batches(texts, &|_| {})
    }

    fn embed_with_progress(
        &self,
        texts: &[&str],
        on_batch: &(dyn Fn(usize) + Sync),
    ) -> Result<Array2<f32>> {
        self.embed_batches(texts, on_batch)
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn model_id(&self) -> &str {
        &self.model_id
    }
}
