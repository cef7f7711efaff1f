//! Source judgment (paper Section 3.4, Step III): which statements are quoted (a named speaker)
//! and which are the outlet's own view (official).
//!
//! ```
//! use navab_core::{Nation, StatementSet};
//! use navab_llm::testing::ScriptedChatModel;
//! use navab_triples::{block_on, judge_sources, ExtractedStatement, RunParams};
//!
//! let model = ScriptedChatModel::new([
//!     "認為 attributes it to him. ## 張炳良",
//!     "Nothing says who said it. ## unknown",
//! ]);
//! let statements = [
//!     ExtractedStatement::new("hk-1", Nation::China, "張炳良認為民主派應該派人參選特首。"),
//!     ExtractedStatement::new("hk-2", Nation::China, "政府應諮詢市民。"),
//! ];
//! let judged = block_on(judge_sources(&model, &statements, &RunParams::default()))?;
//! assert_eq!(judged.items[0].set, StatementSet::Quoted);
//! assert_eq!(judged.items[0].speaker.as_deref(), Some("張炳良"));
//! assert_eq!(judged.items[1].set, StatementSet::Official);
//! assert!(judged.failures.is_empty());
//! # Ok::<(), navab_triples::Error>(())
//! ```

use navab_core::{Nation, StatementSet};
use navab_llm::exec::run_bounded;
use navab_llm::steps::{Source, SourceJudgment};
use navab_llm::{run_step, BoxFuture, ChatModel, StepName, StepOutcome};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::exec::DEFAULT_CONCURRENCY;

/// A value statement extracted from a news article, before source judgment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtractedStatement {
    /// Stable identifier (e.g. the article id and the statement's position in it).
    pub id: String,
    /// The nation of the news source.
    pub nation: Nation,
    /// The statement as extracted. Kept as given; the steps trim it.
    pub text: String,
    /// The news text it was extracted from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_news: Option<String>,
}

impl ExtractedStatement {
    /// A statement with no news text.
    pub fn new(id: impl Into<String>, nation: Nation, text: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            nation,
            text: text.into(),
            raw_news: None,
        }
    }

    /// Sets the news text it comes from.
    pub fn with_raw_news(mut self, raw_news: impl Into<String>) -> Self {
        self.raw_news = Some(raw_news.into());
        self
    }
}

/// A statement with its judged source: the quoted set with a speaker, or the official set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JudgedStatement {
    /// The statement.
    pub statement: ExtractedStatement,
    /// [`StatementSet::Quoted`] when a speaker is named, else [`StatementSet::Official`].
    pub set: StatementSet,
    /// The speaker, for the quoted set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaker: Option<String>,
    /// The model's reply, unchanged (the authors' `full_source`).
    pub raw_reply: String,
}

/// One item an LLM step could not do: the model's reply did not parse, or the call failed.
/// Never dropped silently: batches list these beside their results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemFailure {
    /// 0-based position of the item in the input.
    pub index: usize,
    /// The item's id.
    pub id: String,
    /// The step that failed (`source_judgment`, `triple_construction`, ...).
    pub step: String,
    /// The model's reply, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_reply: Option<String>,
    /// Why it failed: the parser's reason or the backend's error.
    pub reason: String,
}

impl ItemFailure {
    /// The parsed value and raw reply of `outcome`, or the failure it records.
    pub(crate) fn of<T>(
        index: usize,
        id: &str,
        step: StepName,
        outcome: StepOutcome<T>,
    ) -> std::result::Result<(T, String), Self> {
        let (raw_reply, reason) = match outcome {
            StepOutcome::Ok { value, raw } => return Ok((value, raw)),
            StepOutcome::ParseFailed { raw, reason, .. } => (Some(raw), reason),
            StepOutcome::CallFailed { error } => (None, error.to_string()),
            // A new kind of outcome is a failure we cannot read more from.
            _ => (None, "unknown step outcome".to_string()),
        };
        Err(Self {
            index,
            id: id.to_string(),
            step: step.as_str().to_string(),
            raw_reply,
            reason,
        })
    }
}

/// Settings of a batch of LLM steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunParams {
    /// How many model calls may be in flight at once (default
    /// [`DEFAULT_CONCURRENCY`] = 8); at least 1.
    pub concurrency: usize,
}

impl Default for RunParams {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

impl RunParams {
    /// At most `concurrency` calls in flight.
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] if `concurrency` is 0.
    pub fn check(&self) -> Result<()> {
        if self.concurrency == 0 {
            return Err(Error::InvalidParam {
                name: "concurrency",
                value: "0".into(),
                reason: "at least one call must be allowed in flight",
            });
        }
        Ok(())
    }
}

/// The result of [`judge_sources`]: every input is in exactly one of the two lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JudgedSources {
    /// Statements whose source was judged, in input order.
    pub items: Vec<JudgedStatement>,
    /// Statements whose reply did not parse or whose call failed, in input order.
    pub failures: Vec<ItemFailure>,
}

/// Runs the source-judgment step on every statement, at most `params.concurrency` calls at a
/// time, and sorts the statements into the quoted set (a named speaker, kept) and the official
/// set (`Unknown` and its translations).
///
/// # Arguments
/// - `model`: any [`ChatModel`].
/// - `statements`: the extracted statements.
/// - `params`: concurrency.
///
/// # Returns
/// [`JudgedSources`]: judged statements and per-item failures (raw reply and reason), in input
/// order. A failure costs only its own statement.
///
/// # Errors
/// Only [`Error::InvalidParam`] for bad `params`; model and parse failures are per item.
pub async fn judge_sources<M: ChatModel + ?Sized>(
    model: &M,
    statements: &[ExtractedStatement],
    params: &RunParams,
) -> Result<JudgedSources> {
    params.check()?;
    let steps: Vec<SourceJudgment> = statements
        .iter()
        .map(|s| SourceJudgment {
            statement: s.text.clone(),
        })
        .collect();
    let futures: Vec<BoxFuture<'_, StepOutcome<Source>>> = steps
        .iter()
        .map(|step| Box::pin(run_step(model, step)) as BoxFuture<'_, _>)
        .collect();
    let outcomes = run_bounded(futures, params.concurrency, |_, _| {}).await;
    let mut judged = JudgedSources::default();
    for (index, (statement, outcome)) in statements.iter().zip(outcomes).enumerate() {
        match ItemFailure::of(index, &statement.id, StepName::SourceJudgment, outcome) {
            Ok((source, raw_reply)) => judged.items.push(JudgedStatement {
                statement: statement.clone(),
                set: source.set(),
                speaker: source.speaker().map(str::to_string),
                raw_reply,
            }),
            Err(failure) => judged.failures.push(failure),
        }
    }
    Ok(judged)
}
