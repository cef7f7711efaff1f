//! NaVAB: a benchmark of how well language models align with the values of nations.
//!
//! This facade re-exports the workspace's crates; depend on them directly for a leaner build:
//! - [`core`] (`navab-core`): nations, statement sets, triples, preference items, file formats.
//! - [`lm`] (`navab-lm`): decoder language models (safetensors, GGUF) with per-token log-probs.
//! - [`eval`] (`navab-eval`): multiple-choice (MC) and answer-judgment (AJ) evaluation,
//!   reports, a remote scorer over any OpenAI-compatible `/v1/completions`.
//! - [`embed`] (`navab-embed`): sentence embeddings (candle sentence-transformers), cached.
//! - [`topics`] (`navab-topics`): kNN, UMAP, HDBSCAN, c-TF-IDF, keywords, InsTag, maps.
//! - [`llm`] (`navab-llm`): the chat-model seam, prompts and parsers of every LLM step, an
//!   OpenAI-compatible client with retries and an on-disk response cache.
//! - [`conflict`] (`navab-conflict`): Conflict Reduction on a signed statement graph.
//! - [`triples`] (`navab-triples`): source judgment, triples, validation, dataset and DPO files.
//! - [`server`] (`navab-server`): an OpenAI-compatible server over local models.
//! - [`pipeline`] (`navab-pipeline`): the resumable pipeline from a news corpus to a dataset.
//! - [`kernels`] (`navab-kernels`): the fused CPU kernels shared by the decoder and the encoder.
//! - [`train`] (`navab-train`): DPO with LoRA adapters, PEFT-compatible adapter folders.
//! - [`plot`] (`navab-plot`): PNG figures with their own text (the topic map, the heatmap).
//!
//! [`demo::demo_triples`] is a small dataset written for this project, used by the README's
//! first command.

pub mod demo;

pub use navab_conflict as conflict;
pub use navab_core as core;
pub use navab_embed as embed;
pub use navab_eval as eval;
pub use navab_kernels as kernels;
pub use navab_llm as llm;
pub use navab_lm as lm;
pub use navab_pipeline as pipeline;
pub use navab_plot as plot;
pub use navab_server as server;
pub use navab_topics as topics;
pub use navab_train as train;
pub use navab_triples as triples;
