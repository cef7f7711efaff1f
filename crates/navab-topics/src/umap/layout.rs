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

/// `x^y` for `x > 0` as `2^(y·log2 x)` with short polynomials (relative error about 1e-6),
/// several times cheaper than `powf`, which dominated the SGD. Pure arithmetic on the bits,
/// so the same on every run and thread, and no branches, so that lanes vectorise. Results
/// outside f32's normal range are clamped to about 2^±126: here `x` is a squared distance, and
/// a power that small or large leaves the force it enters the same to f32 (or clipped).
#[inline(always)]
fn pow(x: f32, y: f32) -> f32 {
    // log2 as in `log2`, with the range reduction as a select.
    let bits = x.to_bits();
    let big = (bits & 0x007f_ffff) > 0x0035_04f3; // mantissa above sqrt(2)
    let e = ((bits >> 23) & 0xff) as i32 - 127 + i32::from(big);
    let m = f32::from_bits((bits & 0x007f_ffff) | if big { 0x3f00_0000 } else { 0x3f80_0000 });
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let l = e as f32 + s * (2.885_39 + s2 * (0.961_796_7 + s2 * (0.577_078 + s2 * 0.412_198_6)));
    // exp2 with round-to-nearest by the 1.5·2^23 trick (no float-to-int conversion), so the
    // fraction lies in [-0.5, 0.5].
    let v = (y * l).clamp(-126.0, 126.0);
    const MAGIC: f32 = 12_582_912.0;
    let r = v + MAGIC;
    let k = r.to_bits().wrapping_sub(MAGIC.to_bits()) as i32;
    let t = (v - (r - MAGIC)) * std::f32::consts::LN_2;
    // |t| <= ln(2) / 2: Taylor to degree 6 leaves a relative error below 2e-7.
    let p = 1.0
        + t * (1.0
            + t * (0.5
                + t * (1.0 / 6.0 + t * (1.0 / 24.0 + t * (1.0 / 120.0 + t * (1.0 / 720.0))))));
    f32::from_bits(p.to_bits().wrapping_add((k as u32) << 23))
}

/// Squared distance between two short rows.
fn rdist(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Runs `n_epochs` epochs on `embedding` (`n × dim`, row-major) and returns it.
///
/// umap-learn's SGD visits the edges one after another; a sample of edge `(i, j)` moves `i`
/// towards `j` and `j` towards `i` by the same step (`move_other`), and the reverse edge
/// `(j, i)`, sampled at another moment, moves them again from where they then are. Here each
/// epoch runs in [`ROUNDS`] rounds; edge `(i, j)` (entry `p` of row `i`) is applied in round
/// `p mod ROUNDS`, by `i` and by `j` alike, from the positions at the round's start, so the
/// two steps are exactly opposite; its reverse edge comes in its own round, after positions
/// have moved. Within a round each point's new position is computed by one task (its edges
/// in a fixed order), so the result does not depend on the thread count. A head `i` then
/// takes `floor((t - next_negative) / epochs_per_negative_sample)` repulsions from points
/// drawn with the generator keyed by `(seed, t, e)`, one after another from its position after
/// the attraction. Edges fire by umap-learn's schedule (every `max_w / w` epochs).
///
/// Both parts matter for weakly clustered data: taking a point's attraction from its own
/// moving position (not equal and opposite), or applying an edge and its reverse in one
/// doubled step from the same positions (overshooting close pairs), made the groups contract
/// less, and HDBSCAN then merged topics that umap-learn keeps apart (see docs/benchmarks.md,
/// "UMAP on weakly clustered data").
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
    let rounds = ROUNDS;
    let plan = Plan::new(g, rounds);
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
    let mut next = vec![0.0f32; n * dim];

    for epoch in 0..n_epochs {
        let alpha = learning_rate(params.learning_rate, epoch, n_epochs);
        for round in 0..rounds {
            let ctx = RoundContext {
                g,
                plan: &plan,
                prev: &current,
                next_sample: &next_sample,
                next_negative: &next_negative,
                epochs_per_negative: &epochs_per_negative,
                a,
                b,
                gamma: params.repulsion_strength,
                alpha,
                seed: params.seed,
                epoch,
                round,
            };
            // Specialised for the common output sizes so the per-coordinate loops unroll.
            next.par_chunks_mut(CHUNK * dim)
                .enumerate()
                .for_each(|(c, pos)| {
                    let c0 = c * CHUNK;
                    match dim {
                        2 => chunk_round::<2>(&ctx, dim, c0, pos),
                        3 => chunk_round::<3>(&ctx, dim, c0, pos),
                        5 => chunk_round::<5>(&ctx, dim, c0, pos),
                        10 => chunk_round::<10>(&ctx, dim, c0, pos),
                        _ => chunk_round::<0>(&ctx, dim, c0, pos),
                    }
                });
            std::mem::swap(&mut current, &mut next);
        }
        // The schedule moves on once per epoch, as umap-learn's does.
        let t = epoch as f64;
        next_sample
            .par_iter_mut()
            .zip(next_negative.par_iter_mut())
            .zip(epochs_per_sample.par_iter().zip(&epochs_per_negative))
            .for_each(|((ns, nn), (&eps, &epn))| {
                if *ns <= t {
                    *ns += eps;
                    *nn += negatives(t, *nn, epn) as f64 * epn;
                }
            });
    }
    current
}

