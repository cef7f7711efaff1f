//! The fuzzy simplicial set: smooth kNN distances, memberships, fuzzy union, pruning.

use rayon::prelude::*;

use crate::knn::KnnGraph;

/// Binary-search tolerance on the membership sum, and umap-learn's floor on `sigma`
/// relative to the mean distance.
const SMOOTH_K_TOLERANCE: f32 = 1e-5;
const MIN_K_DIST_SCALE: f32 = 1e-3;

/// A symmetric weighted graph in compressed rows, columns ascending within a row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FuzzyGraph {
    pub(crate) indptr: Vec<usize>,
    pub(crate) cols: Vec<u32>,
    pub(crate) weights: Vec<f32>,
}

impl FuzzyGraph {
    pub(crate) fn n_points(&self) -> usize {
        self.indptr.len() - 1
    }

    pub(crate) fn n_edges(&self) -> usize {
        self.cols.len()
    }

    pub(crate) fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let r = self.indptr[i]..self.indptr[i + 1];
        (&self.cols[r.clone()], &self.weights[r])
    }

    /// Drops weights below `max / n_epochs` (they would be sampled less than once), as
    /// umap-learn does before the layout.
    pub(crate) fn pruned(&self, n_epochs: usize) -> FuzzyGraph {
        let max = self.weights.iter().copied().fold(0.0f32, f32::max);
        let cut = max / n_epochs.max(1) as f32;
        let mut out = FuzzyGraph {
            indptr: vec![0],
            cols: Vec::new(),
            weights: Vec::new(),
        };
        for i in 0..self.n_points() {
            let (cols, weights) = self.row(i);
            for (&c, &w) in cols.iter().zip(weights) {
                if w >= cut && w > 0.0 {
                    out.cols.push(c);
                    out.weights.push(w);
                }
            }
            out.indptr.push(out.cols.len());
        }
        out
    }
}

/// Per point: `rho` (distance to the nearest other point, interpolated for fractional
/// `local_connectivity`) and `sigma` (so that `Σ exp(-(d - rho)/sigma) = log2(k)` over the
/// `k - 1` other neighbours).
pub(crate) fn smooth_knn_dist(knn: &KnnGraph, local_connectivity: f32) -> (Vec<f32>, Vec<f32>) {
    let n = knn.n_points();
    let k = knn.k();
    let target = (k as f32).log2();
    let all = knn.distances();
    let mean_all = all.iter().map(|&d| f64::from(d)).sum::<f64>() / all.len() as f64;
    let mean_all = mean_all as f32;
    (0..n)
        .into_par_iter()
        .map(|i| {
            let dists = knn.neighbors(i).1;
            let non_zero: Vec<f32> = dists.iter().copied().filter(|&d| d > 0.0).collect();
            let mut rho = 0.0f32;
            if non_zero.len() as f32 >= local_connectivity {
                let index = local_connectivity.floor() as usize;
                let interpolation = local_connectivity - index as f32;
                if index > 0 {
                    rho = non_zero[index - 1];
                    if interpolation > SMOOTH_K_TOLERANCE {
                        rho += interpolation * (non_zero[index] - non_zero[index - 1]);
                    }
                } else {
                    rho = interpolation * non_zero[0];
                }
            } else if let Some(&max) = non_zero.iter().max_by(|a, b| a.total_cmp(b)) {
                rho = max;
            }
            let (mut lo, mut hi, mut mid) = (0.0f32, f32::INFINITY, 1.0f32);
            for _ in 0..64 {
                let psum: f32 = dists[1..]
                    .iter()
                    .map(|&d| {
                        let x = d - rho;
                        if x > 0.0 {
                            (-x / mid).exp()
                        } else {
                            1.0
                        }
                    })
                    .sum();
                if (psum - target).abs() < SMOOTH_K_TOLERANCE {
                    break;
                }
                if psum > target {
                    hi = mid;
                    mid = (lo + hi) / 2.0;
                } else {
                    lo = mid;
                    mid = if hi == f32::INFINITY {
                        mid * 2.0
                    } else {
                        (lo + hi) / 2.0
                    };
                }
            }
            let mean_i = dists.iter().sum::<f32>() / k as f32;
            let floor = if rho > 0.0 {
                MIN_K_DIST_SCALE * mean_i
            } else {
                MIN_K_DIST_SCALE * mean_all
            };
            (rho, mid.max(floor))
        })
        .unzip()
}

