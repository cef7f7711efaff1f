//! The pipeline's LLM steps: one input struct per step, each a [`Step`](crate::Step).
//!
//! Prompts are written for this project after the paper's Table 8; parsers read the reply shape
//! the prompt asks for and the usual deviations from it (see the crate docs).

mod extraction;
mod judge;
mod screening;
mod source;
mod tagging;
mod topic;
mod triple;

pub use extraction::{parse_statements, StatementExtraction, NEWS_PROMPT_CHARS};
pub use judge::{parse_verdict, AnswerJudgment, Verdict};
pub use screening::{parse_yes_no, TopicScreening, ValueScreening, TOPIC_DOC_CHARS, VALUE_TOPICS};
pub use source::{parse_source, Source, SourceJudgment};
pub use tagging::{parse_tags, Tag, Tagging};
pub use topic::{parse_topic_label, TopicLabel, MAX_TOPIC_WORDS};
pub use triple::{parse_triple, TripleConstruction, TripleDraft};
