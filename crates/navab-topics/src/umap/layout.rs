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

/// Negative samples computed together (see [`repel_lanes`]). Eight fit one AVX register and
/// cover the usual five samples per edge in one pass.
const LANES: usize = 8;

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

/// Repulsions of `snap` (the point's position after its attraction) from the points `ks`,
/// added to `me`. A lane whose point is `i` (`snap`'s own), or at distance 0, adds nothing; the lane
/// sums are added in lane order, so the result does not depend on the CPU.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn repel_lanes<const D: usize>(
    me: &mut [f32],
    snap: &[f32],
    prev: &[f32],
    i: usize,
    ks: &[usize; LANES],
    a: f32,
    b: f32,
    gamma: f32,
    alpha: f32,
) {
    let mut diff = [[0.0f32; LANES]; D];
    let mut d2 = [0.0f32; LANES];
    let mut live = [0.0f32; LANES];
    for (l, &k) in ks.iter().enumerate() {
        let other = &prev[k * D..(k + 1) * D];
        for d in 0..D {
            let t = snap[d] - other[d];
            diff[d][l] = t;
            d2[l] += t * t;
        }
        live[l] = if k == i { 0.0 } else { 2.0 * gamma * b };
    }
    let mut coeff = [0.0f32; LANES];
    for l in 0..LANES {
        let x = d2[l];
        let c = live[l] / ((0.001 + x) * (a * pow(x, b) + 1.0));
        // Zero distance (a duplicate point) gives no direction to push in.
        coeff[l] = if x > 0.0 { c } else { 0.0 };
    }
    for d in 0..D {
        let mut sum = 0.0f32;
        for l in 0..LANES {
            sum += clip(coeff[l] * diff[d][l]);
        }
        me[d] += sum * alpha;
    }
}

/// Squared distance between two short rows.
fn rdist(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Runs `n_epochs` epochs on `embedding` (`n × dim`, row-major) and returns it.
///
/// Each epoch reads the previous positions and writes new ones; a point's new position is
/// computed by one task from its own edges in column order. Edge `e` (entry of row `i`) fires
/// when its next-sample epoch is reached, as in umap-learn: `i` takes twice the clipped
/// attraction (once for `(i, j)`, once for `(j, i)`'s `move_other`), computed from the
/// previous positions of both ends, then `floor((t - next_negative) /
/// epochs_per_negative_sample)` repulsions from points drawn with the generator keyed by
/// `(seed, t, e)`, each computed from `i`'s position after the attraction, `LANES` at a time.
///
/// The attraction must come from the previous positions, not from `i`'s position as it moves
/// through its edges: only then is the force on `j` exactly opposite to the force on `i`, as
/// umap-learn's `move_other` makes it, so that attraction moves no group's centre. Taken from
/// the moving position, each step chases one stale neighbour after another; the groups then
/// contract less and drift, and HDBSCAN merged weakly separated topics that umap-learn keeps
/// apart (see docs/benchmarks.md, "UMAP on weakly clustered data").
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
        let ctx = EpochContext {
            g,
            prev,
            epochs_per_sample: &epochs_per_sample,
            epochs_per_negative: &epochs_per_negative,
            a,
            b,
            gamma,
            alpha,
            seed: params.seed,
            epoch,
        };
        // Specialised for the common output sizes so the per-coordinate loops unroll.
        tasks
            .into_par_iter()
            .for_each(|(c0, c1, ns, nn, pos)| match dim {
                2 => chunk_epoch::<2>(&ctx, dim, c0, c1, ns, nn, pos),
                3 => chunk_epoch::<3>(&ctx, dim, c0, c1, ns, nn, pos),
                5 => chunk_epoch::<5>(&ctx, dim, c0, c1, ns, nn, pos),
                10 => chunk_epoch::<10>(&ctx, dim, c0, c1, ns, nn, pos),
                _ => chunk_epoch::<0>(&ctx, dim, c0, c1, ns, nn, pos),
            });
        std::mem::swap(&mut current, &mut next);
    }
    current
}

/// What every task of one epoch reads.
struct EpochContext<'a> {
    g: &'a FuzzyGraph,
    prev: &'a [f32],
    epochs_per_sample: &'a [f64],
    epochs_per_negative: &'a [f64],
    a: f32,
    b: f32,
    gamma: f32,
    alpha: f32,
    seed: u64,
    epoch: usize,
}

