//! Conflict Reduction for NaVAB: keep the statements of a source that agree with its dominant
//! stance, remove those that conflict with it.
//!
//! ```
//! use navab_conflict::{reduce_conflicts, Article, ConflictParams, Corpus, OracleJudge, Statement};
//!
//! # fn main() -> Result<(), navab_conflict::Error> {
//! let corpus = Corpus {
//!     articles: vec![
//!         Article::new("a1").with_places(["Kowloon"]),
//!         Article::new("a2").with_places(["Kowloon"]),
//!         Article::new("a3"),
//!     ],
//!     statements: vec![
//!         Statement::new("s1", "The new bridge serves the public interest.").with_article("a1"),
//!         Statement::new("s2", "The bridge is in the public interest.").with_article("a2"),
//!         Statement::new("s3", "The bridge does not serve the public.").with_article("a3"),
//!     ],
//! };
//! // Embeddings from any sentence embedder, one row per statement.
//! let embeddings = corpus.embeddings_from_rows(&[
//!     vec![0.9, 0.1, 0.0],
//!     vec![0.8, 0.2, 0.1],
//!     vec![0.7, 0.1, 0.3],
//! ])?;
//! // A judge for the candidate pairs; an LLM in production, known answers here.
//! let judge = OracleJudge::new([("s1", "s3"), ("s2", "s3")]).with_agreements([("s1", "s2")]);
//!
//! let outcome = reduce_conflicts(&corpus, &embeddings, &judge, &ConflictParams::default())?;
//! assert_eq!(outcome.kept, vec![0, 1]);
//! let removed = &outcome.report.removed[0];
//! assert_eq!((removed.id.as_str(), removed.round), ("s3", 1));
//! assert_eq!(removed.conflicts_with, vec!["s1", "s2"]);
//! println!("{}", outcome.report.to_json());
//! # Ok(()) }
//! ```
//!
//! # Method
//!
//! The paper (NaVAB, Section 3.4, Step II) builds a knowledge graph of news articles linked by
//! the value statements they share and by semantic, geographic and social relations, asks an
//! LLM to verify only selected pairs, searches 5-hop cycles that carry conflicts, removes what
//! deviates from the dominant stance, and repeats for 5 rounds. Here, precisely:
//!
//! 1. **Nodes**: articles and statements ([`Corpus`]). **Links** ([`LinkKind`]), each weighted:
//!    extracted (article → statement); semantic (each statement's `k` nearest neighbours by
//!    cosine at or above a threshold: [`knn_exact`] or precomputed [`Neighbours`]);
//!    geographic (articles naming a common place, Jaccard-weighted); social (statements with a
//!    common speaker, Jaccard-weighted); shared value and conflict (judged pairs). Places and
//!    speakers named too often link nothing ([`ConflictParams::max_link_group`]).
//! 2. **Judge**: only the semantic pairs go to a [`RelationJudge`], in batches: `<= n·k` pairs,
//!    not `n²`. A failure leaves its pair unjudged and is reported; the run goes on.
//! 3. **Signed graph**: agree = positive edge, conflict = negative, weighted by similarity
//!    plus geographic and social overlap ([`KnowledgeGraph::edge_weight`]).
//! 4. **Rounds** ([`reduce`]): find unbalanced cycles (odd number of conflicts) of at most
//!    `max_cycle_len` = 5 edges, each once ([`SignedGraph::unbalanced_cycles`]); split each
//!    connected region in two sides minimising frustrated weight (structural balance,
//!    [`SignedGraph::two_colouring`]: exact on balanced regions); the side with more support
//!    ([`Statement::support`], e.g. how many articles repeat a statement) is dominant; remove
//!    the non-dominant statements that conflict with it or sit on an unbalanced cycle, and drop
//!    the relations the sides still frustrate (the paper's "remove edges that deviate"). Up to
//!    `rounds` = 5 rounds, or until a round changes nothing. Every removed statement and
//!    dropped relation is listed in the [`ConflictReport`].
//!
//! **Where we differ from the authors' code** (DoinJ/NVA-Pipeline): there, random placeholders
//! stand in for the geographic and social links, an LLM is asked about every pair of
//! statements (quadratic calls), and the result never reaches the next stage. Here the links
//! come from real places and speakers, the judge sees `O(n·k)` candidate pairs, the dominant
//! side is chosen by an explicit balance criterion, and the kept statements are returned.
//! The paper names no similarity threshold, `k`, weighting or tie rule; ours are documented on
//! [`ConflictParams`] and [`reduce`].
//!
//! # Complexity
//!
//! For `n` statements of dimension `dim`, `k` neighbours, `c <= n·k` candidate pairs and `m`
//! judged edges: exact kNN `O(n² · dim / 2)` multiply-adds in cache-sized tiles (or `O(n·k)`
//! with precomputed lists); graph `O(c log c)`; judge `ceil(c / judge_batch_size)` calls;
//! per round `O(m log m)` for the colouring and a cycle search that starts only from
//! conflict edges. Deterministic: same input, same kept set and same report bytes.
//!
//! # Features
//!
//! - No ML, async or network dependency: the judge and the embeddings come from outside.
//! - [`OracleJudge`] for tests; blanket [`RelationJudge`] impls for `&T`, `Box<T>`, `Arc<T>`.
//! - [`KnowledgeGraph::to_petgraph`] exports the whole typed graph to petgraph.

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