/// The symmetric fuzzy graph of a kNN graph: memberships, then
/// `mix · (W + Wᵀ - W∘Wᵀ) + (1 - mix) · W∘Wᵀ`.
pub(crate) fn fuzzy_simplicial_set(
    knn: &KnnGraph,
    local_connectivity: f32,
    mix: f32,
) -> FuzzyGraph {
    let n = knn.n_points();
    let (rhos, sigmas) = smooth_knn_dist(knn, local_connectivity);
    // (row, col, is_transposed, weight); keys are unique, so the sort is deterministic.
    let mut entries: Vec<(u32, u32, bool, f32)> = (0..n)
        .into_par_iter()
        .flat_map_iter(|i| {
            let (idx, dists) = knn.neighbors(i);
            let (rho, sigma) = (rhos[i], sigmas[i]);
            idx.iter().zip(dists).filter_map(move |(&j, &d)| {
                if j as usize == i {
                    return None;
                }
                let w = if d - rho <= 0.0 || sigma == 0.0 {
                    1.0
                } else {
                    (-(d - rho) / sigma).exp()
                };
                (w > 0.0).then_some((i as u32, j, w))
            })
        })
        .flat_map_iter(|(i, j, w)| [(i, j, false, w), (j, i, true, w)])
        .collect();
    entries.par_sort_unstable_by_key(|&(r, c, t, _)| (r, c, t));
    let mut g = FuzzyGraph {
        indptr: vec![0; n + 1],
        cols: Vec::new(),
        weights: Vec::new(),
    };
    let mut e = 0;
    while e < entries.len() {
        let (r, c) = (entries[e].0, entries[e].1);
        let (mut w, mut wt) = (0.0f32, 0.0f32);
        while e < entries.len() && entries[e].0 == r && entries[e].1 == c {
            if entries[e].2 {
                wt = entries[e].3
            } else {
                w = entries[e].3
            }
            e += 1;
        }
        let prod = w * wt;
        let v = mix * (w + wt - prod) + (1.0 - mix) * prod;
        if v > 0.0 {
            g.cols.push(c);
            g.weights.push(v);
            g.indptr[r as usize + 1] += 1;
        }
    }
    for i in 0..n {
        g.indptr[i + 1] += g.indptr[i];
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knn::{KnnParams, Metric};
    use ndarray::Array2;

    #[test]
    fn memberships_sum_to_log2_k_and_graph_is_symmetric() {
        use rand::{rngs::StdRng, Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(5);
        let data = Array2::from_shape_fn((80, 3), |_| rng.random::<f32>());
        let knn =
            KnnGraph::build(data.view(), &KnnParams::new(6).metric(Metric::Euclidean)).unwrap();
        let (rhos, sigmas) = smooth_knn_dist(&knn, 1.0);
        for i in 0..80 {
            let d = knn.neighbors(i).1;
            assert_eq!(rhos[i], d.iter().copied().find(|&x| x > 0.0).unwrap_or(0.0));
            let s: f32 = d[1..]
                .iter()
                .map(|&x| {
                    if x - rhos[i] > 0.0 {
                        (-(x - rhos[i]) / sigmas[i]).exp()
                    } else {
                        1.0
                    }
                })
                .sum();
            assert!((s - 6f32.log2()).abs() < 1e-3, "row {i}: {s}");
        }
        let g = fuzzy_simplicial_set(&knn, 1.0, 1.0);
        for i in 0..80 {
            let (cols, ws) = g.row(i);
            assert!(cols.windows(2).all(|w| w[0] < w[1]));
            for (&j, &w) in cols.iter().zip(ws) {
                let (cj, wj) = g.row(j as usize);
                let pos = cj.iter().position(|&x| x as usize == i).expect("symmetric");
                assert_eq!(wj[pos], w);
                assert!(w > 0.0 && w <= 1.0);
            }
        }
    }
}
