//! The stages, run in order, each written to disk and skipped on a rerun.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::Instant;

use navab_conflict::{reduce_conflicts, Article, ConflictParams, Corpus, Statement};
use navab_core::Nation;
use navab_embed::Embedder;
use navab_llm::stage::run_stage;
use navab_llm::steps::{StatementExtraction, TopicLabel, ValueScreening};
use navab_llm::{ChatModel, StepOutcome};
use navab_topics::instag::{tag_outliers, InsTagParams, InsTagResult};
use navab_topics::{fit_topics, TopicParams};
use navab_triples::{
    build_triples, judge_sources, validate_all, write_dpo_dataset, write_navab, BuildParams,
    ExtractedStatement, ItemFailure, JudgedStatement, LlmRelationJudge, RunParams, SplitParams,
    ValidationParams,
};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::corpus::{read_corpus, NewsDoc, SkippedLine};
use crate::report::{NationCounts, RunReport, StageTime};
use crate::store::{read_json, write_bytes, write_json, RunDir, StageRecord};
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
        }
    }

    fn fingerprint(&self) -> serde_json::Value {
        serde_json::json!({
            "corpus": self.corpus, "text_field": self.text_field, "label_field": self.label_field,
            "default_nation": self.default_nation, "limit": self.limit,
            "topics": format!("{:?}", self.topics), "instag": format!("{:?}", self.instag),
            "allow_topics": self.allow_topics, "max_extraction_docs": self.max_extraction_docs,
            "statement_language": self.statement_language,
            "conflict": format!("{:?}", self.conflict), "validation": format!("{:?}", self.validation),
            "split": format!("{:?}", self.split),
        })
    }
}

/// What a stage file of the corpus stage holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CorpusStage {
    docs: Vec<NewsDoc>,
    skipped: Vec<SkippedLine>,
}

