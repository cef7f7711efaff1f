//! How many model calls run at once. The runner and the executor are navab-llm's
//! ([`navab_llm::exec`]); [`block_on`] is re-exported for the synchronous
//! [`RelationJudge`](navab_conflict::RelationJudge) bridge and for callers without a runtime.

/// Runs a future to completion on the current thread; see [`navab_llm::exec::block_on`].
///
/// The executor behind [`LlmRelationJudge`](crate::LlmRelationJudge)'s synchronous
/// [`RelationJudge`](navab_conflict::RelationJudge) implementation. A backend built on tokio
/// must be driven by tokio instead: give the judge its own executor with
/// [`LlmRelationJudge::with_executor`](crate::LlmRelationJudge::with_executor).
pub use navab_llm::exec::block_on;

/// Default number of model calls in flight at once.
pub const DEFAULT_CONCURRENCY: usize = 8;
