//! The judge: decides whether two similar statements agree, conflict or are unrelated.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::Serialize;

use crate::{Result, Statement};

/// How two statements relate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Relation {
    /// Same stance: a positive edge (a shared value).
    Agree,
    /// Opposite stances: a negative edge.
    Conflict,
    /// No stance in common: no signed edge.
    Unrelated,
}

/// A pair of similar statements put to the judge.
#[derive(Clone, Copy, Debug)]
pub struct CandidatePair<'a> {
    /// The statement listed first in the corpus.
    pub first: &'a Statement,
    /// The other one.
    pub second: &'a Statement,
    /// Cosine similarity of their embeddings.
    pub similarity: f32,
}

/// Decides the [`Relation`] of candidate pairs, e.g. an LLM prompted with both statements.
///
/// Called with batches of at most [`ConflictParams::judge_batch_size`] pairs; must return one
/// result per pair, in order. An `Err` for one pair leaves that pair unjudged (no edge) and is
/// listed in the report; it never aborts the run. A reply of the wrong length fails the whole
/// batch the same way.
///
/// [`ConflictParams::judge_batch_size`]: crate::ConflictParams::judge_batch_size
pub trait RelationJudge: Send + Sync {
    /// One relation (or failure) per pair.
    fn judge(&self, pairs: &[CandidatePair<'_>]) -> Vec<Result<Relation>>;
}

impl<T: RelationJudge + ?Sized> RelationJudge for &T {
    fn judge(&self, pairs: &[CandidatePair<'_>]) -> Vec<Result<Relation>> {
        (**self).judge(pairs)
    }
}

impl<T: RelationJudge + ?Sized> RelationJudge for Box<T> {
    fn judge(&self, pairs: &[CandidatePair<'_>]) -> Vec<Result<Relation>> {
        (**self).judge(pairs)
    }
}

impl<T: RelationJudge + ?Sized> RelationJudge for Arc<T> {
    fn judge(&self, pairs: &[CandidatePair<'_>]) -> Vec<Result<Relation>> {
        (**self).judge(pairs)
    }
}

/// A judge that knows the answers: pairs of statement ids listed as conflicting or agreeing
/// (in either order), every other pair [`Relation::Unrelated`] or the relation set with
/// [`otherwise`](Self::otherwise). For tests and benchmarks.
#[derive(Clone, Debug, Default)]
pub struct OracleJudge {
    conflicts: BTreeSet<(String, String)>,
    agreements: BTreeSet<(String, String)>,
    otherwise: Option<Relation>,
}

fn key(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

impl OracleJudge {
    /// A judge for which exactly these pairs conflict.
    pub fn new<I, A, B>(conflicts: I) -> Self
    where
        I: IntoIterator<Item = (A, B)>,
        A: AsRef<str>,
        B: AsRef<str>,
    {
        Self {
            conflicts: conflicts
                .into_iter()
                .map(|(a, b)| key(a.as_ref(), b.as_ref()))
                .collect(),
            ..Self::default()
        }
    }

    /// Adds pairs that agree.
    pub fn with_agreements<I, A, B>(mut self, agreements: I) -> Self
    where
        I: IntoIterator<Item = (A, B)>,
        A: AsRef<str>,
        B: AsRef<str>,
    {
        self.agreements.extend(
            agreements
                .into_iter()
                .map(|(a, b)| key(a.as_ref(), b.as_ref())),
        );
        self
    }

    /// The relation of pairs listed nowhere (default [`Relation::Unrelated`]).
    pub fn otherwise(mut self, relation: Relation) -> Self {
        self.otherwise = Some(relation);
        self
    }

    /// The relation of one pair of ids.
    pub fn relation(&self, a: &str, b: &str) -> Relation {
        let k = key(a, b);
        if self.conflicts.contains(&k) {
            Relation::Conflict
        } else if self.agreements.contains(&k) {
            Relation::Agree
        } else {
            self.otherwise.unwrap_or(Relation::Unrelated)
        }
    }
}

impl RelationJudge for OracleJudge {
    fn judge(&self, pairs: &[CandidatePair<'_>]) -> Vec<Result<Relation>> {
        pairs
            .iter()
            .map(|p| Ok(self.relation(&p.first.id, &p.second.id)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oracle_is_symmetric_and_usable_through_pointers() {
        let (a, b, c) = (
            Statement::new("a", "x"),
            Statement::new("b", "y"),
            Statement::new("c", "z"),
        );
        let judge = OracleJudge::new([("b", "a")]).with_agreements([("a", "c")]);
        let pairs = [
            CandidatePair {
                first: &a,
                second: &b,
                similarity: 0.9,
            },
            CandidatePair {
                first: &a,
                second: &c,
                similarity: 0.9,
            },
            CandidatePair {
                first: &b,
                second: &c,
                similarity: 0.9,
            },
        ];
        let boxed: Box<dyn RelationJudge> = Box::new(judge.clone());
        let arc = Arc::new(judge);
        for j in [&boxed as &dyn RelationJudge, &arc, &&*arc] {
            let got: Vec<Relation> = j.judge(&pairs).into_iter().map(|r| r.unwrap()).collect();
            assert_eq!(
                got,
                vec![Relation::Conflict, Relation::Agree, Relation::Unrelated]
            );
        }
    }
}
