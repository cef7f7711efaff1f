//! Agreement between two labelings of the same items: adjusted Rand index and normalised mutual
//! information (scikit-learn's definitions), over a sparse contingency table.
//!
//! ```
//! use navab_topics::metrics::{adjusted_rand_index, normalized_mutual_info};
//!
//! let truth = [0, 0, 0, 1, 1, 1];
//! let found = ["b", "b", "b", "a", "a", "a"]; // same partition, other names
//! assert_eq!(adjusted_rand_index(&truth, &found)?, 1.0);
//! assert!((normalized_mutual_info(&truth, &found)? - 1.0).abs() < 1e-12);
//! # Ok::<(), navab_topics::Error>(())
//! ```
//!
//! Labels are compared by equality only, so any `Eq + Hash` type works and names do not
//! matter. Noise (`None` in [`crate::hdbscan::Clustering::labels`], -1 in the Python package)
//! counts as one more label, as scikit-learn counts -1: two clusterings that agree on which
//! points are noise are rewarded for it.

use crate::{Error, Result};
use std::collections::HashMap;
use std::hash::Hash;

/// A sparse contingency table between two labelings.
#[derive(Clone, Debug, PartialEq)]
pub struct Contingency {
    /// Number of items.
    pub n: u64,
    /// Items per label of the first labeling (labels numbered by first appearance).
    pub row_sums: Vec<u64>,
    /// Items per label of the second labeling (labels numbered by first appearance).
    pub col_sums: Vec<u64>,
    /// The non-zero cells as `(row, column, count)`, sorted by row then column.
    pub cells: Vec<(usize, usize, u64)>,
}

/// Numbers labels by first appearance.
fn dense_ids<T: Eq + Hash>(labels: &[T]) -> (Vec<usize>, usize) {
    let mut ids: HashMap<&T, usize> = HashMap::new();
    let dense = labels
        .iter()
        .map(|l| {
            let next = ids.len();
            *ids.entry(l).or_insert(next)
        })
        .collect();
    (dense, ids.len())
}

/// Builds the contingency table of two labelings of the same items.
///
/// # Errors
/// [`Error::Input`] when the slices differ in length.
///
/// # Complexity
/// O(n) expected, plus O(c log c) to sort the c non-zero cells.
pub fn contingency<A: Eq + Hash, B: Eq + Hash>(a: &[A], b: &[B]) -> Result<Contingency> {
    if a.len() != b.len() {
        return Err(Error::Input(format!(
            "labelings differ in length: {} vs {}",
            a.len(),
            b.len()
        )));
    }
    let (ra, na) = dense_ids(a);
    let (rb, nb) = dense_ids(b);
    let mut row_sums = vec![0u64; na];
    let mut col_sums = vec![0u64; nb];
    let mut counts: HashMap<(usize, usize), u64> = HashMap::new();
    for (&i, &j) in ra.iter().zip(&rb) {
        row_sums[i] += 1;
        col_sums[j] += 1;
        *counts.entry((i, j)).or_insert(0) += 1;
    }
    let mut cells: Vec<(usize, usize, u64)> =
        counts.into_iter().map(|((i, j), c)| (i, j, c)).collect();
    cells.sort_unstable();
    Ok(Contingency {
        n: a.len() as u64,
        row_sums,
        col_sums,
        cells,
    })
}

fn pairs(x: u64) -> f64 {
    let x = x as f64;
    x * (x - 1.0) / 2.0
}

