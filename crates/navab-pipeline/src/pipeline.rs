//! The pipeline: its settings, and the stages run in order (each in `stages/`), each written to
//! disk and reused on a rerun when nothing it depends on changed.

use std::future::Future;
use std::path::PathBuf;

use navab_conflict::ConflictParams;
use navab_embed::Embedder;
use navab_llm::ChatModel;
use navab_topics::instag::InsTagParams;
use navab_topics::TopicParams;
use navab_triples::{SplitParams, ValidationParams};

use crate::report::RunReport;
use crate::stages::{self, dataset::Outputs, CallWatch, Ctx};
use crate::store::{write_bytes, write_json, RunDir};
use crate::{Error, Result};

/// Runs futures to completion from synchronous code: the pipeline's LLM stages are async, its
/// numeric stages are not. Use [`StdExecutor`] for in-process models, a tokio runtime's
/// `block_on` (through a small wrapper) for HTTP backends.
pub trait Executor: Clone + Send + Sync + 'static {
    /// Drives `future` to its end on the calling thread.
    fn block_on<F: Future>(&self, future: F) -> F::Output;
}

/// A std-only executor (no reactor): enough for local models and scripted replies.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdExecutor;

impl Executor for StdExecutor {
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        navab_triples::block_on(future)
    }
}

/// Settings of a run. Everything that changes results is part of the run's fingerprint: a
/// rerun with other settings starts over instead of mixing old and new stage files.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// JSONL corpus.
    pub corpus: PathBuf,
    /// Run directory (stage files, dataset, report).
    pub out: PathBuf,
    /// Field holding the text.
    pub text_field: String,
    /// Field holding a ground-truth label (for clustering scores only).
    pub label_field: Option<String>,
    /// Nation of documents without a `nation` field.
    pub default_nation: String,
    /// Use only the first N documents.
    pub limit: Option<usize>,
    /// Topic modeling.
    pub topics: TopicParams,
    /// InsTag for the outliers.
    pub instag: InsTagParams,
    /// Topics kept by a person (labels, case-insensitive, or ids); `None` keeps every topic.
    pub allow_topics: Option<Vec<String>>,
    /// Send at most this many documents to statement extraction (a cheap demo or test run).
    pub max_extraction_docs: Option<usize>,
    /// Language to write the statements in (the authors: the source's language).
    pub statement_language: String,
    /// LLM calls in flight per stage.
    pub concurrency: usize,
    /// Conflict Reduction.
    pub conflict: ConflictParams,
    /// Triple validation.
    pub validation: ValidationParams,
    /// DPO train/test split.
    pub split: SplitParams,
    /// Whatever else of the caller's changes the LLM's replies and that the chat model's
    /// [`ChatModel::model_id`] does not say (e.g. a local model's generation settings). Part
    /// of the LLM stages' fingerprint.
    pub llm_settings: serde_json::Value,
}

impl PipelineConfig {
    /// A config with the paper's defaults for `corpus` and `out`.
    pub fn new(corpus: impl Into<PathBuf>, out: impl Into<PathBuf>) -> Self {
        PipelineConfig {
            corpus: corpus.into(),
            out: out.into(),
            text_field: "text".into(),
            label_field: None,
            default_nation: "UK".into(),
            limit: None,
            topics: TopicParams::default(),
            instag: InsTagParams::default(),
            allow_topics: None,
            max_extraction_docs: None,
            statement_language: "English".into(),
            concurrency: 4,
            conflict: ConflictParams::default(),
            validation: ValidationParams::default(),
            split: SplitParams::default(),
            llm_settings: serde_json::Value::Null,
        }
    }

    /// Checks what no run can work with: zero concurrency, a limit of 0 documents, an empty
    /// text field or nation, a corpus that is not a file, or an `out` that cannot be written.
    /// [`run_pipeline`] calls it first; a binary can call it before loading any model.
    pub fn check(&self) -> Result<()> {
        let bad = |what: &str| Err(Error::Input(what.to_string()));
        if self.concurrency == 0 {
            return bad("concurrency must be at least 1");
        }
        if self.limit == Some(0) {
            return bad("limit must be at least 1 document (leave it out to read them all)");
        }
        if self.max_extraction_docs == Some(0) {
            return bad("max_extraction_docs must be at least 1 (leave it out for no cap)");
        }
        if self.text_field.trim().is_empty() || self.default_nation.trim().is_empty() {
            return bad("text field and default nation must not be empty");
        }
        if !self.corpus.is_file() {
            return Err(Error::Input(format!(
                "corpus {} is not a file",
                self.corpus.display()
            )));
        }
        let probe = self.out.join(".write-check");
        std::fs::create_dir_all(&self.out)
            .and_then(|()| std::fs::write(&probe, b""))
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(Error::io(&self.out))
    }
}

