//! The crate's error types, and the step names they cite.

use std::fmt;

/// Everything that can go wrong calling a chat model or reading its reply.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The backend failed to answer (network, server, quota, ...). `backend` names it, e.g. the
    /// endpoint URL or `scripted`.
    #[error("chat backend {backend}: {message}")]
    Backend {
        /// Which backend failed.
        backend: String,
        /// What it said.
        message: String,
    },
    /// A request that no backend should accept (empty messages, temperature out of range, ...).
    #[error("invalid chat request: {0}")]
    InvalidRequest(String),
    /// A reply that the step's parser could not read; the raw reply is kept.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A [`ScriptedChatModel`](crate::testing::ScriptedChatModel) was asked for more replies than
    /// it was given.
    #[error(
        "scripted chat model ran out of replies after serving {served}; script one more reply"
    )]
    ScriptExhausted {
        /// How many replies it had served.
        served: usize,
    },
    /// An HTTP chat backend gave up on a request: a permanent failure (4xx other than 408/429,
    /// a malformed request) or a transient one that outlived its retries. Names the URL, the
    /// last HTTP status if there was one, and how many attempts were made; never the API key.
    #[error("POST {url}: {}after {attempts} attempt(s): {message}", status.map(|s| format!("HTTP {s} ")).unwrap_or_default())]
    Http {
        /// The endpoint, e.g. `http://127.0.0.1:8000/v1/chat/completions`.
        url: String,
        /// The last HTTP status, if the server answered with one.
        status: Option<u16>,
        /// Requests sent for this call, retries included.
        attempts: u32,
        /// What went wrong on the last attempt (timeout, connection reset, server message, ...).
        message: String,
    },
    /// A backend configuration that cannot work; names the field.
    #[error("invalid chat backend configuration: {field}: {message}")]
    InvalidConfig {
        /// The field at fault, e.g. `max_concurrency`.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The environment variable that should hold the API key is unset or empty.
    #[error("API key environment variable {var} is not set (or empty)")]
    MissingApiKey {
        /// The variable's name (its value is never shown).
        var: String,
    },
    /// Reading or writing the response cache failed.
    #[error("response cache {}: {source}", path.display())]
    CacheIo {
        /// The file or folder at fault.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// JSON (de)serialisation of a request or response failed.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

impl Error {
    /// Whether no later call to the same backend can succeed: the server refused the
    /// credentials (HTTP 401 or 403) or could not be reached at all after the retries. A batch
    /// should stop at such an error instead of failing every remaining item the same way.
    pub fn stops_run(&self) -> bool {
        match self {
            Error::Http {
                status: Some(401 | 403),
                ..
            } => true,
            Error::Http {
                status: None,
                message,
                ..
            } => message.starts_with(UNREACHABLE),
            Error::MissingApiKey { .. } | Error::InvalidConfig { .. } => true,
            _ => false,
        }
    }
}

/// How [`Error::Http`] messages about an endpoint that refused the connection begin.
pub(crate) const UNREACHABLE: &str = "could not connect";

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// The pipeline's LLM steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StepName {
    /// Topic label of at most five words (Section 3.2, Step V).
    TopicLabel,
    /// InsTag tags for an outlier document (Section 3.2, Step IV).
    Tagging,
    /// Is the statement value-related? (Section 3.3.)
    ValueScreening,
    /// Is the topic value-related, judged against the value-topic sets? (Section 3.3.)
    TopicScreening,
    /// Value statements from a news article (Section 3.4, Step I).
    StatementExtraction,
    /// Who said the statement (Section 3.4, Step III).
    SourceJudgment,
    /// The `<Q, S, RS>` triple (Section 3.4, Step IV).
    TripleConstruction,
    /// Which reference an answer is closer to (Section 4.1, AJ).
    AnswerJudgment,
    /// Do two statements agree or conflict? (Section 3.4, Step II, Conflict Reduction.)
    RelationJudgment,
}

impl StepName {
    /// Lower-case name, e.g. `source_judgment`.
    pub fn as_str(self) -> &'static str {
        match self {
            StepName::TopicLabel => "topic_label",
            StepName::Tagging => "tagging",
            StepName::ValueScreening => "value_screening",
            StepName::TopicScreening => "topic_screening",
            StepName::StatementExtraction => "statement_extraction",
            StepName::SourceJudgment => "source_judgment",
            StepName::TripleConstruction => "triple_construction",
            StepName::AnswerJudgment => "answer_judgment",
            StepName::RelationJudgment => "relation_judgment",
        }
    }
}

impl fmt::Display for StepName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reply that a step's parser could not read. Keeps the raw reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{step}: reply not understood: {reason}; raw reply: {}", preview(raw))]
pub struct ParseError {
    /// The step whose reply it was.
    pub step: StepName,
    /// What was missing or wrong.
    pub reason: String,
    /// The reply, unchanged.
    pub raw: String,
}

impl ParseError {
    /// A parse error of `step` for `raw`.
    pub fn new(step: StepName, reason: impl Into<String>, raw: &str) -> Self {
        Self {
            step,
            reason: reason.into(),
            raw: raw.to_string(),
        }
    }
}

fn preview(raw: &str) -> String {
    const MAX: usize = 160;
    let mut out: String = raw.chars().take(MAX).collect();
    if raw.chars().nth(MAX).is_some() {
        out.push('…');
    }
    format!("{out:?}")
}
