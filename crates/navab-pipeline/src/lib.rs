//! NaVAB's pipeline from a news corpus to a benchmark dataset, as resumable stages.
//!
//! ```no_run
//! use navab_embed::{CachedEmbedder, EmbedOptions, SentenceEmbedder};
//! use navab_llm::testing::ScriptedChatModel;
//! use navab_pipeline::{run_pipeline, PipelineConfig, StdExecutor};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let embedder = SentenceEmbedder::load("models/all-MiniLM-L6-v2", EmbedOptions::default())?;
//! let embedder = CachedEmbedder::open(embedder, "runs/demo/embeddings.cache")?;
//! // Any ChatModel: a local model, an OpenAI-compatible endpoint, scripted replies.
//! let llm = ScriptedChatModel::new(Vec::<String>::new());
//! let config = PipelineConfig::new("news.jsonl", "runs/demo");
//! let report = run_pipeline(&config, &llm, &embedder, &StdExecutor, &mut |_, _, _| {})?;
//! println!("{}", report.markdown());
//! # Ok(()) }
//! ```
//!
//! See [`run_pipeline`] for the stages, how a run resumes, and where we differ from the
//! authors' code. The `pipeline` example binary wires it to the embedded local model or any
//! OpenAI-compatible endpoint.

mod corpus;
mod error;
mod pipeline;
mod report;
mod store;

pub use corpus::{read_corpus, NewsDoc, SkippedLine};
pub use error::{Error, Result};
pub use pipeline::{run_pipeline, Executor, PipelineConfig, Progress, StdExecutor, TopicInfo};
pub use report::{NationCounts, RunReport, StageTime};
pub use store::{read_json, write_json, Manifest, RunDir, StageRecord};
