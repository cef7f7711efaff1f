//! The pipeline: its settings, and the stages run in order (each in `stages/`), each written to
//! disk and reused on a rerun when nothing it depends on changed.

use std::future::Future;
use std::path::PathBuf;

use navab_conflict::ConflictParams;
use navab_llm::ChatModel;
use navab_topics::instag::InsTagParams;
use navab_topics::TopicParams;
use navab_triples::{SplitParams, ValidationParams};

use serde::{Deserialize, Serialize};

use crate::lang::{Embedders, Languages};
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

/// Where the value screening runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Screening {
    /// The paper's: the LLM judges each topic (label, keywords, documents) against the
    /// value-topic sets; statements of the value-related topics are all kept.
    Topics,
    /// Each extracted statement is judged on its own (what the authors' code does); every
    /// topic goes to extraction.
    Statements,
    /// Both: value-related topics, then value-related statements.
    Both,
}

/// Which statements share a Conflict Reduction graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConflictScope {
    /// One graph per nation: its sources together, each source weighing the same.
    Nation,
    /// One graph per nation and source: each outlet's own dominant stance.
    Source,
}

/// Settings of a run. Everything that changes results is part of the run's fingerprint: a
/// rerun with other settings starts over instead of mixing old and new stage files.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// The news corpus: JSONL, CSV with a header row (a name ending in `.csv`), or a directory
    /// of `*.txt` files, one article each ([`navab_core::CorpusReader`]).
    pub corpus: PathBuf,
    /// Run directory (stage files, dataset, report).
    pub out: PathBuf,
    /// Field holding the text.
    pub text_field: String,
    /// Field holding a ground-truth label (for clustering scores only).
    pub label_field: Option<String>,
    /// Nation of documents without a `nation` field.
    pub default_nation: String,
    /// Source (outlet) of documents without a `source` field (every text file of a directory
    /// corpus); `None` leaves them without one.
    pub default_source: Option<String>,
    /// How each document's language is decided (record, nation, default). The language picks
    /// the document's embedder, stop words and word segmentation, and the language its
    /// statements are written in.
    pub languages: Languages,
    /// Use only the first N documents.
    pub limit: Option<usize>,
    /// Topic modeling, run for each nation (and language) on its own; the vectorizer's
    /// language is each group's.
    pub topics: TopicParams,
    /// Model topics per source (outlet) within each nation, as the paper's figures do.
    pub topics_per_source: bool,
    /// InsTag for the outliers.
    pub instag: InsTagParams,
    /// Run InsTag on HDBSCAN's outliers (off: the ablation "without InsTag").
    pub run_instag: bool,
    /// Where value screening happens: on topics (the paper's), on statements, or both.
    pub screening: Screening,
    /// The value-topic sets topics are screened against; empty for the defaults
    /// ([`navab_llm::steps::VALUE_TOPICS`]).
    pub value_topics: Vec<String>,
    /// Topics kept by a person after the screening (labels, case-insensitive, or ids); `None`
    /// keeps every value-related topic.
    pub allow_topics: Option<Vec<String>>,
    /// Send at most this many documents to statement extraction (a cheap demo or test run).
    pub max_extraction_docs: Option<usize>,
    /// Language to write every statement in; `None` (the default, as the paper does) writes
    /// each in its document's language.
    pub statement_language: Option<String>,
    /// LLM calls in flight per stage.
    pub concurrency: usize,
    /// Conflict Reduction.
    pub conflict: ConflictParams,
    /// Run Conflict Reduction (off: the ablation "without Conflict Reduction").
    pub run_conflict_reduction: bool,
    /// One Conflict Reduction graph per nation (default) or per nation and source.
    pub conflict_scope: ConflictScope,
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
            default_source: None,
            languages: Languages::default(),
            limit: None,
            topics: TopicParams::default(),
            topics_per_source: false,
            instag: InsTagParams::default(),
            run_instag: true,
            screening: Screening::Topics,
            value_topics: Vec::new(),
            allow_topics: None,
            max_extraction_docs: None,
            statement_language: None,
            concurrency: 4,
            conflict: ConflictParams::default(),
            run_conflict_reduction: true,
            conflict_scope: ConflictScope::Nation,
            validation: ValidationParams::default(),
            split: SplitParams::default(),
            llm_settings: serde_json::Value::Null,
        }
    }

    /// Checks what no run can work with: zero concurrency, a limit of 0 documents, an empty
    /// text field or nation, a corpus that does not exist, or an `out` that cannot be written.
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
        if !self.corpus.is_file() && !self.corpus.is_dir() {
            return Err(Error::Input(format!(
                "corpus {} is neither a file nor a directory of text files",
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
pub type Progress<'a> = &'a mut (dyn FnMut(&str, usize, usize) + Send);

/// Runs (or resumes) the pipeline in `config.out`.
///
/// Stages, each per nation in each nation's language: corpus → embeddings (each language's
/// embedder) → topics per nation (kNN, UMAP, HDBSCAN, c-TF-IDF, KeyBERT keywords and MMR, a
/// 2-D map) → InsTag for each nation's outliers → topic labels (LLM) and topic maps
/// (`out/maps/<nation>.svg`) → topic screening against the value-topic sets (LLM), then the
/// allow-list → statement extraction in each document's language (LLM) → optional statement
/// screening (LLM) → source judgment (LLM) → Conflict Reduction, one graph per nation (LLM
/// relation checks on kNN pairs) → triples (LLM) and validation → dataset (NaVAB layout, DPO
/// files, verification sheet) and a run report with counts per nation and set.
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
/// Differences from the authors' pipeline: topics are screened by the LLM in context (the
/// paper's Section 3.3; their code matches hand-picked topic names) before a person's optional
/// allow-list; source judgment runs *before* Conflict Reduction so that statements by the same
/// speaker are linked (social ties); their Conflict Reduction does not run, ours does
/// (`navab-conflict`).
pub fn run_pipeline<'e, M, X>(
    config: &PipelineConfig,
    llm: &M,
    embedders: impl Into<Embedders<'e>>,
    exec: &X,
    progress: Progress<'_>,
) -> Result<RunReport>
where
    M: ChatModel + ?Sized,
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
        embedders: embedders.into(),
        exec,
        progress,
        run: RunDir::open(&config.out)?,
        times: Vec::new(),
    };
    let corpus = stages::corpus::run(&mut cx)?;
    let docs = &corpus.docs;
    let texts: Vec<&str> = docs.iter().map(|d| d.text.as_str()).collect();
    let vectors = stages::embed::run(&mut cx, docs, &texts)?;
    let mut topics = stages::topics::run(&mut cx, docs, &texts, &vectors)?;
    let instag = stages::topics::instag(&mut cx, docs, &topics, &texts)?;
    stages::topics::place_outliers(&mut topics, &instag);
    let labels = stages::labels::run(&mut cx, &topics, &texts)?;
    stages::maps::write(&config.out, docs, &topics, &labels)?;
    let verdicts = stages::screen::topics(&mut cx, &topics, &labels, &texts)?;
    let statements = stages::extract::run(&mut cx, docs, &topics, &labels, &verdicts)?;
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
        verdicts: &verdicts,
        statements: &statements,
        screened: &screened,
        sources: &sources,
        conflict: &conflict,
        triples: &triples,
    };
    let mut report = stages::dataset::report(&outputs, cx.times);
    if !config.run_instag {
        report
            .ablations
            .push("without InsTag (outliers stay unplaced)".into());
    }
    if !config.run_conflict_reduction {
        report
            .ablations
            .push("without Conflict Reduction (every judged statement kept)".into());
    }
    write_json(&config.out.join("report.json"), &report)?;
    write_bytes(&config.out.join("report.md"), report.markdown().as_bytes())?;
    Ok(report)
}
