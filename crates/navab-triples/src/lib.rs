#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

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
