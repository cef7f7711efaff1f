//! NaVAB triples: from extracted statements to `<Q, S, RS>` triples, checked, and written as the
//! published NaVAB layout and as DPO data.
//!
//! ```
//! use navab_core::{read_navab_dir, Nation, ReadOptions, StatementSet};
//! use navab_llm::testing::ScriptedChatModel;
//! use navab_triples::{
//!     block_on, build_triples, judge_sources, validate_all, write_dpo_dataset, write_navab,
//!     BuildParams, ExtractedStatement, RunParams, SplitParams, ValidationParams,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Any ChatModel: an OpenAI-compatible client, a local model; replayed replies here.
//! let model = ScriptedChatModel::new([
//!     "認為 attributes it to him. ## 張炳良",
//!     "Nothing says who said it. ## unknown",
//!     "Q: 張炳良認為民主派應該派人參選特首嗎？ ## S: 張炳良認為民主派應該派人參選特首。 \
//!      ## RS: 張炳良認為民主派不應該派人參選特首。",
//!     "Q: 政府應否諮詢市民？ ## S: 政府應諮詢市民。 ## RS: 政府應諮詢市民。",
//! ]);
//! let statements = [
//!     ExtractedStatement::new("hk-1", Nation::China, " 張炳良認為民主派應該派人參選特首。"),
//!     ExtractedStatement::new("hk-2", Nation::China, " 政府應諮詢市民。"),
//! ];
//!
//! // 1. Source judgment: a named speaker → quoted, unknown → official.
//! let judged = block_on(judge_sources(&model, &statements, &RunParams::default()))?;
//! assert_eq!(judged.items[0].set, StatementSet::Quoted);
//! // 2. Triples: S is the extracted statement, as the published data stores it.
//! let built = block_on(build_triples(&model, &judged.items, &BuildParams::default()))?;
//! // 3. Validation: the second triple's RS repeats S, so it is reported and left out.
//! let checked = validate_all(&built.triples(), &ValidationParams::default())?;
//! assert_eq!((checked.kept.len(), checked.excluded()), (1, 1));
//! assert_eq!(checked.reports[0].id, "China/official/00000");
//!
//! // 4. The NaVAB layout (read back unchanged by navab-core) and DPO data.
//! let out = tempfile::tempdir()?;
//! write_navab(out.path().join("navab"), &checked.kept)?;
//! let back = read_navab_dir(out.path().join("navab"), &ReadOptions::default())?;
//! assert_eq!(back.items, checked.kept);
//! write_dpo_dataset(out.path().join("dpo"), &checked.kept, &SplitParams::default())?;
//! # Ok(()) }
//! ```
//!
//! The stages of the paper's Section 3.4 after Conflict Reduction, and the tools around them:
//!
//! - **Source judgment** ([`judge_sources`], Step III): the `navab-llm` source-judgment step
//!   per statement; a named speaker puts it in the quoted set (speaker kept), `unknown` in the
//!   official set.
//! - **Triple construction** ([`build_triples`], Step IV): the triple-construction step; S is
//!   the extracted statement by default ([`StatementChoice`]), ids are
//!   [`Triple::navab_id`](navab_core::Triple::navab_id) per nation and set.
//! - **Validation** ([`validate()`], [`validate_all`]): Q is a question, RS differs from S, RS
//!   opposes S (a documented heuristic; see [`validate`](mod@validate)). Invalid triples are
//!   reported and left out.
//! - **Writing** ([`dataset`]): the published NaVAB layout ([`write_navab`], via navab-core),
//!   DPO pairs with a seeded, stratified 80/20 split ([`split_train_test`]) in LLaMA-Factory
//!   ([`write_llama_factory`], [`llama_factory_dataset_info`]) and TRL ([`write_trl`]) form.
//! - **Human verification** ([`verify`], Appendix B): [`sample_for_verification`] 100
//!   statements per nation into a CSV or JSONL sheet with Align / Conflict / Unrelated
//!   columns; [`verification_rates`] with 95% Wilson intervals from the filled sheet.
//! - **Relation judge** ([`relation`]): [`LlmRelationJudge`], navab-conflict's
//!   [`RelationJudge`](navab_conflict::RelationJudge) over any chat model, with its own
//!   [`RelationJudgment`] step and tolerant parser [`parse_relation`].
//!
//! Every LLM step records per-item failures ([`ItemFailure`]: index, id, raw reply, reason)
//! beside its results: nothing is dropped silently. The batch functions are `async` and
//! runtime-agnostic: they run up to [`RunParams::concurrency`] calls at once by polling, so any
//! executor drives them ([`block_on`] when there is none).
//!
//! # Features
//!
//! None. No ML, HTTP or async-runtime dependency: models come in through
//! [`ChatModel`](navab_llm::ChatModel).

pub mod build;
pub mod dataset;
mod error;
mod exec;
pub mod relation;
pub mod source;
pub mod validate;
pub mod verify;

pub use build::{build_triples, BuildParams, BuiltTriple, StatementChoice, TripleBatch};
pub use dataset::{
    dpo_pairs, llama_factory_dataset_info, split_train_test, write_dpo_dataset,
    write_llama_factory, write_navab, write_trl, Split, SplitParams, TrlStyle,
};
pub use error::{Error, Result};
pub use exec::{block_on, DEFAULT_CONCURRENCY};
pub use relation::{
    parse_relation, Executor, JudgeBatch, LlmRelationJudge, RelationJudgment, RELATION_STEP,
};
pub use source::{
    judge_sources, ExtractedStatement, ItemFailure, JudgedSources, JudgedStatement, RunParams,
};
pub use validate::{
    is_question, normalise, opposition, validate, validate_all, validate_with, CheckCount, Issue,
    Opposition, TripleIssues, Validation, ValidationParams,
};
pub use verify::{
    read_sheet, sample_for_verification, verification_rates, write_sheet_csv, write_sheet_jsonl,
    FilledRow, FilledSheet, Marks, NationRates, Rate, SheetRow, Verifiable, VerificationParams,
    VerificationReport, SHEET_COLUMNS,
};
// Kept for users of the old name; the function lives in navab-core.
#[allow(deprecated)]
pub use verify::wilson_95;
