//! The stages, one file each, and the one helper they share: read the stage back or compute
//! it, write it, record it (complete, or incomplete with its failed calls) and time it.

pub(crate) mod conflict;
pub(crate) mod corpus;
pub(crate) mod dataset;
pub(crate) mod embed;
pub(crate) mod extract;
pub(crate) mod labels;
pub(crate) mod maps;
pub(crate) mod screen;
pub(crate) mod sources;
pub(crate) mod topics;
pub(crate) mod triples;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use std::collections::BTreeMap;

use navab_llm::{BoxFuture, ChatModel, ChatRequest, ChatResponse, StepOutcome};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::corpus::NewsDoc;
use crate::lang::Embedders;
use crate::pipeline::{Executor, PipelineConfig, Progress};
use crate::report::StageTime;
use crate::store::{read_json, write_json, RunDir, StageRecord};
use crate::{Error, Result};

/// What a stage's compute step returns: its output and the counts for the manifest.
pub(crate) struct Computed<T> {
    pub value: T,
    pub counts: Vec<(&'static str, usize)>,
}

impl<T> Computed<T> {
    pub fn new(value: T, counts: &[(&'static str, usize)]) -> Self {
        Computed {
            value,
            counts: counts.to_vec(),
        }
    }
}

/// How a stage's output is kept on disk (JSON for all but the embeddings).
pub(crate) trait StageFile: Sized {
    fn load(path: &Path) -> Result<Self>;
    fn save(&self, path: &Path) -> Result<()>;
}

impl<T: Serialize + DeserializeOwned> StageFile for T {
    fn load(path: &Path) -> Result<Self> {
        read_json(path)
    }
    fn save(&self, path: &Path) -> Result<()> {
        write_json(path, self)
    }
}

/// Everything a stage sees: the settings, the models, the run directory and the clock.
pub(crate) struct Ctx<'a, X> {
    pub config: &'a PipelineConfig,
    pub llm: CallWatch<'a>,
    pub embedders: Embedders<'a>,
    pub exec: &'a X,
    pub progress: Progress<'a>,
    pub run: RunDir,
    pub times: Vec<StageTime>,
}

impl<X: Executor> Ctx<'_, X> {
    /// Reuses stage `name` from `file` when the manifest allows (see
    /// [`RunDir::reusable`]), else computes, writes and records it. A stage whose LLM calls
    /// failed is recorded as incomplete (a rerun computes it again; the response cache answers
    /// what had succeeded); one that met an error no retry can fix (credentials, an endpoint
    /// gone) is recorded and then stops the run.
    pub fn stage<T: StageFile>(
        &mut self,
        name: &str,
        file: &str,
        inputs: serde_json::Value,
        compute: impl FnOnce(&mut Self) -> Result<Computed<T>>,
    ) -> Result<T> {
        let path = self.run.stage_path(file);
        if let Some(record) = self.run.reusable(name, file, &inputs) {
            let seconds = record.seconds;
            let value = T::load(&path)?;
            self.times.push(StageTime::new(name, seconds, true, 0));
            return Ok(value);
        }
        let start = Instant::now();
        let failed_before = self.llm.failed_calls();
        let computed = compute(self)?;
        let failed_calls = self.llm.failed_calls() - failed_before;
        computed.value.save(&path)?;
        let seconds = start.elapsed().as_secs_f64();
        let record = StageRecord {
            seconds,
            counts: computed
                .counts
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            inputs,
            failed_calls,
        };
        self.run.finish(name, record)?;
        self.times
            .push(StageTime::new(name, seconds, false, failed_calls));
        if let Some(reason) = self.llm.stopped() {
            return Err(Error::LlmUnavailable {
                stage: name.to_string(),
                reason,
            });
        }
        Ok(computed.value)
    }

    /// What an LLM stage's output depends on besides its input items: the model, the prompt
    /// of its step(s), the caller's own generation settings, and `settings`.
    pub fn llm_inputs(
        &self,
        prompts: &[ChatRequest],
        settings: serde_json::Value,
    ) -> serde_json::Value {
        let prompts: String = prompts.iter().map(ChatRequest::canonical_json).collect();
        serde_json::json!({
            "llm": self.llm.model_id(),
            "llm_settings": self.config.llm_settings,
            "prompts": crate::store::text_sha256(&prompts),
            "settings": settings,
        })
    }
}

/// The pipeline's view of the chat model: counts failed calls, and after an error that no
/// retry can fix ([`navab_llm::Error::stops_run`]) sends nothing more, answering each later
/// call with that error at once.
pub(crate) struct CallWatch<'a> {
    inner: Box<dyn ChatModel + 'a>,
    failed: AtomicUsize,
    stop: Mutex<Option<String>>,
}

impl<'a> CallWatch<'a> {
    pub fn new(inner: Box<dyn ChatModel + 'a>) -> Self {
        CallWatch {
            inner,
            failed: AtomicUsize::new(0),
            stop: Mutex::new(None),
        }
    }

    /// Calls that failed so far.
    pub fn failed_calls(&self) -> usize {
        self.failed.load(Ordering::SeqCst)
    }

    /// The error that stopped calls, if one did.
    pub fn stopped(&self) -> Option<String> {
        self.stop.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn call(&self, request: &ChatRequest) -> navab_llm::Result<ChatResponse> {
        if let Some(reason) = self.stopped() {
            self.failed.fetch_add(1, Ordering::SeqCst);
            return Err(navab_llm::Error::Backend {
                backend: "pipeline".into(),
                message: format!("not sent: an earlier call failed for good: {reason}"),
            });
        }
        let result = self.inner.chat(request).await;
        if let Err(e) = &result {
            self.failed.fetch_add(1, Ordering::SeqCst);
            if e.stops_run() {
                let mut stop = self.stop.lock().unwrap_or_else(|e| e.into_inner());
                stop.get_or_insert_with(|| e.to_string());
            }
        }
        result
    }
}

impl ChatModel for CallWatch<'_> {
    fn chat<'b>(
        &'b self,
        request: &'b ChatRequest,
    ) -> BoxFuture<'b, navab_llm::Result<ChatResponse>> {
        Box::pin(self.call(request))
    }

    fn model_id(&self) -> Option<&str> {
        self.inner.model_id()
    }

    fn check_ready(&self) -> BoxFuture<'_, navab_llm::Result<()>> {
        self.inner.check_ready()
    }
}

/// A part of the corpus whose topics are modeled on their own: one nation's documents in one
/// language (and from one source, when topics are modeled per source).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct Group {
    pub nation: String,
    pub language: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl std::fmt::Display for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}", self.nation, self.language)?;
        if let Some(source) = &self.source {
            write!(f, ", {source}")?;
        }
        f.write_str(")")
    }
}

/// The documents of each group, in a stable order (groups sorted, documents in corpus order).
pub(crate) fn groups(docs: &[NewsDoc], by_source: bool) -> BTreeMap<Group, Vec<usize>> {
    let mut out: BTreeMap<Group, Vec<usize>> = BTreeMap::new();
    for (i, d) in docs.iter().enumerate() {
        let group = Group {
            nation: d.nation.clone(),
            language: d.language.clone(),
            source: if by_source { d.source.clone() } else { None },
        };
        out.entry(group).or_default().push(i);
    }
    out
}

/// An item an LLM step could not handle, as the stage files keep it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Failure {
    pub id: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
}

/// The value of `outcome`, or the failure it records for item `id`.
pub(crate) fn failure_of<T>(id: &str, outcome: StepOutcome<T>) -> std::result::Result<T, Failure> {
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
