//! Triple construction (paper Section 3.4, Step IV): a question Q, the statement S and its
//! reverse RS for every judged statement.
//!
//! ```
//! use navab_core::{Nation, StatementSet};
//! use navab_llm::testing::ScriptedChatModel;
//! use navab_triples::{block_on, build_triples, BuildParams, ExtractedStatement, JudgedStatement};
//!
//! let model = ScriptedChatModel::new([
//!     "Q: Should the voting age be lowered to 16? ## S: The voting age should be lowered to 16. \
//!      ## RS: The voting age should not be lowered to 16.",
//! ]);
//! let judged = [JudgedStatement {
//!     statement: ExtractedStatement::new("uk-1", Nation::UnitedKingdom,
//!         " The minister said the voting age should be lowered to 16."),
//!     set: StatementSet::Quoted,
//!     speaker: Some("the minister".into()),
//!     raw_reply: "## the minister".into(),
//! }];
//! let built = block_on(build_triples(&model, &judged, &BuildParams::default()))?;
//! let triple = &built.items[0].triple;
//! assert_eq!(triple.id, "UK/quoted/00000");
//! // S is the extracted statement, as the published data stores it.
//! assert_eq!(triple.statement, "The minister said the voting age should be lowered to 16.");
//! assert_eq!(triple.reverse_statement, "The voting age should not be lowered to 16.");
//! # Ok::<(), navab_triples::Error>(())
//! ```

use std::collections::BTreeMap;

use navab_core::{Nation, StatementSet, Triple};
use navab_llm::exec::run_bounded;
use navab_llm::steps::{TripleConstruction, TripleDraft};
use navab_llm::{run_step, BoxFuture, ChatModel, StepName, StepOutcome};

use crate::error::Result;
use crate::source::{ItemFailure, JudgedStatement, RunParams};

/// Which text becomes S.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StatementChoice {
    /// The extracted statement, trimmed: what the authors store in the published data (the
    /// default).
    #[default]
    Extracted,
    /// The statement as the model restated it in its `S:` part.
    Regenerated,
}

/// Settings of [`build_triples`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BuildParams {
    /// Concurrency of the model calls.
    pub run: RunParams,
    /// Which text becomes S (default: the extracted statement).
    pub statement: StatementChoice,
}

impl BuildParams {
    /// Uses `choice` for S.
    pub fn with_statement(mut self, choice: StatementChoice) -> Self {
        self.statement = choice;
        self
    }

    /// At most `concurrency` calls in flight.
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.run.concurrency = concurrency;
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// As [`RunParams::check`].
    pub fn check(&self) -> Result<()> {
        self.run.check()
    }
}

/// A triple built from one judged statement.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltTriple {
    /// The triple. Its id is [`Triple::navab_id`] of its nation, set and position among the
    /// built triples of that nation and set, so that the NaVAB layout written from
    /// [`TripleBatch::triples`] reads back with the same ids.
    pub triple: Triple,
    /// Id of the statement it was built from.
    pub statement_id: String,
    /// The model's parsed reply (its `S` may differ from the triple's, see
    /// [`StatementChoice`]).
    pub draft: TripleDraft,
    /// The model's reply, unchanged (the authors' `generated raw data`).
    pub raw_reply: String,
}

/// The result of [`build_triples`]: every input is in exactly one of the two lists.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TripleBatch {
    /// Built triples, in input order.
    pub items: Vec<BuiltTriple>,
    /// Statements whose reply did not parse or whose call failed, in input order.
    pub failures: Vec<ItemFailure>,
}

impl TripleBatch {
    /// The triples alone, in input order.
    pub fn triples(&self) -> Vec<Triple> {
        self.items.iter().map(|b| b.triple.clone()).collect()
    }
}

/// Runs the triple-construction step on every judged statement, at most
/// `params.run.concurrency` calls at a time.
///
/// The triple keeps the statement's nation, set, speaker (as [`Triple::source`]) and news text.
/// S is the trimmed extracted statement, or the model's own `S` with
/// [`StatementChoice::Regenerated`].
///
/// # Returns
/// [`TripleBatch`]: built triples and per-item failures (raw reply and reason), in input order.
/// A failure costs only its own statement. Ids number the *built* triples of each nation and
/// set, so they match the positions in the files [`write_navab`](crate::write_navab) writes.
///
/// # Errors
/// Only [`crate::Error::InvalidParam`] for bad `params`.
pub async fn build_triples<M: ChatModel + ?Sized>(
    model: &M,
    statements: &[JudgedStatement],
    params: &BuildParams,
) -> Result<TripleBatch> {
    params.check()?;
    let steps: Vec<TripleConstruction> = statements
        .iter()
        .map(|s| TripleConstruction {
            statement: s.statement.text.clone(),
        })
        .collect();
    let futures: Vec<BoxFuture<'_, StepOutcome<TripleDraft>>> = steps
        .iter()
        .map(|step| Box::pin(run_step(model, step)) as BoxFuture<'_, _>)
        .collect();
    let outcomes = run_bounded(futures, params.run.concurrency, |_, _| {}).await;

    let mut next_index: BTreeMap<(Nation, StatementSet), usize> = BTreeMap::new();
    let mut batch = TripleBatch::default();
    for (index, (judged, outcome)) in statements.iter().zip(outcomes).enumerate() {
        let source = &judged.statement;
        match ItemFailure::of(index, &source.id, StepName::TripleConstruction, outcome) {
            Ok((draft, raw_reply)) => {
                let position = next_index
                    .entry((source.nation.clone(), judged.set))
                    .or_default();
                let statement = match params.statement {
                    StatementChoice::Extracted => source.text.trim().to_string(),
                    StatementChoice::Regenerated => draft.statement.trim().to_string(),
                };
                let triple = Triple {
                    id: Triple::navab_id(&source.nation, judged.set, *position),
                    nation: source.nation.clone(),
                    set: judged.set,
                    question: draft.question.trim().to_string(),
                    statement,
                    reverse_statement: draft.reverse_statement.trim().to_string(),
                    source: judged.speaker.clone(),
                    raw_news: source
                        .raw_news
                        .as_deref()
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string),
                };
                *position += 1;
                batch.items.push(BuiltTriple {
                    triple,
                    statement_id: source.id.clone(),
                    draft,
                    raw_reply,
                });
            }
            Err(failure) => batch.failures.push(failure),
        }
    }
    Ok(batch)
}
