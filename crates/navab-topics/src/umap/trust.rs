//! Trustworthiness of an embedding (Venna and Kaski 2001; scikit-learn's definition).

use ndarray::ArrayView2;
use rayon::prelude::*;

use crate::knn::{
    distance_tile, validate_points, KnnGraph, KnnMethod, KnnParams, Metric, Prepared,
};
use crate::{Error, Result};

/// Trustworthiness of `low` as an embedding of `high` at `k` neighbours, with Euclidean
/// distances in both spaces (scikit-learn's default):
///
/// `T = 1 - 2 / (n·k·(2n - 3k - 1)) · Σᵢ Σ_{j ∈ Uᵢ} (r(i, j) - k)`
///
/// where `Uᵢ` holds the `k` nearest neighbours of `i` in `low` that are not among its `k`
/// nearest in `high`, and `r(i, j)` is `j`'s rank among `i`'s neighbours in `high` (1 = the
/// nearest; ties by index). 1 means every low-dimensional neighbourhood is a true one. For
/// cosine data, pass unit-length rows (Euclidean ranks then equal cosine ranks).
///
/// # Returns
/// [`Error::Input`] when the row counts differ, either input is empty or not finite, or
/// `k >= n / 2` (the normalisation needs `2n - 3k - 1 > 0`, as in scikit-learn).
///
/// # Complexity
/// `O(n² · (dim + k))` time in tiles of `O(block · n)` memory, parallel over rows.
///
/// # Example
/// ```
/// use ndarray::array;
/// let high = array![[0.0f32, 0.0, 0.0], [1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [3.0, 0.0, 0.0], [4.0, 0.0, 0.0]];
/// let low = array![[0.0f32], [1.0], [2.0], [3.0], [4.0]];
/// assert_eq!(navab_topics::umap::trustworthiness(high.view(), low.view(), 1)?, 1.0);
/// # Ok::<(), navab_topics::Error>(())
/// ```
pub fn trustworthiness(high: ArrayView2<f32>, low: ArrayView2<f32>, k: usize) -> Result<f64> {
    let n = high.nrows();
    if low.nrows() != n {
        return Err(Error::Input(format!(
            "{n} high-dimensional rows but {} low-dimensional rows",
            low.nrows()
        )));
    }
    validate_points(high, Metric::Euclidean)?;
    validate_points(low, Metric::Euclidean)?;
    if k == 0 || 2 * n <= 3 * k + 1 {
        return Err(Error::Input(format!(
            "trustworthiness needs 1 <= k < n / 2; got k = {k} for {n} points"
        )));
    }
    let low_knn = KnnGraph::build(
        low,
        &KnnParams::new(k + 1)
            .metric(Metric::Euclidean)
            .method(KnnMethod::Exact),
    )?;
    let p = Prepared::new(high, Metric::Euclidean);
    let block = (4_000_000 / n).clamp(8, 256);
    let starts: Vec<usize> = (0..n).step_by(block).collect();
    let penalty: f64 = starts
        .par_iter()
        .map_init(
            || vec![0.0f32; block * n],
            |tile, &i0| {
                let rows = block.min(n - i0);
                distance_tile(&p, i0, rows, tile);
                let mut sum = 0.0f64;
                for r in 0..rows {
                    let i = i0 + r;
                    let line = &tile[r * n..(r + 1) * n];
                    // rank(j) = 1 + #{l != i : (d_il, l) < (d_ij, j)}.
                    for &j in &low_knn.neighbors(i).0[1..] {
                        let j = j as usize;
                        let dj = line[j];
                        let rank = 1 + line
                            .iter()
                            .enumerate()
                            .filter(|&(l, &dl)| l != i && (dl < dj || (dl == dj && l < j)))
                            .count();
                        if rank > k {
                            sum += (rank - k) as f64;
                        }
                    }
                }
                sum
            },
        )
        .collect::<Vec<f64>>()
        .into_iter()
        .sum();
    let (nf, kf) = (n as f64, k as f64);
    Ok(1.0 - 2.0 / (nf * kf * (2.0 * nf - 3.0 * kf - 1.0)) * penalty)
}
