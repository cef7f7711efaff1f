//! The SGD layout: epochs-per-sample scheduling, negative sampling, clipped gradients.

use rayon::prelude::*;

use super::graph::FuzzyGraph;
use super::UmapParams;
use crate::knn::SplitMix;

/// Points per parallel task. Results do not depend on it (each point is computed alone).
const CHUNK: usize = 128;

fn clip(v: f32) -> f32 {
    v.clamp(-4.0, 4.0)
}

/// Squared distance between two short rows.
fn rdist(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Runs `n_epochs` epochs on `embedding` (`n × dim`, row-major) and returns it.
///
/// Each epoch reads the previous positions and writes new ones; a point's new position is
/// computed by one task from its own edges in column order, starting from its previous
/// position and moving as it goes (its neighbours stay at their previous positions). Edge `e`
/// (entry of row `i`) fires when its next-sample epoch is reached, as in umap-learn: `i` takes
/// the clipped attraction twice (once for `(i, j)` and once for `(j, i)`'s `move_other`), then
/// `floor((t - next_negative) / epochs_per_negative_sample)` repulsions from points drawn
/// with the generator keyed by `(seed, t, e)`.
pub(crate) fn optimize(
    g: &FuzzyGraph,
    mut current: Vec<f32>,
    dim: usize,
    a: f32,
    b: f32,
    params: &UmapParams,
    n_epochs: usize,
) -> Vec<f32> {
    let n = g.n_points();
    let nnz = g.n_edges();
    if nnz == 0 || n_epochs == 0 {
        return current;
    }
    let max_w = g.weights.iter().copied().fold(0.0f32, f32::max);
    // umap-learn's make_epochs_per_sample: an edge of weight w fires every max_w / w epochs.
    let epochs_per_sample: Vec<f64> = g
        .weights
        .iter()
        .map(|&w| f64::from(max_w) / f64::from(w))
        .collect();
    let neg_rate = params.negative_sample_rate as f64;
    let epochs_per_negative: Vec<f64> = epochs_per_sample
        .iter()
        .map(|&e| {
            if neg_rate > 0.0 {
                e / neg_rate
            } else {
                f64::INFINITY
            }
        })
        .collect();
    let mut next_sample = epochs_per_sample.clone();
    let mut next_negative = epochs_per_negative.clone();
    let gamma = params.repulsion_strength;
    let mut next = vec![0.0f32; n * dim];

    for epoch in 0..n_epochs {
        let alpha = params.learning_rate * (1.0 - epoch as f32 / n_epochs as f32);
        let t = epoch as f64;
        let prev = &current;
        // Split the per-edge state along chunk boundaries so each task owns its rows' edges.
        let mut tasks = Vec::with_capacity(n.div_ceil(CHUNK));
        let (mut ns_rest, mut nn_rest) = (&mut next_sample[..], &mut next_negative[..]);
        let mut pos_rest = &mut next[..];
        for c0 in (0..n).step_by(CHUNK) {
            let c1 = (c0 + CHUNK).min(n);
            let edges = g.indptr[c1] - g.indptr[c0];
            let (ns, r1) = ns_rest.split_at_mut(edges);
            let (nn, r2) = nn_rest.split_at_mut(edges);
            let (pos, r3) = pos_rest.split_at_mut((c1 - c0) * dim);
            (ns_rest, nn_rest, pos_rest) = (r1, r2, r3);
            tasks.push((c0, c1, ns, nn, pos));
        }
        tasks.into_par_iter().for_each(|(c0, c1, ns, nn, pos)| {
            let base = g.indptr[c0];
            for i in c0..c1 {
                let me = &mut pos[(i - c0) * dim..(i - c0 + 1) * dim];
                me.copy_from_slice(&prev[i * dim..(i + 1) * dim]);
                for e in g.indptr[i]..g.indptr[i + 1] {
                    let le = e - base;
                    if ns[le] > t {
                        continue;
                    }
                    let j = g.cols[e] as usize;
                    let other = &prev[j * dim..(j + 1) * dim];
                    for _ in 0..2 {
                        let d2 = rdist(me, other);
                        let coeff = if d2 > 0.0 {
                            -2.0 * a * b * d2.powf(b - 1.0) / (a * d2.powf(b) + 1.0)
                        } else {
                            0.0
                        };
                        for (m, &o) in me.iter_mut().zip(other) {
                            *m += clip(coeff * (*m - o)) * alpha;
                        }
                    }
                    ns[le] += epochs_per_sample[e];
                    let n_neg = ((t - nn[le]) / epochs_per_negative[e]).floor().max(0.0) as usize;
                    let mut rng = SplitMix::keyed(params.seed, epoch as u64, e as u64);
                    for _ in 0..n_neg {
                        let k = rng.below(n);
                        if k == i {
                            continue;
                        }
                        let other = &prev[k * dim..(k + 1) * dim];
                        let d2 = rdist(me, other);
                        if d2 > 0.0 {
                            let coeff = 2.0 * gamma * b / ((0.001 + d2) * (a * d2.powf(b) + 1.0));
                            for (m, &o) in me.iter_mut().zip(other) {
                                *m += clip(coeff * (*m - o)) * alpha;
                            }
                        }
                    }
                    nn[le] += n_neg as f64 * epochs_per_negative[e];
                }
            }
        });
        std::mem::swap(&mut current, &mut next);
    }
    current
}
