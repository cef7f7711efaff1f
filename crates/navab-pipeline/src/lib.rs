#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod corpus;
mod error;
mod lang;
mod pipeline;
mod report;
mod stages;
mod store;
pub mod testing;

pub use corpus::{read_corpus, NewsDoc, SkippedLine};
pub use error::{Error, Result};
pub use lang::{language_name, normalize as normalize_language, Embedders, Languages};
pub use pipeline::{
    run_pipeline, ConflictScope, Executor, PipelineConfig, Progress, Screening, StdExecutor,
};
pub use report::{NationCounts, RunReport, StageTime};
pub use stages::topics::TopicInfo;
pub use store::{read_json, write_json, Manifest, RunDir, StageRecord};