/// A topic as the pipeline keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TopicInfo {
    /// Id: HDBSCAN topics first, then InsTag topics.
    pub id: usize,
    /// Documents in it.
    pub size: usize,
    /// Top words (c-TF-IDF), or the consolidated tag for an InsTag topic.
    pub words: Vec<String>,
    /// Representative documents.
    pub representative_docs: Vec<usize>,
    /// `hdbscan` or `instag`.
    pub origin: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TopicsStage {
    labels: Vec<Option<usize>>,
    topics: Vec<TopicInfo>,
    noise_fraction: f64,
    ari: Option<f64>,
    nmi: Option<f64>,
    notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LabelRecord {
    topic: usize,
    label: String,
    /// `llm`, `instag` (the tag itself) or `words` (the LLM failed; its top words).
    origin: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failure: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StatementRecord {
    id: String,
    doc: usize,
    text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Failure {
    id: String,
    reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    raw: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StatementsStage {
    items: Vec<StatementRecord>,
    failures: Vec<Failure>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SourcesStage {
    items: Vec<JudgedStatement>,
    failures: Vec<ItemFailure>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ConflictStage {
    kept: Vec<String>,
    report: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TriplesStage {
    triples: Vec<navab_core::Triple>,
    failures: Vec<ItemFailure>,
    excluded: usize,
    validation: serde_json::Value,
}

fn failure_of<T>(id: &str, outcome: StepOutcome<T>) -> std::result::Result<T, Failure> {
    match outcome {
        StepOutcome::Ok { value, .. } => Ok(value),
        StepOutcome::ParseFailed { raw, reason, .. } => Err(Failure {
            id: id.into(),
            reason,
            raw: Some(raw),
        }),
        StepOutcome::CallFailed { error } => Err(Failure {
            id: id.into(),
            reason: error.to_string(),
            raw: None,
        }),
        _ => Err(Failure {
            id: id.into(),
            reason: "unknown outcome".into(),
            raw: None,
        }),
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
/// Each stage's output goes to `out/stages/` and `manifest.json` records it; a rerun skips
/// finished stages and, inside an LLM stage, repeats no call the `llm` cache (if any) holds.
/// An LLM reply that does not parse or a failed call is recorded with its item and the run
/// goes on.
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
    if config.concurrency == 0 {
        return Err(Error::Input("concurrency must be at least 1".into()));
    }
    let mut run = RunDir::open(&config.out, config.fingerprint())?;
    let mut times: Vec<StageTime> = Vec::new();
    let mut timed = |name: &str, start: Instant, resumed: bool| {
        times.push(StageTime {
            stage: name.into(),
            seconds: start.elapsed().as_secs_f64(),
            resumed,
        });
    };

    // 1. Corpus.
    let start = Instant::now();
    let file = "01-corpus.json";
    let resumed = run.is_done("corpus", file);
    let corpus: CorpusStage = if resumed {
        read_json(&run.stage_path(file))?
    } else {
        let (docs, skipped) = read_corpus(
            &config.corpus,
            &config.text_field,
            config.label_field.as_deref(),
            &config.default_nation,
            config.limit,
        )?;
        let stage = CorpusStage { docs, skipped };
        write_json(&run.stage_path(file), &stage)?;
        run.finish(
            "corpus",
            record(
                start,
                [
                    ("documents", stage.docs.len()),
                    ("skipped", stage.skipped.len()),
                ],
            ),
        )?;
        stage
    };
    timed("corpus", start, resumed);
    let docs = &corpus.docs;
    let texts: Vec<&str> = docs.iter().map(|d| d.text.as_str()).collect();

    // 2. Embeddings.
    let start = Instant::now();
    let file = "02-embeddings.f32";
    let resumed = run.is_done("embed", file);
    let dim = embedder.dim();
    let embeddings: Array2<f32> = if resumed {
        let bytes = std::fs::read(run.stage_path(file)).map_err(Error::io(run.stage_path(file)))?;
        let values: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Array2::from_shape_vec((docs.len(), dim), values).map_err(|e| Error::Format {
            path: run.stage_path(file),
            reason: format!("{e} (expected {} × {dim})", docs.len()),
        })?
    } else {
        let total = texts.len();
        let e = embedder.embed_with_progress(&texts, &|done| {
            let _ = (done, total);
        })?;
        progress("embed", total, total);
        let bytes: Vec<u8> = e.iter().flat_map(|v| v.to_le_bytes()).collect();
        write_bytes(&run.stage_path(file), &bytes)?;
        run.finish("embed", record(start, [("documents", total)]))?;
        e
    };
    timed("embed", start, resumed);

    // 3. Topics.
    let start = Instant::now();
    let file = "03-topics.json";
    let resumed = run.is_done("topics", file);
    let mut topics: TopicsStage = if resumed {
        read_json(&run.stage_path(file))?
    } else {
        let model = fit_topics(&texts, embeddings.view(), &config.topics)?;
        let (ari, nmi) = if docs.iter().all(|d| d.label.is_some()) {
            let truth: Vec<&str> = docs
                .iter()
                .map(|d| d.label.as_deref().unwrap_or(""))
                .collect();
            let predicted: Vec<i64> = model
                .labels
                .iter()
                .map(|l| l.map_or(-1, |c| c as i64))
                .collect();
            (
                navab_topics::metrics::adjusted_rand_index(&truth, &predicted).ok(),
                navab_topics::metrics::normalized_mutual_info(&truth, &predicted).ok(),
            )
        } else {
            (None, None)
        };
        let stage = TopicsStage {
            labels: model.labels.clone(),
            topics: model
                .topics
                .iter()
                .map(|t| TopicInfo {
                    id: t.id,
                    size: t.size,
                    words: t.words.iter().map(|w| w.term.clone()).collect(),
                    representative_docs: t.representative_docs.clone(),
                    origin: "hdbscan".into(),
                })
                .collect(),
            noise_fraction: model.noise_fraction(),
            ari,
            nmi,
            notes: model.notes.clone(),
        };
        write_json(&run.stage_path(file), &stage)?;
        run.finish(
            "topics",
            record(
                start,
                [
                    ("topics", stage.topics.len()),
                    ("outliers", model.outliers.len()),
                ],
            ),
        )?;
        stage
    };
    timed("topics", start, resumed);
    progress("topics", 1, 1);

    // 4. InsTag for the outliers.
    let start = Instant::now();
    let file = "04-instag.json";
    let resumed = run.is_done("instag", file);
    let outliers: Vec<usize> = (0..docs.len())
        .filter(|&i| topics.labels[i].is_none())
        .collect();
    let instag: InsTagResult = if resumed {
        read_json(&run.stage_path(file))?
    } else {
        let outlier_texts: Vec<&str> = outliers.iter().map(|&i| texts[i]).collect();
        let embed = |tags: &[&str]| embedder.embed(tags).map_err(|e| e.to_string());
        let total = outlier_texts.len();
        let result = exec.block_on(tag_outliers(
            llm,
            &outlier_texts,
            &embed,
            &config.instag,
            &mut |done| progress("instag", done, total),
        ))?;
        write_json(&run.stage_path(file), &result)?;
        let placed = result.assignments.iter().filter(|a| a.is_some()).count();
        run.finish(
            "instag",
            record(
                start,
                [
                    ("outliers", total),
                    ("placed", placed),
                    ("failed", result.failures.len()),
                ],
            ),
        )?;
        result
    };
    timed("instag", start, resumed);
    let base = topics.topics.len();
    for (k, tag_topic) in instag.topics.iter().enumerate() {
        topics.topics.push(TopicInfo {
            id: base + k,
            size: tag_topic.size,
            words: vec![tag_topic.label.clone()],
            representative_docs: Vec::new(),
            origin: "instag".into(),
        });
    }
    for (j, &doc) in outliers.iter().enumerate() {
        if let Some(t) = instag.assignments.get(j).copied().flatten() {
            topics.labels[doc] = Some(base + t);
        }
    }

    // 5. Topic labels.
    let start = Instant::now();
    let file = "05-labels.json";
    let resumed = run.is_done("labels", file);
    let labels: Vec<LabelRecord> = if resumed {
        read_json(&run.stage_path(file))?
    } else {
        let hdbscan_topics: Vec<&TopicInfo> = topics
            .topics
            .iter()
            .filter(|t| t.origin == "hdbscan")
            .collect();
        let steps: Vec<TopicLabel> = hdbscan_topics
            .iter()
            .map(|t| TopicLabel {
                documents: t
                    .representative_docs
                    .iter()
                    .take(3)
                    .map(|&d| cut(texts[d], 400))
                    .collect(),
                keywords: t.words.clone(),
            })
            .collect();
        let total = steps.len();
        let stage = exec.block_on(run_stage(llm, &steps, config.concurrency, |s| {
            progress("labels", s.done, total)
        }));
        let mut out: Vec<LabelRecord> = Vec::new();
        for (t, outcome) in hdbscan_topics.iter().zip(stage.outcomes) {
            match failure_of(&t.id.to_string(), outcome) {
                Ok(label) => out.push(LabelRecord {
                    topic: t.id,
                    label,
                    origin: "llm".into(),
                    failure: None,
                }),
                Err(f) => out.push(LabelRecord {
                    topic: t.id,
                    label: t
                        .words
                        .iter()
                        .take(3)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", "),
                    origin: "words".into(),
                    failure: Some(f.reason),
                }),
            }
        }
        for t in topics.topics.iter().filter(|t| t.origin == "instag") {
            out.push(LabelRecord {
                topic: t.id,
                label: t.words[0].clone(),
                origin: "instag".into(),
                failure: None,
            });
        }
        write_json(&run.stage_path(file), &out)?;
        let failed = out.iter().filter(|l| l.failure.is_some()).count();
        run.finish(
            "labels",
            record(start, [("topics", out.len()), ("failed", failed)]),
        )?;
        out
    };
    timed("labels", start, resumed);

    // 6. Selection and 7. extraction.
    let start = Instant::now();
    let kept_topics: Vec<usize> = labels
        .iter()
        .filter(|l| match &config.allow_topics {
            None => true,
            Some(allow) => allow
                .iter()
                .any(|a| a.eq_ignore_ascii_case(&l.label) || *a == l.topic.to_string()),
        })
        .map(|l| l.topic)
        .collect();
    let mut selected: Vec<usize> = (0..docs.len())
        .filter(|&i| topics.labels[i].is_some_and(|t| kept_topics.contains(&t)))
        .collect();
    if let Some(max) = config.max_extraction_docs {
        selected.truncate(max);
    }
    let file = "07-statements.json";
    let resumed = run.is_done("extract", file);
    let statements: StatementsStage = if resumed {
        read_json(&run.stage_path(file))?
    } else {
        let steps: Vec<StatementExtraction> = selected
            .iter()
            .map(|&i| StatementExtraction {
                news: docs[i].text.clone(),
                language: config.statement_language.clone(),
            })
            .collect();
        let total = steps.len();
        let stage = exec.block_on(run_stage(llm, &steps, config.concurrency, |s| {
            progress("extract", s.done, total)
        }));
        let mut out = StatementsStage {
            items: Vec::new(),
            failures: Vec::new(),
        };
        for (&doc, outcome) in selected.iter().zip(stage.outcomes) {
            match failure_of(&docs[doc].id, outcome) {
                Ok(found) => {
                    for (k, text) in found.into_iter().enumerate() {
                        out.items.push(StatementRecord {
                            id: format!("{}#s{k}", docs[doc].id),
                            doc,
                            text,
                        });
                    }
                }
                Err(f) => out.failures.push(f),
            }
        }
        write_json(&run.stage_path(file), &out)?;
        run.finish(
            "extract",
            record(
                start,
                [
                    ("documents", total),
                    ("statements", out.items.len()),
                    ("failed", out.failures.len()),
                ],
            ),
        )?;
        out
    };
    timed("extract", start, resumed);

    // 8. Value screening.
    let start = Instant::now();
    let file = "08-screened.json";
    let resumed = run.is_done("screen", file);
    let screened: StatementsStage = if resumed {
        read_json(&run.stage_path(file))?
    } else {
        let steps: Vec<ValueScreening> = statements
            .items
            .iter()
            .map(|s| ValueScreening {
                statement: s.text.clone(),
            })
            .collect();
        let total = steps.len();
        let stage = exec.block_on(run_stage(llm, &steps, config.concurrency, |s| {
            progress("screen", s.done, total)
        }));
        let mut out = StatementsStage {
            items: Vec::new(),
            failures: Vec::new(),
        };
        for (s, outcome) in statements.items.iter().zip(stage.outcomes) {
            match failure_of(&s.id, outcome) {
                Ok(true) => out.items.push(s.clone()),
                Ok(false) => {}
                Err(f) => out.failures.push(f),
            }
        }
        write_json(&run.stage_path(file), &out)?;
        run.finish(
            "screen",
            record(
                start,
                [
                    ("statements", total),
                    ("kept", out.items.len()),
                    ("failed", out.failures.len()),
                ],
            ),
        )?;
        out
    };
    timed("screen", start, resumed);

    // 9. Source judgment.
    let start = Instant::now();
    let file = "09-sources.json";
    let resumed = run.is_done("sources", file);
    let sources: SourcesStage = if resumed {
        read_json(&run.stage_path(file))?
    } else {
        let extracted: Vec<ExtractedStatement> = screened
            .items
            .iter()
            .map(|s| {
                ExtractedStatement::new(s.id.clone(), nation_of(&docs[s.doc]), s.text.clone())
                    .with_raw_news(docs[s.doc].text.clone())
            })
            .collect();
        let params = RunParams::default().with_concurrency(config.concurrency);
        let judged = exec.block_on(judge_sources(llm, &extracted, &params))?;
        progress("sources", extracted.len(), extracted.len());
        let out = SourcesStage {
            items: judged.items,
            failures: judged.failures,
        };
        write_json(&run.stage_path(file), &out)?;
        run.finish(
            "sources",
            record(
                start,
                [
                    ("statements", extracted.len()),
                    ("judged", out.items.len()),
                    ("failed", out.failures.len()),
                ],
            ),
        )?;
        out
    };
    timed("sources", start, resumed);

    // 10. Conflict Reduction.
    let start = Instant::now();
    let file = "10-conflict.json";
    let resumed = run.is_done("conflict", file);
    let conflict: ConflictStage = if resumed {
        read_json(&run.stage_path(file))?
    } else {
        let doc_of: BTreeMap<&str, usize> = screened
            .items
            .iter()
            .map(|s| (s.id.as_str(), s.doc))
            .collect();
        let mut article_ids: Vec<usize> = sources
            .items
            .iter()
            .filter_map(|j| doc_of.get(j.statement.id.as_str()).copied())
            .collect();
        article_ids.sort_unstable();
        article_ids.dedup();
        let corpus = Corpus {
            articles: article_ids
                .iter()
                .map(|&d| {
                    Article::new(docs[d].id.clone()).with_places(docs[d].place.iter().cloned())
                })
                .collect(),
            statements: sources
                .items
                .iter()
                .map(|j| {
                    let mut s = Statement::new(j.statement.id.clone(), j.statement.text.clone());
                    if let Some(&d) = doc_of.get(j.statement.id.as_str()) {
                        s = s.with_article(docs[d].id.clone());
                    }
                    s.with_speakers(j.speaker.iter().cloned())
                })
                .collect(),
        };
        let out = if corpus.statements.len() < 2 {
            ConflictStage {
                kept: corpus.statements.iter().map(|s| s.id.clone()).collect(),
                report: serde_json::Value::Null,
            }
        } else {
            let texts: Vec<&str> = corpus.statements.iter().map(|s| s.text.as_str()).collect();
            let vectors = embedder.embed(&texts)?;
            let flat: Vec<f32> = vectors.iter().copied().collect();
            let embeddings = corpus.embeddings_from_flat(&flat, vectors.ncols())?;
            let exec2 = exec.clone();
            let judge = LlmRelationJudge::new(llm)
                .with_concurrency(config.concurrency)
                .with_executor(move |batch| exec2.block_on(batch));
            let mut params = config.conflict.clone();
            params.k = params.k.min(corpus.statements.len() - 1).max(1);
            let outcome = reduce_conflicts(&corpus, &embeddings, &judge, &params)?;
            ConflictStage {
                kept: outcome
                    .kept
                    .iter()
                    .map(|&i| corpus.statements[i].id.clone())
                    .collect(),
                report: serde_json::from_str(&outcome.report.to_json()).unwrap_or_default(),
            }
        };
        progress("conflict", 1, 1);
        write_json(&run.stage_path(file), &out)?;
        run.finish(
            "conflict",
            record(
                start,
                [
                    ("statements", sources.items.len()),
                    ("kept", out.kept.len()),
                ],
            ),
        )?;
        out
    };
    timed("conflict", start, resumed);

    // 11. Triples.
    let start = Instant::now();
    let file = "11-triples.json";
    let resumed = run.is_done("triples", file);
    let triples: TriplesStage = if resumed {
        read_json(&run.stage_path(file))?
    } else {
        let kept: std::collections::HashSet<&str> =
            conflict.kept.iter().map(String::as_str).collect();
        let judged: Vec<JudgedStatement> = sources
            .items
            .iter()
            .filter(|j| kept.contains(j.statement.id.as_str()))
            .cloned()
            .collect();
        let params = BuildParams::default().with_concurrency(config.concurrency);
        let batch = exec.block_on(build_triples(llm, &judged, &params))?;
        progress("triples", judged.len(), judged.len());
        let built = batch.triples();
        let validation = validate_all(&built, &config.validation)?;
        let out = TriplesStage {
            excluded: validation.excluded(),
            validation: serde_json::json!({
                "total": validation.total,
                "question": format!("{:?}", validation.question),
                "differs": format!("{:?}", validation.differs),
                "opposes": format!("{:?}", validation.opposes),
            }),
            triples: validation.kept,
            failures: batch.failures,
        };
        write_json(&run.stage_path(file), &out)?;
        run.finish(
            "triples",
            record(
                start,
                [
                    ("statements", judged.len()),
                    ("triples", out.triples.len()),
                    ("excluded", out.excluded),
                    ("failed", out.failures.len()),
                ],
            ),
        )?;
        out
    };
    timed("triples", start, resumed);

    // 12. Dataset: always rewritten (cheap, and the files must match the stage files).
    let start = Instant::now();
    let dataset_dir = config.out.join("dataset");
    if dataset_dir.exists() {
        std::fs::remove_dir_all(&dataset_dir).map_err(Error::io(&dataset_dir))?;
    }
    if !triples.triples.is_empty() {
        write_navab(&dataset_dir, &triples.triples)?;
        write_dpo_dataset(config.out.join("dpo"), &triples.triples, &config.split)?;
        let rows = navab_triples::sample_for_verification(
            &triples.triples,
            &navab_triples::VerificationParams::default(),
        )?;
        navab_triples::write_sheet_csv(config.out.join("verification.csv"), &rows)?;
    }
    timed("dataset", start, false);

    // Report.
    let mut per_nation: BTreeMap<String, NationCounts> = BTreeMap::new();
    for d in docs {
        per_nation.entry(d.nation.clone()).or_default().news += 1;
    }
    for s in &statements.items {
        per_nation
            .entry(docs[s.doc].nation.clone())
            .or_default()
            .statements += 1;
    }
    for s in &screened.items {
        per_nation
            .entry(docs[s.doc].nation.clone())
            .or_default()
            .screened += 1;
    }
    let kept: std::collections::HashSet<&str> = conflict.kept.iter().map(String::as_str).collect();
    for j in &sources.items {
        let counts = per_nation
            .entry(nation_name(&j.statement.nation))
            .or_default();
        if kept.contains(j.statement.id.as_str()) {
            counts.after_conflict += 1;
        }
    }
    for t in &triples.triples {
        let counts = per_nation.entry(nation_name(&t.nation)).or_default();
        match t.set {
            navab_core::StatementSet::Quoted => counts.quoted += 1,
            _ => counts.official += 1,
        }
    }
    let failures: BTreeMap<String, usize> = [
        (
            "labels",
            labels.iter().filter(|l| l.failure.is_some()).count(),
        ),
        ("instag", instag.failures.len()),
        ("extract", statements.failures.len()),
        ("screen", screened.failures.len()),
        ("sources", sources.failures.len()),
        ("triples", triples.failures.len()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let report = RunReport {
        documents: docs.len(),
        skipped_lines: corpus.skipped.len(),
        topics: topics.topics.len(),
        noise_fraction: topics.noise_fraction,
        outliers_placed_by_instag: instag.assignments.iter().filter(|a| a.is_some()).count(),
        ari: topics.ari,
        nmi: topics.nmi,
        per_nation,
        triples: triples.triples.len(),
        excluded_by_validation: triples.excluded,
        failures,
        stages: times,
        topic_labels: labels.iter().map(|l| (l.topic, l.label.clone())).collect(),
    };
    write_json(&config.out.join("report.json"), &report)?;
    write_bytes(&config.out.join("report.md"), report.markdown().as_bytes())?;
    Ok(report)
}

fn nation_of(doc: &NewsDoc) -> Nation {
    doc.nation
        .parse()
        .unwrap_or_else(|_| Nation::Other(doc.nation.clone()))
}

fn nation_name(nation: &Nation) -> String {
    nation.to_string()
}

fn cut(text: &str, chars: usize) -> String {
    text.chars().take(chars).collect()
}

fn record<const N: usize>(start: Instant, counts: [(&str, usize); N]) -> StageRecord {
    StageRecord {
        seconds: start.elapsed().as_secs_f64(),
        counts: counts.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    }
}