/// Adjusted Rand index (Hubert & Arabie 1985): 1 for identical partitions, about 0 for
/// independent ones, negative when worse than chance.
///
/// As in scikit-learn, two labelings that are both one cluster, or both all singletons, score
/// 1; so do two empty ones.
///
/// # Errors
/// [`Error::Input`] when the slices differ in length.
pub fn adjusted_rand_index<A: Eq + Hash, B: Eq + Hash>(a: &[A], b: &[B]) -> Result<f64> {
    let t = contingency(a, b)?;
    let (ka, kb) = (t.row_sums.len(), t.col_sums.len());
    if ka == kb && (ka <= 1 || ka as u64 == t.n) {
        return Ok(1.0);
    }
    let index: f64 = t.cells.iter().map(|&(_, _, c)| pairs(c)).sum();
    let sum_a: f64 = t.row_sums.iter().map(|&c| pairs(c)).sum();
    let sum_b: f64 = t.col_sums.iter().map(|&c| pairs(c)).sum();
    let expected = sum_a * sum_b / pairs(t.n);
    let max = (sum_a + sum_b) / 2.0;
    if max == expected {
        return Ok(1.0);
    }
    Ok((index - expected) / (max - expected))
}

/// Mutual information (in nats) of two labelings.
///
/// # Errors
/// [`Error::Input`] when the slices differ in length.
pub fn mutual_info<A: Eq + Hash, B: Eq + Hash>(a: &[A], b: &[B]) -> Result<f64> {
    let t = contingency(a, b)?;
    Ok(mutual_info_of(&t))
}

fn mutual_info_of(t: &Contingency) -> f64 {
    let n = t.n as f64;
    let mi: f64 = t
        .cells
        .iter()
        .map(|&(i, j, c)| {
            let c = c as f64;
            c / n * (c * n / (t.row_sums[i] as f64 * t.col_sums[j] as f64)).ln()
        })
        .sum();
    mi.max(0.0)
}

fn entropy(sums: &[u64], n: u64) -> f64 {
    let n = n as f64;
    sums.iter()
        .filter(|&&c| c > 0)
        .map(|&c| -(c as f64 / n) * (c as f64 / n).ln())
        .sum()
}

