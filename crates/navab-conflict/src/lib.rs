#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod corpus;
mod error;
mod graph;
mod judge;
mod knn;
mod params;
mod reduce;
mod signed;

pub use corpus::{Article, Corpus, Statement};
pub use error::{Error, Result};
pub use graph::{JudgeFailure, KnowledgeGraph, Link, LinkKind, Node};
pub use judge::{CandidatePair, OracleJudge, Relation, RelationJudge};
pub use knn::{knn_exact, Embeddings, Neighbours};
pub use params::ConflictParams;
pub use reduce::{
    reduce, reduce_conflicts, reduce_conflicts_with_neighbours, ConflictOutcome, ConflictReport,
    DroppedRelation, RelationCounts, RemovalReason, RemovedStatement, RoundSummary, StageTimings,
};
pub use signed::{Colouring, CycleStats, SignedEdge, SignedGraph};
