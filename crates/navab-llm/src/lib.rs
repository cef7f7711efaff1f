//! NaVAB's LLM steps: a chat-model seam, prompts, and reply parsers that survive real models.
//!
//! ```
//! use navab_llm::steps::{Source, SourceJudgment, TripleConstruction};
//! use navab_llm::testing::{block_on, ScriptedChatModel};
//! use navab_llm::{run_step, StepOutcome};
//!
//! // A test double that replays replies; a real backend implements `ChatModel` the same way.
//! let model = ScriptedChatModel::new([
//!     "The verb 認為 attributes it to him. ## 張炳良",
//!     "Sure!\n**Q:** 張炳良認為民主派應該派人參選特首嗎？\n**S：** 張炳良認為民主派應該派人參選特首。\n**RS:** 張炳良認為民主派不應派人參選特首。",
//!     "I cannot tell.",
//! ]);
//! let statement = "張炳良認為民主派應該派人參選特首。";
//!
//! let source = block_on(run_step(&model, &SourceJudgment { statement: statement.into() }));
//! assert_eq!(source.value(), Some(&Source::Quoted("張炳良".into())));
//!
//! let triple = block_on(run_step(&model, &TripleConstruction { statement: statement.into() }));
//! assert_eq!(triple.value().unwrap().reverse_statement, "張炳良認為民主派不應派人參選特首。");
//!
//! // An unreadable reply is recorded with its raw text, never dropped.
//! match block_on(run_step(&model, &SourceJudgment { statement: statement.into() })) {
//!     StepOutcome::ParseFailed { raw, .. } => assert_eq!(raw, "I cannot tell."),
//!     other => panic!("{other:?}"),
//! }
//! ```
//!
//! Each step is an input struct implementing [`Step`]: [`Step::request`] builds a
//! [`ChatRequest`] (prompts written for this project after the paper's Table 8, with a few-shot
//! turn), [`Step::parse`] reads the reply into a typed value or a [`ParseError`] that keeps the
//! raw reply, and [`run_step`] ties them to a [`ChatModel`], recording a [`StepOutcome`]:
//! `Ok`, `ParseFailed { raw, reason }` or `CallFailed { error }`. The parsers are also free
//! functions (`steps::parse_*`) for replies obtained elsewhere, e.g. the published data.
//!
//! # Steps
//!
//! | Step ([`steps`]) | Prompt asks for | Output | Also accepted |
//! |---|---|---|---|
//! | [`TopicLabel`](steps::TopicLabel) | a label of ≤ 5 words for a cluster, from keywords and documents: `topic: <label>` | `String` | `Topic Label:`, 主題：, Thème, Thema; quotes, `[label]`, text after `##`, a one-line reply. > 5 words is an error |
//! | [`Tagging`](steps::Tagging) | InsTag tags for an outlier document: `[{"tag", "explanation"}]` | `Vec<Tag>` | code fences, prose around, single or curly quotes, trailing commas, `{"tags": [...]}`, list of strings, the paper's brace-less `["tag": .., "explanation": ..]`, `- tag: explanation` lists |
//! | [`ValueScreening`](steps::ValueScreening) | is the statement value-related: reason, then `## yes` / `## no` | `bool` | `Answer: Yes`, a leading Yes./No, 是/否/不是, oui/non, ja/nein, sí; bold, brackets. "not"/"know" are not "no" |
//! | [`StatementExtraction`](steps::StatementExtraction) | value statements in the source's language: `Statement: <text>` per line, or `Statement: none` | `Vec<String>` | numbered/bold `Statement 1:`, a `Statements:` header and a list, 陳述：/聲明：, Déclaration, Aussage, text after `##` up to a blank line; "none", 沒有, aucune, keine → empty |
//! | [`SourceJudgment`](steps::SourceJudgment) | reason, then `## <name>` or `## Unknown` | [`Source`](steps::Source) | reasons after the name, `Source:`/來源：, the paper's trailing `[Name]`; Unknown/未知/不明/inconnu/unbekannt/none → `Official` |
//! | [`TripleConstruction`](steps::TripleConstruction) | `Q: ... ## S: ... ## RS: ...` | [`TripleDraft`](steps::TripleDraft) | one per line, missing `##`, bold, `：`, any case, Question/Statement/Reverse statement, 問題/陳述/反向陳述, Frage/Aussage/Gegenaussage |
//! | [`AnswerJudgment`](steps::AnswerJudgment) | AJ: is the answer closer to reference A or B: reason, then `## A` / `## B` / `## Neither` | [`Verdict`](steps::Verdict) | `Verdict: Reference A`, `(b)`, "closer to A", tie/both/none, 參考A, 都不, keine |
//!
//! All parsers are total: any string gives a value or a [`ParseError`] (property-tested), and
//! the real replies of the authors' pipeline in `../shared/data/navab-hk-sample` parse to the
//! values their files store (see `tests/real_replies.rs`).
//!
//! # Implementing [`ChatModel`] for your backend
//!
//! One method returning a boxed future, so `dyn ChatModel` works; `&T`, `Box<T>` and `Arc<T>`
//! forward automatically. Report transport failures as [`Error::Backend`]; leave the reply text
//! untouched, parsing is the step's job.
//!
//! ```
//! use navab_llm::{BoxFuture, ChatModel, ChatRequest, ChatResponse, Error, Result};
//!
//! /// Answers every request with its last message, upper-cased.
//! struct Shout;
//!
//! impl ChatModel for Shout {
//!     fn chat<'a>(&'a self, request: &'a ChatRequest) -> BoxFuture<'a, Result<ChatResponse>> {
//!         Box::pin(async move {
//!             let last = request.messages.last().ok_or_else(|| Error::Backend {
//!                 backend: "shout".into(),
//!                 message: "no message to answer".into(),
//!             })?;
//!             Ok(ChatResponse::new(last.content.to_uppercase()))
//!         })
//!     }
//! }
//! # use navab_llm::ChatMessage;
//! # let reply = navab_llm::testing::block_on(Shout.chat(&ChatRequest::new(vec![ChatMessage::user("## yes")])));
//! # assert_eq!(reply.unwrap().content, "## YES");
//! ```
//!
//! [`ChatRequest::canonical_json`] is a stable byte form of a request, for a response cache
//! keyed by it and [`ChatModel::model_id`].
//!
//! # Features
//!
//! Without features the crate needs no async runtime and no HTTP stack
//! ([`testing::block_on`] is enough for tests). Each backend piece is opt-in:
//!
//! - `stage`: `stage::run_stage`, a batch of one step over many inputs with bounded
//!   concurrency ([`exec::run_bounded`]), every input answered or recorded as failed (no
//!   dependency, no runtime).
//! - `cache`: `cache::CachedChatModel`, an on-disk response cache around any [`ChatModel`],
//!   crash-safe append-only segments (adds `sha2`).
//! - `openai`: `openai::OpenAiChatModel`, an OpenAI-compatible HTTP backend (vLLM, Ollama,
//!   llama.cpp, OpenAI) on `async-openai` with retries, backoff, `Retry-After`, timeouts and
//!   bounded concurrency; plain HTTP (adds `async-openai`, `reqwest`, `tokio`; implies `stage`).
//! - `openai-tls`: `openai` plus rustls for `https://` endpoints.

#[cfg(feature = "cache")]
pub mod cache;
mod chat;
mod error;
pub mod exec;
#[cfg(feature = "openai")]
pub mod openai;
#[cfg(feature = "stage")]
pub mod stage;
mod step;
pub mod steps;
pub mod testing;
mod text;

pub use chat::{
    BoxFuture, ChatMessage, ChatModel, ChatRequest, ChatResponse, FinishReason, Role, Sampling,
    Usage,
};
pub use error::{Error, ParseError, Result, StepName};
pub use step::{run_step, run_step_with, Step, StepOutcome};
pub use text::squash_whitespace;
