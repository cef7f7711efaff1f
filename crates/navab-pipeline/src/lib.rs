#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod corpus;
mod error;
mod pipeline;
mod report;
mod store;

pub use corpus::{read_corpus, NewsDoc, SkippedLine};
pub use error::{Error, Result};
pub use pipeline::{run_pipeline, Executor, PipelineConfig, Progress, StdExecutor, TopicInfo};
pub use report::{NationCounts, RunReport, StageTime};
pub use store::{read_json, write_json, Manifest, RunDir, StageRecord};