/// Rounds per epoch (see [`Plan`]). An edge and its reverse share a round one time in four;
/// 4 rounds cluster like umap-learn on all 10 rows of docs/benchmarks.md's comparison (1 round
/// merged topics). 16 rounds, measured before negative samples ran one after another,
/// moved one row by less than the seed noise, for 10–35% more SGD time.
const ROUNDS: usize = 4;

/// The step size in epoch `epoch` of `n_epochs`, as umap-learn schedules it: it lowers the rate
/// after each epoch `t` to `initial · (1 - t / n_epochs)`, so epochs 0 and 1 both run at the
/// initial rate and the last at `2 / n_epochs` of it. (Epoch 0 samples no edge: every edge's
/// first sample is due at epoch `max_w / w >= 1`.)
fn learning_rate(initial: f32, epoch: usize, n_epochs: usize) -> f32 {
    initial * (1.0 - epoch.saturating_sub(1) as f32 / n_epochs as f32)
}

/// Negative samples owed to an edge that fires in epoch `t`.
fn negatives(t: f64, next_negative: f64, epochs_per_negative: f64) -> usize {
    (((t - next_negative) / epochs_per_negative) as i64).max(0) as usize
}

/// When each point applies each update: for point `i` and round `r`, the items
/// `items[offsets[i * R + r]..offsets[i * R + r + 1]]`, each an edge `e` of row `i` shifted
/// left by one, the low bit set when `i` is the edge's head (attraction and negative samples),
/// clear when `i` takes the other end of the reverse edge `(j, i)` (umap-learn's move_other).
/// Edge `(i, j)` runs in round `position in row mod R` at both its ends.
struct Plan {
    rounds: usize,
    offsets: Vec<usize>,
    items: Vec<u64>,
}

impl Plan {
    fn new(g: &FuzzyGraph, rounds: usize) -> Plan {
        let n = g.n_points();
        let slot = |e: usize, row: usize| (e - g.indptr[row]) % rounds;
        let per_point: Vec<Vec<(usize, u64)>> = (0..n)
            .into_par_iter()
            .map(|i| {
                let mut items = Vec::new();
                for e in g.indptr[i]..g.indptr[i + 1] {
                    items.push((slot(e, i), (e as u64) << 1 | 1));
                    let j = g.cols[e] as usize;
                    let (cols, _) = g.row(j);
                    if let Ok(p) = cols.binary_search(&(i as u32)) {
                        items.push((slot(g.indptr[j] + p, j), (e as u64) << 1));
                    }
                }
                items.sort_unstable();
                items
            })
            .collect();
        let mut offsets = Vec::with_capacity(n * rounds + 1);
        let mut items = Vec::new();
        offsets.push(0);
        for list in per_point {
            let mut k = 0;
            for r in 0..rounds {
                while k < list.len() && list[k].0 == r {
                    items.push(list[k].1);
                    k += 1;
                }
                offsets.push(items.len());
            }
        }
        Plan {
            rounds,
            offsets,
            items,
        }
    }
}