/// Normalised mutual information with the arithmetic mean of the two entropies as the
/// normaliser (scikit-learn's default): 1 for identical partitions, 0 for independent ones.
///
/// As in scikit-learn, two labelings that are both a single cluster (or both empty) score 1.
///
/// # Errors
/// [`Error::Input`] when the slices differ in length.
pub fn normalized_mutual_info<A: Eq + Hash, B: Eq + Hash>(a: &[A], b: &[B]) -> Result<f64> {
    let t = contingency(a, b)?;
    let (ka, kb) = (t.row_sums.len(), t.col_sums.len());
    if ka == kb && ka <= 1 {
        return Ok(1.0);
    }
    let mi = mutual_info_of(&t);
    if mi <= 0.0 {
        return Ok(0.0);
    }
    let normaliser = (entropy(&t.row_sums, t.n) + entropy(&t.col_sums, t.n)) / 2.0;
    Ok((mi / normaliser.max(f64::EPSILON)).min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    #[test]
    fn contingency_counts_cells_and_margins() {
        let t = contingency(&[1, 1, 2, 2, 2], &['x', 'y', 'y', 'y', 'x']).unwrap();
        assert_eq!(t.n, 5);
        assert_eq!(t.row_sums, vec![2, 3]);
        assert_eq!(t.col_sums, vec![2, 3]);
        assert_eq!(t.cells, vec![(0, 0, 1), (0, 1, 1), (1, 0, 1), (1, 1, 2)]);
    }

    #[test]
    fn ari_of_a_hand_computed_case() {
        // a = {0,1,2},{3,4,5}; b = {0,1},{2,3},{4,5}.
        // Cells: 2,1,1,2 -> index = 1+0+0+1 = 2; rows: 3+3 = 6; cols: 1+1+1 = 3;
        // expected = 6*3/15 = 1.2; max = 4.5; ARI = 0.8/3.3.
        let a = [0, 0, 0, 1, 1, 1];
        let b = [0, 0, 1, 1, 2, 2];
        let ari = adjusted_rand_index(&a, &b).unwrap();
        assert!((ari - 0.8 / 3.3).abs() < 1e-12, "{ari}");
    }

    #[test]
    fn nmi_of_a_hand_computed_case() {
        // a = {0,1},{2,3} and b = {0,2},{1,3} are independent: NMI 0.
        assert_eq!(
            normalized_mutual_info(&[0, 0, 1, 1], &[0, 1, 0, 1]).unwrap(),
            0.0
        );
        // a = {0,1},{2,3}; b = {0},{1},{2,3}: MI = ln 2 (b determines a), H(a) = ln 2,
        // H(b) = 1.5 ln 2, NMI = ln2 / (1.25 ln 2) = 0.8.
        let nmi = normalized_mutual_info(&[0, 0, 1, 1], &[0, 1, 2, 2]).unwrap();
        assert!((nmi - 0.8).abs() < 1e-12, "{nmi}");
    }

    #[test]
    fn renaming_labels_changes_nothing() {
        let a = [3, 3, 1, 1, 1, 7, 7, 3];
        let b = [0, 1, 1, 2, 2, 2, 0, 0];
        let renamed: Vec<&str> = a
            .iter()
            .map(|x| match x {
                3 => "c",
                1 => "a",
                _ => "z",
            })
            .collect();
        assert_eq!(
            adjusted_rand_index(&a, &b).unwrap(),
            adjusted_rand_index(&renamed, &b).unwrap()
        );
        assert_eq!(
            normalized_mutual_info(&a, &b).unwrap(),
            normalized_mutual_info(&renamed, &b).unwrap()
        );
        // Symmetric in its arguments.
        assert!(
            (adjusted_rand_index(&a, &b).unwrap() - adjusted_rand_index(&b, &a).unwrap()).abs()
                < 1e-12
        );
        assert!(
            (normalized_mutual_info(&a, &b).unwrap() - normalized_mutual_info(&b, &a).unwrap())
                .abs()
                < 1e-12
        );
    }

    #[test]
    fn identical_partitions_score_one_and_independent_ones_near_zero() {
        let mut rng = StdRng::seed_from_u64(1);
        let a: Vec<u32> = (0..20_000).map(|_| rng.random_range(0..8)).collect();
        let b: Vec<u32> = (0..20_000).map(|_| rng.random_range(0..5)).collect();
        assert_eq!(adjusted_rand_index(&a, &a).unwrap(), 1.0);
        assert!((normalized_mutual_info(&a, &a).unwrap() - 1.0).abs() < 1e-12);
        let ari = adjusted_rand_index(&a, &b).unwrap();
        let nmi = normalized_mutual_info(&a, &b).unwrap();
        assert!(ari.abs() < 0.01, "{ari}");
        assert!(nmi < 0.01, "{nmi}");
    }

    #[test]
    fn noise_is_a_label_of_its_own() {
        let a = [Some(0), Some(0), None, None];
        let b = [Some(5), Some(5), None, None];
        assert_eq!(adjusted_rand_index(&a, &b).unwrap(), 1.0);
        let c = [Some(5), Some(5), Some(5), None];
        assert!(adjusted_rand_index(&a, &c).unwrap() < 1.0);
    }

    #[test]
    fn degenerate_cases_follow_scikit_learn() {
        assert_eq!(adjusted_rand_index(&[1, 1, 1], &[2, 2, 2]).unwrap(), 1.0);
        assert_eq!(adjusted_rand_index(&[1, 2, 3], &[4, 5, 6]).unwrap(), 1.0);
        assert_eq!(normalized_mutual_info(&[1, 1, 1], &[2, 2, 2]).unwrap(), 1.0);
        assert_eq!(normalized_mutual_info(&[1, 1, 1], &[1, 2, 3]).unwrap(), 0.0);
        assert_eq!(adjusted_rand_index::<u8, u8>(&[], &[]).unwrap(), 1.0);
        let err = adjusted_rand_index(&[1, 2], &[1]).unwrap_err().to_string();
        assert!(err.contains("2 vs 1"), "{err}");
    }
}