/// One epoch for points `c0..c1`: `ns`, `nn` are their edges' next-sample and
/// next-negative-sample epochs, `pos` their new positions. `D` is the output dimension when
/// it is known at compile time, 0 otherwise (then `dyn_dim` is used).
///
/// Compiled also for AVX2 and AVX-512 and picked at run time: the lanes of [`repel_lanes`] then
/// fill one register. Same bits on every CPU: the code has no fused multiply-adds and no
/// reassociated sums for the compiler to change.
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx2+fma+avx",
    "x86_64+avx2+fma+avx",
))]
#[allow(clippy::too_many_arguments)]
fn chunk_epoch<const D: usize>(
    ctx: &EpochContext<'_>,
    dyn_dim: usize,
    c0: usize,
    c1: usize,
    ns: &mut [f64],
    nn: &mut [f64],
    pos: &mut [f32],
) {
    let dim = if D == 0 { dyn_dim } else { D };
    let (g, prev, a, b, alpha, gamma) = (ctx.g, ctx.prev, ctx.a, ctx.b, ctx.alpha, ctx.gamma);
    let n = g.n_points();
    let t = ctx.epoch as f64;
    let base = g.indptr[c0];
    let mut snap = vec![0.0f32; dim];
    for i in c0..c1 {
        let me = &mut pos[(i - c0) * dim..(i - c0 + 1) * dim];
        let here = &prev[i * dim..(i + 1) * dim];
        me.copy_from_slice(here);
        for e in g.indptr[i]..g.indptr[i + 1] {
            let le = e - base;
            if ns[le] > t {
                continue;
            }
            let j = g.cols[e] as usize;
            let other = &prev[j * dim..(j + 1) * dim];
            // The attraction of (i, j) and, for (j, i)'s move_other, once more; from the
            // epoch's start positions of both ends, so that `j` takes the opposite force.
            let d2 = rdist(here, other);
            let coeff = if d2 > 0.0 {
                // d2^(b-1) and d2^b = d2 · d2^(b-1) from one power.
                let pb1 = pow(d2, b - 1.0);
                -2.0 * a * b * pb1 / (a * pb1 * d2 + 1.0)
            } else {
                0.0
            };
            for ((m, &h), &o) in me.iter_mut().zip(here).zip(other) {
                *m += 2.0 * clip(coeff * (h - o)) * alpha;
            }
            ns[le] += ctx.epochs_per_sample[e];
            let n_neg = (((t - nn[le]) / ctx.epochs_per_negative[e]) as i64).max(0) as usize;
            let mut rng = SplitMix::keyed(ctx.seed, ctx.epoch as u64, e as u64);
            // Repulsions are all taken from the position after the attraction, so they are
            // independent of each other: with the output dimension known, they are computed
            // `LANES` at a time in straight-line code that the compiler turns into SIMD.
            snap.copy_from_slice(me);
            if D == 0 {
                for _ in 0..n_neg {
                    let k = rng.below(n);
                    if k == i {
                        continue;
                    }
                    let other = &prev[k * dim..(k + 1) * dim];
                    let d2 = rdist(&snap, other);
                    if d2 > 0.0 {
                        let coeff = 2.0 * gamma * b / ((0.001 + d2) * (a * pow(d2, b) + 1.0));
                        for ((m, &sv), &o) in me.iter_mut().zip(&snap).zip(other) {
                            *m += clip(coeff * (sv - o)) * alpha;
                        }
                    }
                }
            } else {
                let mut left = n_neg;
                while left > 0 {
                    let take = left.min(LANES);
                    left -= take;
                    // Unused lanes point at `i` itself: distance 0, so no force.
                    let mut ks = [i; LANES];
                    for k in &mut ks[..take] {
                        *k = rng.below(n);
                    }
                    repel_lanes::<D>(me, &snap, prev, i, &ks, a, b, gamma, alpha);
                }
            }
            nn[le] += n_neg as f64 * ctx.epochs_per_negative[e];
        }
    }
}

#[cfg(test)]
mod tests {
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
