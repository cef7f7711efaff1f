//! Hyperparameters of Conflict Reduction.

use serde::Serialize;

use crate::{Error, Result};

/// Hyperparameters, with the paper's values where it gives them.
///
/// Build with [`ConflictParams::default`] and field updates, then validate with
/// [`check`](ConflictParams::check) (the pipeline calls it too).
///
/// ```
/// use navab_conflict::ConflictParams;
/// let params = ConflictParams { k: 20, ..ConflictParams::default() }.check()?;
/// assert_eq!((params.max_cycle_len, params.rounds), (5, 5)); // paper, Section 3.4 Step II
/// # Ok::<(), navab_conflict::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConflictParams {
    /// Longest cycle, in edges, searched for conflicts. Paper: "5-hop cycles". At least 3 (the
    /// graph is simple, so no shorter cycle exists) and at most 8: the search costs about
    /// `d^(max_cycle_len - 2)` per conflict edge for mean degree `d`.
    pub max_cycle_len: usize,
    /// Most rounds of recomputing the dominant stance and removing. Paper: 5. At least 1. Stops
    /// earlier when a round removes nothing.
    pub rounds: usize,
    /// Neighbours per statement for semantic links and judge candidates. The paper gives no
    /// value; 10 keeps judge calls at about `n * k / 2` (pairs found from both ends count once)
    /// and gives each statement enough links to sit on short cycles. At least 1.
    pub k: usize,
    /// Least cosine similarity for a semantic link. The paper gives no value. With the
    /// sentence embedders NaVAB uses (bge-small v1.5 and peers, L2-normalised), statements
    /// on one issue mostly score above 0.6 and unrelated ones below, and a statement and its
    /// negation share most words, so they stay linked; the judge filters what remains. In
    /// `[-1, 1]`.
    pub similarity_threshold: f32,
    /// Pairs per call to [`RelationJudge::judge`](crate::RelationJudge::judge). At least 1.
    pub judge_batch_size: usize,
    /// Weight added to a judged edge when the two articles name a common place, times the
    /// Jaccard overlap of their places (1 for the same article). Finite, `>= 0`.
    pub geo_weight: f32,
    /// Weight added to a judged edge when the two statements share a speaker, times the
    /// Jaccard overlap of their speakers. Finite, `>= 0`.
    pub social_weight: f32,
    /// A place or speaker named by more articles or statements than this makes no
    /// geographic or social links: it is as uninformative as a stop word ("Hong Kong" in Hong
    /// Kong news), and linking its members pairwise would be quadratic. At least 2.
    pub max_link_group: usize,
    /// Most unbalanced cycles enumerated per round; past it the round's report says
    /// `cycles_truncated` and later cycles neither count nor mark statements. At least 1.
    pub max_cycles: usize,
    /// Most passes of the local search that improves the 2-colouring. At least 1.
    pub local_search_passes: usize,
}

impl Default for ConflictParams {
    fn default() -> Self {
        Self {
            max_cycle_len: 5,
            rounds: 5,
            k: 10,
            similarity_threshold: 0.6,
            judge_batch_size: 32,
            geo_weight: 0.25,
            social_weight: 0.5,
            max_link_group: 64,
            max_cycles: 1_000_000,
            local_search_passes: 20,
        }
    }
}

impl ConflictParams {
    /// Returns `self` if every field is in range.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] naming the first field out of range.
    pub fn check(self) -> Result<Self> {
        self.check_ref()?;
        Ok(self)
    }

    pub(crate) fn check_ref(&self) -> Result<()> {
        fn bad(name: &'static str, value: impl std::fmt::Debug, reason: &'static str) -> Error {
            Error::InvalidParam {
                name,
                value: format!("{value:?}"),
                reason,
            }
        }
        if !(3..=8).contains(&self.max_cycle_len) {
            return Err(bad("max_cycle_len", self.max_cycle_len, "must be in 3..=8"));
        }
        if self.rounds == 0 {
            return Err(bad("rounds", self.rounds, "must be at least 1"));
        }
        if self.k == 0 {
            return Err(bad("k", self.k, "must be at least 1"));
        }
        if !(-1.0..=1.0).contains(&self.similarity_threshold) {
            return Err(bad(
                "similarity_threshold",
                self.similarity_threshold,
                "must be a number in [-1, 1]",
            ));
        }
        if self.judge_batch_size == 0 {
            return Err(bad(
                "judge_batch_size",
                self.judge_batch_size,
                "must be at least 1",
            ));
        }
        for (name, w) in [
            ("geo_weight", self.geo_weight),
            ("social_weight", self.social_weight),
        ] {
            if !(w.is_finite() && w >= 0.0) {
                return Err(bad(name, w, "must be finite and >= 0"));
            }
        }
        if self.max_link_group < 2 {
            return Err(bad(
                "max_link_group",
                self.max_link_group,
                "must be at least 2",
            ));
        }
        if self.max_cycles == 0 {
            return Err(bad("max_cycles", self.max_cycles, "must be at least 1"));
        }
        if self.local_search_passes == 0 {
            return Err(bad(
                "local_search_passes",
                self.local_search_passes,
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_follow_the_paper() {
        let p = ConflictParams::default().check().unwrap();
        assert_eq!(p.max_cycle_len, 5);
        assert_eq!(p.rounds, 5);
    }

    #[test]
    fn out_of_range_values_name_the_field() {
        let cases = [
            ConflictParams {
                max_cycle_len: 2,
                ..Default::default()
            },
            ConflictParams {
                rounds: 0,
                ..Default::default()
            },
            ConflictParams {
                k: 0,
                ..Default::default()
            },
            ConflictParams {
                similarity_threshold: f32::NAN,
                ..Default::default()
            },
            ConflictParams {
                similarity_threshold: 1.5,
                ..Default::default()
            },
            ConflictParams {
                geo_weight: -1.0,
                ..Default::default()
            },
            ConflictParams {
                max_link_group: 1,
                ..Default::default()
            },
        ];
        let names = [
            "max_cycle_len",
            "rounds",
            "k",
            "similarity_threshold",
            "similarity_threshold",
            "geo_weight",
            "max_link_group",
        ];
        for (p, want) in cases.into_iter().zip(names) {
            match p.check() {
                Err(Error::InvalidParam { name, .. }) => assert_eq!(name, want),
                other => panic!("{want}: expected InvalidParam, got {other:?}"),
            }
        }
    }
}