/// What every task of one round reads.
struct RoundContext<'a> {
    g: &'a FuzzyGraph,
    plan: &'a Plan,
    prev: &'a [f32],
    next_sample: &'a [f64],
    next_negative: &'a [f64],
    epochs_per_negative: &'a [f64],
    a: f32,
    b: f32,
    gamma: f32,
    alpha: f32,
    seed: u64,
    epoch: usize,
    round: usize,
}

/// One round for the points from `c0` on whose new positions `pos` holds.
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx2+fma+avx",
    "x86_64+avx2+fma+avx",
))]
fn chunk_round<const D: usize>(ctx: &RoundContext<'_>, dyn_dim: usize, c0: usize, pos: &mut [f32]) {
    let dim = if D == 0 { dyn_dim } else { D };
    let (g, prev, a, b, alpha, gamma) = (ctx.g, ctx.prev, ctx.a, ctx.b, ctx.alpha, ctx.gamma);
    let n = g.n_points();
    let t = ctx.epoch as f64;
    for (li, me) in pos.chunks_exact_mut(dim).enumerate() {
        let i = c0 + li;
        let here = &prev[i * dim..(i + 1) * dim];
        me.copy_from_slice(here);
        let k = i * ctx.plan.rounds + ctx.round;
        for &item in &ctx.plan.items[ctx.plan.offsets[k]..ctx.plan.offsets[k + 1]] {
            let e = (item >> 1) as usize;
            if ctx.next_sample[e] > t {
                continue;
            }
            let j = g.cols[e] as usize;
            let other = &prev[j * dim..(j + 1) * dim];
            // Both ends compute the pair's force from the round's start, so it is equal and
            // opposite, as umap-learn's move_other makes it.
            let d2 = rdist(here, other);
            let coeff = if d2 > 0.0 {
                let pb1 = pow(d2, b - 1.0);
                -2.0 * a * b * pb1 / (a * pb1 * d2 + 1.0)
            } else {
                0.0
            };
            for ((m, &h), &o) in me.iter_mut().zip(here).zip(other) {
                *m += clip(coeff * (h - o)) * alpha;
            }
            if item & 1 == 0 {
                continue;
            }
            let n_neg = negatives(t, ctx.next_negative[e], ctx.epochs_per_negative[e]);
            let mut rng = SplitMix::keyed(ctx.seed, ctx.epoch as u64, e as u64);
            // One after another, each from where the previous one left the point, as
            // umap-learn does: summing them from one position pushed weakly clustered groups
            // apart less at their edges (more HDBSCAN noise; docs/benchmarks.md).
            for _ in 0..n_neg {
                let k = rng.below(n);
                if k == i {
                    continue;
                }
                let other = &prev[k * dim..(k + 1) * dim];
                let d2 = rdist(me, other);
                if d2 > 0.0 {
                    let coeff = 2.0 * gamma * b / ((0.001 + d2) * (a * pow(d2, b) + 1.0));
                    for (m, &o) in me.iter_mut().zip(other) {
                        *m += clip(coeff * (*m - o)) * alpha;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn learning_rate_follows_umap_learns_update_after_each_epoch() {
        // umap-learn: alpha = initial; for t in 0..n: epoch(t, alpha); alpha = initial * (1 - t / n).
        for n in [1usize, 2, 7, 200, 500] {
            let mut alpha = 0.8f32;
            for t in 0..n {
                assert_eq!(super::learning_rate(0.8, t, n), alpha, "epoch {t} of {n}");
                alpha = 0.8 * (1.0 - t as f32 / n as f32);
            }
        }
    }

    #[test]
    fn fast_pow_matches_powf() {
        for &x in &[1e-30f32, 1e-6, 0.01, 0.5, 1.0, 1.7, 3.0, 100.0, 1e6, 1e20] {
            for &y in &[0.79f32, -0.21, 0.9, 1.5, -1.0] {
                let exact = x.powf(y);
                if !(1e-37..1e37).contains(&exact) {
                    continue; // clamped by design
                }
                let fast = super::pow(x, y);
                assert!(
                    ((fast - exact) / exact).abs() < 1e-5,
                    "{x}^{y}: {fast} vs {exact}"
                );
            }
        }
    }
}