/// One step of progress: `(stage, done, total)`.
pub type Progress<'a> = &'a mut dyn FnMut(&str, usize, usize);

/// Runs (or resumes) the pipeline in `config.out`.
///
/// Stages: corpus → embeddings → topics (kNN, UMAP, HDBSCAN, c-TF-IDF) → InsTag for the
/// outliers → topic labels (LLM) → topic selection (allow-list) → statement extraction (LLM)
/// → value screening (LLM) → source judgment (LLM) → Conflict Reduction (LLM relation checks
/// on kNN pairs) → triples (LLM) and validation → dataset (NaVAB layout, DPO files,
/// verification sheet) and a run report.
///
/// Each stage's output goes to `out/stages/` and `manifest.json` records it with what it
/// depends on (the corpus' SHA-256, the embedder's and the chat model's ids, the prompts, the
/// settings). A rerun reuses a stage when all of that is unchanged, the stage was complete and
/// nothing before it was recomputed; inside an LLM stage it repeats no call the `llm` cache
/// (if any) holds. An LLM reply that does not parse is recorded with its item and the run goes
/// on; a failed call is recorded too, and leaves its stage incomplete
/// ([`RunReport::failed_calls`]): the next run computes that stage again, so only the failed
/// calls reach the model. An error no retry can fix (refused credentials, an unreachable
/// endpoint; [`ChatModel::check_ready`] checks before the first stage) stops the run with
/// [`Error::LlmUnavailable`].
///
/// Differences from the authors' pipeline: screening asks the LLM per statement *after*
/// extraction (as their code does) but on every kept topic, with the optional allow-list in
/// place of their hand-picked topic names; source judgment runs *before* Conflict Reduction
/// so that statements by the same speaker are linked (social ties); their Conflict Reduction
/// does not run, ours does (`navab-conflict`).
pub fn run_pipeline<M, E, X>(
    config: &PipelineConfig,
    llm: &M,
    embedder: &E,
    exec: &X,
    progress: Progress<'_>,
) -> Result<RunReport>
where
    M: ChatModel + ?Sized,
    E: Embedder + ?Sized,
    X: Executor,
{
    config.check()?;
    exec.block_on(llm.check_ready())
        .map_err(|e| Error::LlmUnavailable {
            stage: "start".into(),
            reason: e.to_string(),
        })?;
    let mut cx = Ctx {
        config,
        llm: CallWatch::new(Box::new(llm)),
        embedder: Box::new(embedder),
        exec,
        progress,
        run: RunDir::open(&config.out)?,
        times: Vec::new(),
    };
    let corpus = stages::corpus::run(&mut cx)?;
    let docs = &corpus.docs;
    let texts: Vec<&str> = docs.iter().map(|d| d.text.as_str()).collect();
    let embeddings = stages::embed::run(&mut cx, &texts)?;
    let mut topics = stages::topics::run(&mut cx, docs, &texts, &embeddings)?;
    let instag = stages::topics::instag(&mut cx, &topics, &texts)?;
    stages::topics::place_outliers(&mut topics, &instag);
    let labels = stages::labels::run(&mut cx, &topics, &texts)?;
    let statements = stages::extract::run(&mut cx, docs, &topics, &labels)?;
    let screened = stages::screen::run(&mut cx, &statements)?;
    let sources = stages::sources::run(&mut cx, docs, &screened)?;
    let conflict = stages::conflict::run(&mut cx, docs, &screened, &sources)?;
    let triples = stages::triples::run(&mut cx, &sources, &conflict)?;
    stages::dataset::write(&config.out, &triples, &config.split)?;

    let outputs = Outputs {
        corpus: &corpus,
        topics: &topics,
        instag: &instag,
        labels: &labels,
        statements: &statements,
        screened: &screened,
        sources: &sources,
        conflict: &conflict,
        triples: &triples,
    };
    let report = stages::dataset::report(&outputs, cx.times);
    write_json(&config.out.join("report.json"), &report)?;
    write_bytes(&config.out.join("report.md"), report.markdown().as_bytes())?;
    Ok(report)
}
