//! k-nearest-neighbour graphs: exact by blocked matrix products, or approximate by NN-descent.
//!
//! ```
//! use navab_topics::knn::{KnnGraph, KnnParams, Metric};
//! use ndarray::array;
//!
//! let points = array![[1.0f32, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]];
//! let graph = KnnGraph::build(points.view(), &KnnParams::new(2).metric(Metric::Euclidean))?;
//! // Each point is its own first neighbour, at distance 0, as in umap-learn.
//! assert_eq!(graph.neighbors(0).0, &[0, 1]);
//! assert_eq!(graph.neighbors(2).0, &[2, 3]);
//! # Ok::<(), navab_topics::Error>(())
//! ```
//!
//! `k` counts the point itself, like umap-learn's `n_neighbors`: row `i` of the graph is
//! `i` at distance 0 followed by the `k - 1` nearest other points, ascending by distance, ties
//! by index. Both methods give the same bytes whatever the number of threads.

use std::cmp::Ordering;

use ndarray::{linalg::general_mat_mul, Array2, ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

use crate::{Error, Result};

/// The dissimilarity between two rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Metric {
    /// `1 - cos(x, y)`, in `[0, 2]`; zero vectors are rejected.
    #[default]
    Cosine,
    /// `‖x - y‖₂`.
    Euclidean,
}

/// How the neighbours are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum KnnMethod {
    /// [`KnnMethod::Exact`] up to [`AUTO_EXACT_MAX_POINTS`] points, [`KnnMethod::NnDescent`]
    /// above.
    #[default]
    Auto,
    /// All pairs, by tiled matrix products: `O(n² · dim)` work, `O(block · n)` memory per thread.
    Exact,
    /// NN-descent (Dong, Charikar and Li 2011) from a seeded random graph: roughly
    /// `O(n · k² · dim)` work per iteration; recall is measurable with [`KnnGraph::recall`].
    NnDescent,
}

/// Largest corpus for which [`KnnMethod::Auto`] computes the exact graph.
///
/// umap-learn's threshold too. Measured on 384-d sentence embeddings, two cores: at 2,225 points
/// exact 0.11 s vs NN-descent 0.20 s; at 10,547 points exact 2.6 s vs NN-descent 1.1 s
/// (recall 0.98).
pub const AUTO_EXACT_MAX_POINTS: usize = 4096;

/// Parameters of [`KnnGraph::build`].
#[derive(Debug, Clone, PartialEq)]
pub struct KnnParams {
    /// Neighbours per point, the point itself included (umap-learn's `n_neighbors`); `2..=n`.
    pub k: usize,
    /// Dissimilarity.
    pub metric: Metric,
    /// Exact, NN-descent, or chosen by size.
    pub method: KnnMethod,
    /// Seed of NN-descent's random initial graph and candidate sampling.
    pub seed: u64,
    /// Worker threads; `None` uses rayon's global pool (all cores). Results do not depend on it.
    pub threads: Option<usize>,
    /// NN-descent: most iterations; `None` is `max(5, round(log2 n))` as in pynndescent.
    pub max_iterations: Option<usize>,
    /// NN-descent: stop when an iteration changes fewer than `delta · n · k` entries.
    pub delta: f32,
    /// NN-descent: candidates sampled per point and iteration (new and old, each); `None` is
    /// `max(k, 30)` capped at 60.
    pub max_candidates: Option<usize>,
}

impl KnnParams {
    /// `k` neighbours (self included), cosine, method chosen by size, seed 42.
    pub fn new(k: usize) -> Self {
        Self {
            k,
            metric: Metric::Cosine,
            method: KnnMethod::Auto,
            seed: 42,
            threads: None,
            max_iterations: None,
            delta: 0.001,
            max_candidates: None,
        }
    }

    /// Sets [`KnnParams::metric`].
    pub fn metric(mut self, metric: Metric) -> Self {
        self.metric = metric;
        self
    }

    /// Sets [`KnnParams::method`].
    pub fn method(mut self, method: KnnMethod) -> Self {
        self.method = method;
        self
    }

    /// Sets [`KnnParams::seed`].
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets [`KnnParams::threads`].
    pub fn threads(mut self, threads: Option<usize>) -> Self {
        self.threads = threads;
        self
    }

    /// Checks the fields that do not depend on the data (`k >= 2`, `threads >= 1`,
    /// `delta` finite and `>= 0`, `max_candidates >= 1`, `max_iterations >= 1`).
    pub fn check(&self) -> Result<()> {
        if self.k < 2 {
            return Err(Error::param(
                "k",
                self.k,
                "must be at least 2 (the point itself and one neighbour)",
            ));
        }
        check_threads(self.threads)?;
        if !(self.delta.is_finite() && self.delta >= 0.0) {
            return Err(Error::param("delta", self.delta, "must be finite and >= 0"));
        }
        if self.max_candidates == Some(0) {
            return Err(Error::param(
                "max_candidates",
                self.max_candidates,
                "must be at least 1",
            ));
        }
        if self.max_iterations == Some(0) {
            return Err(Error::param(
                "max_iterations",
                self.max_iterations,
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

pub(crate) fn check_threads(threads: Option<usize>) -> Result<()> {
    if threads == Some(0) {
        return Err(Error::param(
            "threads",
            threads,
            "must be at least 1 (or None for all cores)",
        ));
    }
    Ok(())
}

/// Runs `f` on a local pool of `threads` workers, or on rayon's global pool for `None`.
pub(crate) fn in_pool<R: Send>(threads: Option<usize>, f: impl FnOnce() -> R + Send) -> Result<R> {
    match threads {
        None => Ok(f()),
        Some(t) => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .map_err(|_| Error::param("threads", t, "the thread pool could not be started"))?;
            Ok(pool.install(f))
        }
    }
}

/// A k-nearest-neighbour graph: for each point, `k` neighbour indices and distances, ascending.
///
/// Column 0 is the point itself at distance 0 (umap-learn's layout); columns `1..k` are the
/// `k - 1` nearest other points, ties broken by the smaller index.
#[derive(Debug, Clone, PartialEq)]
pub struct KnnGraph {
    indices: Array2<u32>,
    distances: Array2<f32>,
    metric: Metric,
    method: KnnMethod,
}

impl KnnGraph {
    /// Builds the graph of the rows of `data`.
    ///
    /// # Arguments
    /// `data`: one point per row. `params`: see [`KnnParams`].
    ///
    /// # Returns
    /// The graph, or [`Error::Input`] for empty data, a NaN or infinite value (naming the row),
    /// a zero row under [`Metric::Cosine`], or `k > n`; [`Error::InvalidParam`] for bad params.
    ///
    /// # Complexity
    /// Exact: `O(n² · dim)` multiply-adds in `n / block` tiles of `O(block · n)` memory per
    /// thread. NN-descent: `O(iterations · n · c² · dim)` with `c` candidates, `O(n · (k + c))`
    /// memory.
    pub fn build(data: ArrayView2<f32>, params: &KnnParams) -> Result<Self> {
        params.check()?;
        let n = data.nrows();
        validate_points(data, params.metric)?;
        if params.k > n {
            return Err(Error::Input(format!(
                "k = {} neighbours (self included) asked of {n} points; k must be at most the number of points",
                params.k
            )));
        }
        let method = match params.method {
            KnnMethod::Auto if n <= AUTO_EXACT_MAX_POINTS => KnnMethod::Exact,
            KnnMethod::Auto => KnnMethod::NnDescent,
            m => m,
        };
        in_pool(params.threads, || {
            let prepared = Prepared::new(data, params.metric);
            let (indices, distances) = match method {
                KnnMethod::NnDescent => nn_descent(&prepared, params),
                _ => exact(&prepared, params.k),
            };
            KnnGraph {
                indices,
                distances,
                metric: params.metric,
                method,
            }
        })
    }

    /// A graph from precomputed lists (for example from another index), checked: same shape,
    /// indices below `n`, finite non-negative distances ascending per row, column 0 the point
    /// itself.
    pub fn from_parts(
        indices: Array2<u32>,
        distances: Array2<f32>,
        metric: Metric,
    ) -> Result<Self> {
        if indices.dim() != distances.dim() {
            return Err(Error::Input(format!(
                "indices are {:?} but distances are {:?}",
                indices.dim(),
                distances.dim()
            )));
        }
        let n = indices.nrows();
        if n == 0 || indices.ncols() < 2 {
            return Err(Error::Input(
                "a kNN graph needs at least one row and two columns".into(),
            ));
        }
        for i in 0..n {
            if indices[(i, 0)] as usize != i {
                return Err(Error::Input(format!(
                    "row {i}: column 0 must be the point itself"
                )));
            }
            let mut last = 0.0f32;
            for c in 0..indices.ncols() {
                let (j, d) = (indices[(i, c)] as usize, distances[(i, c)]);
                if j >= n {
                    return Err(Error::Input(format!(
                        "row {i}: neighbour index {j} is not below {n}"
                    )));
                }
                if !(d.is_finite() && d >= last) {
                    return Err(Error::Input(format!(
                        "row {i}: distance {d} at column {c} is not finite, negative or out of order"
                    )));
                }
                last = d;
            }
        }
        Ok(Self {
            indices,
            distances,
            metric,
            method: KnnMethod::Exact,
        })
    }

    /// Number of points.
    pub fn n_points(&self) -> usize {
        self.indices.nrows()
    }

    /// Neighbours per point, self included.
    pub fn k(&self) -> usize {
        self.indices.ncols()
    }

    /// `n × k` neighbour indices.
    pub fn indices(&self) -> ArrayView2<'_, u32> {
        self.indices.view()
    }

    /// `n × k` distances, ascending per row.
    pub fn distances(&self) -> ArrayView2<'_, f32> {
        self.distances.view()
    }

    /// Point `i`'s neighbour indices and distances.
    ///
    /// # Panics
    /// If `i >= n_points()`.
    pub fn neighbors(&self, i: usize) -> (&[u32], &[f32]) {
        let k = self.k();
        let idx = self.indices.as_slice().expect("standard layout");
        let dist = self.distances.as_slice().expect("standard layout");
        (&idx[i * k..(i + 1) * k], &dist[i * k..(i + 1) * k])
    }

    /// The metric the distances are in.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// The method that built it ([`KnnMethod::Exact`] or [`KnnMethod::NnDescent`]; precomputed
    /// graphs report `Exact`).
    pub fn method(&self) -> KnnMethod {
        self.method
    }

    /// Fraction of `reference`'s neighbours (self excluded) that this graph also lists, over all
    /// points. Both graphs must have the same number of points; `k` may differ (the reference's
    /// columns are the ones counted).
    pub fn recall(&self, reference: &KnnGraph) -> Result<f64> {
        if self.n_points() != reference.n_points() {
            return Err(Error::Input(format!(
                "recall of a graph of {} points against one of {}",
                self.n_points(),
                reference.n_points()
            )));
        }
        let (mut found, mut total) = (0usize, 0usize);
        for i in 0..self.n_points() {
            let mine = &self.neighbors(i).0[1..];
            for j in &reference.neighbors(i).0[1..] {
                total += 1;
                found += usize::from(mine.contains(j));
            }
        }
        Ok(if total == 0 {
            1.0
        } else {
            found as f64 / total as f64
        })
    }
}

/// Rejects empty data, non-finite values and (for cosine) zero rows, naming the first bad row.
pub(crate) fn validate_points(data: ArrayView2<f32>, metric: Metric) -> Result<()> {
    if data.nrows() == 0 || data.ncols() == 0 {
        return Err(Error::Input(format!(
            "no data: {} rows of {} values",
            data.nrows(),
            data.ncols()
        )));
    }
    for (i, row) in data.outer_iter().enumerate() {
        if let Some(c) = row.iter().position(|v| !v.is_finite()) {
            return Err(Error::Input(format!(
                "row {i}: value {} at column {c} is not finite",
                row[c]
            )));
        }
        if metric == Metric::Cosine && row.iter().all(|&v| v == 0.0) {
            return Err(Error::Input(format!(
                "row {i} is all zeros: its cosine distance is undefined"
            )));
        }
    }
    Ok(())
}

/// Rows in standard layout, unit length for cosine, with squared norms for Euclidean.
pub(crate) struct Prepared {
    pub(crate) rows: Array2<f32>,
    pub(crate) sq_norms: Vec<f32>,
    pub(crate) metric: Metric,
}

impl Prepared {
    pub(crate) fn new(data: ArrayView2<f32>, metric: Metric) -> Self {
        let mut rows = data.to_owned();
        if metric == Metric::Cosine {
            for mut row in rows.outer_iter_mut() {
                // f64 norm so that the unit rows do not depend on summation rounding.
                let norm = row
                    .iter()
                    .map(|&v| f64::from(v) * f64::from(v))
                    .sum::<f64>()
                    .sqrt();
                row.mapv_inplace(|v| (f64::from(v) / norm) as f32);
            }
        }
        let sq_norms = rows
            .outer_iter()
            .map(|r| dot(r.as_slice().expect("owned"), r.as_slice().expect("owned")))
            .collect();
        Self {
            rows,
            sq_norms,
            metric,
        }
    }

    fn row(&self, i: usize) -> &[f32] {
        let d = self.rows.ncols();
        &self.rows.as_slice().expect("standard layout")[i * d..(i + 1) * d]
    }

    /// Internal dissimilarity: cosine distance, or squared Euclidean distance.
    fn dissimilarity(&self, i: usize, j: usize) -> f32 {
        let (a, b) = (self.row(i), self.row(j));
        match self.metric {
            Metric::Cosine => (1.0 - dot(a, b)).max(0.0),
            Metric::Euclidean => squared_distance(a, b),
        }
    }

    /// Internal dissimilarity of rows `i` and `j` from their inner product `s`.
    #[inline]
    fn distance_of_dot(&self, i: usize, j: usize, s: f32) -> f32 {
        match self.metric {
            Metric::Cosine => (1.0 - s).max(0.0),
            Metric::Euclidean => (self.sq_norms[i] + self.sq_norms[j] - 2.0 * s).max(0.0),
        }
    }

    /// Internal dissimilarity to the reported distance.
    fn finish(&self, d: f32) -> f32 {
        match self.metric {
            Metric::Cosine => d,
            Metric::Euclidean => d.sqrt(),
        }
    }
}

/// Dot product in 8 fixed lanes: vectorisable, and the same bits on every run.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut tail = 0.0;
    for (x, y) in ta.iter().zip(tb) {
        tail += x * y;
    }
    acc.iter().sum::<f32>() + tail
}

/// Squared Euclidean distance in 8 fixed lanes.
pub(crate) fn squared_distance(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            let t = x[l] - y[l];
            acc[l] += t * t;
        }
    }
    let mut tail = 0.0;
    for (x, y) in ta.iter().zip(tb) {
        tail += (x - y) * (x - y);
    }
    acc.iter().sum::<f32>() + tail
}

/// Order on (distance, index): total, so every selection and sort is reproducible.
fn by_distance_then_index(a: &(f32, u32), b: &(f32, u32)) -> Ordering {
    a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
}

/// Rows per tile of the exact pass: keeps a tile near 8 M floats (32 MiB) per thread.
fn exact_block_rows(n: usize) -> usize {
    (8_000_000 / n.max(1)).clamp(16, 512)
}

/// Inner products of rows `i0..i0 + rows` with every row, into `tile` (`rows × n`).
fn gram_tile(data: ArrayView2<f32>, i0: usize, rows: usize, tile: &mut [f32]) {
    let n = data.nrows();
    let a = data.slice(ndarray::s![i0..i0 + rows, ..]);
    let mut c =
        ArrayViewMut2::from_shape((rows, n), &mut tile[..rows * n]).expect("rows * n values");
    general_mat_mul(1.0, &a, &data.t(), 0.0, &mut c);
}

/// Distances from rows `i0..i0 + rows` to every row, into `tile` (`rows × n`), in the
/// internal dissimilarity (cosine distance or squared Euclidean distance).
pub(crate) fn distance_tile(p: &Prepared, i0: usize, rows: usize, tile: &mut [f32]) {
    let n = p.rows.nrows();
    gram_tile(p.rows.view(), i0, rows, tile);
    for r in 0..rows {
        let line = &mut tile[r * n..(r + 1) * n];
        for (j, s) in line.iter_mut().enumerate() {
            *s = p.distance_of_dot(i0 + r, j, *s);
        }
    }
}

/// Exact nearest neighbours of every row, by a dissimilarity computed from inner products.
///
/// The rows are multiplied tile by tile (`X_I · Xᵀ` by matrixmultiply's cache-blocked `sgemm`,
/// no `unsafe`), tiles spread over rayon's pool; each row's neighbours are selected from its
/// own line of the tile, so the result is the same whatever the number of threads.
///
/// # Arguments
/// `rows`: one point per row. `m`: neighbours kept per row, the row itself never among them.
/// `dissimilarity(i, j, dot)`: how far row `j` is from row `i` given their inner product,
/// smaller is nearer, or `None` to leave `j` out of `i`'s list (e.g. below a similarity
/// threshold).
///
/// # Returns
/// Per row, up to `m` `(dissimilarity, j)`, ascending, ties broken by the smaller `j`.
///
/// # Complexity
/// `O(n² · dim)` multiply-adds (exact kNN is quadratic); memory `O(n · m)` plus one tile of
/// about 8 M floats (`block × n`, 16 to 512 rows) per thread: no `n × n` matrix.
///
/// # Example
/// ```
/// use navab_topics::knn::nearest_by_dot;
/// use ndarray::array;
///
/// // Unit rows: cosine similarity is the inner product. Keep neighbours with cosine >= 0.5.
/// let rows = array![[1.0f32, 0.0], [0.8, 0.6], [0.0, 1.0]];
/// let lists = nearest_by_dot(rows.view(), 2, |_, _, s| (s >= 0.5).then_some(-s));
/// assert_eq!(lists[0], [(-0.8, 1)]);
/// assert_eq!(lists[1].len(), 2);
/// ```
pub fn nearest_by_dot<F>(rows: ArrayView2<f32>, m: usize, dissimilarity: F) -> Vec<Vec<(f32, u32)>>
where
    F: Fn(usize, usize, f32) -> Option<f32> + Sync,
{
    nearest_in_tiles(rows, m, exact_block_rows(rows.nrows()), &dissimilarity)
}

fn nearest_in_tiles<F>(
    rows: ArrayView2<f32>,
    m: usize,
    block: usize,
    dissimilarity: &F,
) -> Vec<Vec<(f32, u32)>>
where
    F: Fn(usize, usize, f32) -> Option<f32> + Sync,
{
    let n = rows.nrows();
    let mut lists: Vec<Vec<(f32, u32)>> = vec![Vec::new(); n];
    if m == 0 {
        return lists;
    }
    lists.par_chunks_mut(block).enumerate().for_each_init(
        || (vec![0.0f32; block * n], Vec::with_capacity(n)),
        |(tile, cand), (b, out)| {
            let i0 = b * block;
            gram_tile(rows, i0, out.len(), tile);
            for (r, list) in out.iter_mut().enumerate() {
                let i = i0 + r;
                cand.clear();
                cand.extend(
                    tile[r * n..(r + 1) * n]
                        .iter()
                        .enumerate()
                        .filter(|&(j, _)| j != i)
                        .filter_map(|(j, &s)| dissimilarity(i, j, s).map(|d| (d, j as u32))),
                );
                if m < cand.len() {
                    cand.select_nth_unstable_by(m - 1, by_distance_then_index);
                    cand.truncate(m);
                }
                cand.sort_unstable_by(by_distance_then_index);
                list.extend_from_slice(cand);
            }
        },
    );
    lists
}

/// Exact kNN: tiles of rows against all rows, each tile's rows selected independently, so the
/// result does not depend on how tiles are spread over threads.
fn exact(p: &Prepared, k: usize) -> (Array2<u32>, Array2<f32>) {
    exact_in_tiles(p, k, exact_block_rows(p.rows.nrows()))
}

fn exact_in_tiles(p: &Prepared, k: usize, block: usize) -> (Array2<u32>, Array2<f32>) {
    let n = p.rows.nrows();
    let lists = nearest_in_tiles(p.rows.view(), k - 1, block, &|i, j, s| {
        Some(p.distance_of_dot(i, j, s))
    });
    let mut indices = Array2::<u32>::zeros((n, k));
    let mut distances = Array2::<f32>::zeros((n, k));
    for (i, list) in lists.iter().enumerate() {
        indices[(i, 0)] = i as u32;
        distances[(i, 0)] = 0.0;
        for (c, &(d, j)) in list.iter().enumerate() {
            indices[(i, c + 1)] = j;
            distances[(i, c + 1)] = p.finish(d);
        }
    }
    (indices, distances)
}

/// SplitMix64: a tiny counter-based generator; streams are keyed by hashing their coordinates.
#[derive(Clone)]
pub(crate) struct SplitMix(u64);

impl SplitMix {
    /// A stream keyed by `(seed, a, b)`: the same key always gives the same numbers.
    pub(crate) fn keyed(seed: u64, a: u64, b: u64) -> Self {
        let mut s = SplitMix(seed ^ 0x9E37_79B9_7F4A_7C15);
        let h1 = s.next_u64() ^ a.wrapping_mul(0xD1B5_4A32_D192_ED03);
        let mut s = SplitMix(h1);
        let h2 = s.next_u64() ^ b.wrapping_mul(0x8CB9_2BA7_2F3D_8DD7);
        SplitMix(h2)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; bias below 2⁻³² for our sizes).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// Per-point bounded max-heaps of (dissimilarity, index, is-new), `m` slots each.
struct Heaps {
    m: usize,
    dist: Vec<f32>,
    idx: Vec<u32>,
    new: Vec<bool>,
}

const EMPTY: u32 = u32::MAX;

impl Heaps {
    fn new(n: usize, m: usize) -> Self {
        Self {
            m,
            dist: vec![f32::INFINITY; n * m],
            idx: vec![EMPTY; n * m],
            new: vec![false; n * m],
        }
    }

    fn threshold(&self, i: usize) -> f32 {
        self.dist[i * self.m]
    }
}

/// Pushes `(d, j)` into one point's heap slices if it beats the worst entry and is not there
/// yet; returns whether it entered.
fn heap_push(dist: &mut [f32], idx: &mut [u32], new: &mut [bool], d: f32, j: u32) -> bool {
    let m = dist.len();
    let worse = |da: f32, ia: u32, db: f32, ib: u32| {
        by_distance_then_index(&(da, ia), &(db, ib)) == Ordering::Greater
    };
    if !worse(dist[0], idx[0], d, j) {
        return false;
    }
    if idx.contains(&j) {
        return false;
    }
    // Replace the root and sift down.
    let mut pos = 0;
    loop {
        let (l, r) = (2 * pos + 1, 2 * pos + 2);
        let mut largest = pos;
        let (mut ld, mut li) = (d, j);
        if l < m && worse(dist[l], idx[l], ld, li) {
            largest = l;
            (ld, li) = (dist[l], idx[l]);
        }
        if r < m && worse(dist[r], idx[r], ld, li) {
            largest = r;
        }
        if largest == pos {
            break;
        }
        dist[pos] = dist[largest];
        idx[pos] = idx[largest];
        new[pos] = new[largest];
        pos = largest;
    }
    dist[pos] = d;
    idx[pos] = j;
    new[pos] = true;
    true
}

/// Candidate lists: per point, up to `cap` (priority, index) pairs with the smallest priorities.
struct Candidates {
    cap: usize,
    items: Vec<Vec<(u64, u32)>>,
}

impl Candidates {
    fn new(n: usize, cap: usize) -> Self {
        Self {
            cap,
            items: vec![Vec::new(); n],
        }
    }

    /// Offers `j` to point `i`'s list. The kept set depends only on the offers, not their order,
    /// since priorities are a hash of `(seed, iteration, i, j)`.
    fn offer(&mut self, i: usize, j: u32, priority: u64) {
        let list = &mut self.items[i];
        if list.iter().any(|&(_, x)| x == j) {
            return;
        }
        if list.len() < self.cap {
            list.push((priority, j));
        } else if let Some((worst, _)) = list.iter().enumerate().max_by_key(|&(_, &(p, x))| (p, x))
        {
            if (priority, j) < list[worst] {
                list[worst] = (priority, j);
            }
        }
    }
}

/// Points per local-join batch: updates are applied after each batch, so memory stays
/// `O(batch · c²)`; fixed, so the result does not depend on the thread count.
const JOIN_BATCH: usize = 8192;
/// Points per parallel task inside a batch.
const JOIN_CHUNK: usize = 256;

/// NN-descent: random initial graph, then rounds of local joins over sampled new/old candidates.
///
/// Determinism: the initial graph and the candidate priorities are keyed hashes of the seed, the
/// iteration and the point; joins read a frozen snapshot and produce update lists in point
/// order; updates are applied in that order, each point's heap by exactly one task.
fn nn_descent(p: &Prepared, params: &KnnParams) -> (Array2<u32>, Array2<f32>) {
    let n = p.rows.nrows();
    let k = params.k;
    let m = k - 1;
    let max_iter = params
        .max_iterations
        .unwrap_or_else(|| ((n as f64).log2().round() as usize).max(5));
    let cap = params.max_candidates.unwrap_or_else(|| k.clamp(30, 60));
    let seed = params.seed;
    let mut heaps = Heaps::new(n, m);

    // Random initial neighbours, each point's heap filled by its own task.
    heaps
        .dist
        .par_chunks_mut(m)
        .zip(heaps.idx.par_chunks_mut(m))
        .zip(heaps.new.par_chunks_mut(m))
        .enumerate()
        .for_each(|(i, ((dist, idx), new))| {
            let mut rng = SplitMix::keyed(seed, 0xA11CE, i as u64);
            let mut tries = 0;
            while idx.contains(&EMPTY) && tries < 4 * m + 16 {
                tries += 1;
                let j = rng.below(n);
                if j != i {
                    heap_push(dist, idx, new, p.dissimilarity(i, j), j as u32);
                }
            }
        });

    for iter in 0..max_iter {
        // Sample candidates: forward and reverse, new and old, by hashed priority.
        let mut new_c = Candidates::new(n, cap);
        let mut old_c = Candidates::new(n, cap);
        for i in 0..n {
            for s in 0..m {
                let j = heaps.idx[i * m + s];
                if j == EMPTY {
                    continue;
                }
                let pr_fwd = SplitMix::keyed(seed ^ iter as u64, i as u64, u64::from(j)).next_u64();
                let pr_rev = SplitMix::keyed(seed ^ iter as u64, u64::from(j), i as u64).next_u64();
                let target = if heaps.new[i * m + s] {
                    &mut new_c
                } else {
                    &mut old_c
                };
                target.offer(i, j, pr_fwd);
                target.offer(j as usize, i as u32, pr_rev);
            }
        }
        // Sampled new entries become old.
        for i in 0..n {
            for s in 0..m {
                let j = heaps.idx[i * m + s];
                if heaps.new[i * m + s] && new_c.items[i].iter().any(|&(_, x)| x == j) {
                    heaps.new[i * m + s] = false;
                }
            }
        }
        let mut changes = 0usize;
        for b0 in (0..n).step_by(JOIN_BATCH) {
            let b1 = (b0 + JOIN_BATCH).min(n);
            let heaps_ref = &heaps;
            let (new_ref, old_ref) = (&new_c, &old_c);
            let updates: Vec<Vec<(u32, u32, f32)>> = (b0..b1)
                .step_by(JOIN_CHUNK)
                .collect::<Vec<_>>()
                .into_par_iter()
                .map(|c0| {
                    let mut out = Vec::new();
                    for v in c0..(c0 + JOIN_CHUNK).min(b1) {
                        let news = &new_ref.items[v];
                        let olds = &old_ref.items[v];
                        for (a, &(_, x)) in news.iter().enumerate() {
                            let x = x as usize;
                            let others = news[a + 1..].iter().chain(olds.iter());
                            for &(_, y) in others {
                                let y = y as usize;
                                if x == y {
                                    continue;
                                }
                                let d = p.dissimilarity(x, y);
                                if d < heaps_ref.threshold(x) || d < heaps_ref.threshold(y) {
                                    out.push((x as u32, y as u32, d));
                                }
                            }
                        }
                    }
                    out
                })
                .collect();
            // Apply: each task owns a range of points and scans every update in order. Each
            // heap sees its updates in the same global order whatever the ranges, so the range
            // size may follow the thread count.
            let m_ = m;
            let span = n.div_ceil(rayon::current_num_threads()).max(1);
            changes += heaps
                .dist
                .par_chunks_mut(span * m_)
                .zip(heaps.idx.par_chunks_mut(span * m_))
                .zip(heaps.new.par_chunks_mut(span * m_))
                .enumerate()
                .map(|(c, ((dist, idx), new))| {
                    let lo = c * span;
                    let hi = lo + dist.len() / m_;
                    let mut changed = 0usize;
                    for list in &updates {
                        for &(x, y, d) in list {
                            for (a, b) in [(x, y), (y, x)] {
                                let a = a as usize;
                                if a >= lo && a < hi {
                                    let r = (a - lo) * m_;
                                    changed += usize::from(heap_push(
                                        &mut dist[r..r + m_],
                                        &mut idx[r..r + m_],
                                        &mut new[r..r + m_],
                                        d,
                                        b,
                                    ));
                                }
                            }
                        }
                    }
                    changed
                })
                .sum::<usize>();
        }
        if (changes as f64) < f64::from(params.delta) * n as f64 * k as f64 {
            break;
        }
    }

    let mut indices = Array2::<u32>::zeros((n, k));
    let mut distances = Array2::<f32>::zeros((n, k));
    for i in 0..n {
        let mut row: Vec<(f32, u32)> = (0..m)
            .map(|s| (heaps.dist[i * m + s], heaps.idx[i * m + s]))
            .collect();
        row.sort_unstable_by(by_distance_then_index);
        indices[(i, 0)] = i as u32;
        distances[(i, 0)] = 0.0;
        for (c, (d, j)) in row.into_iter().enumerate() {
            // A point with too few distinct others keeps EMPTY slots; point them at itself.
            let (j, d) = if j == EMPTY {
                (i as u32, 0.0)
            } else {
                (j, p.finish(d))
            };
            indices[(i, c + 1)] = j;
            distances[(i, c + 1)] = d;
        }
    }
    (indices, distances)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    fn random(n: usize, d: usize, seed: u64) -> Array2<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        Array2::from_shape_fn((n, d), |_| rng.random::<f32>() - 0.5)
    }

    fn brute(data: &Array2<f32>, k: usize, metric: Metric) -> Vec<Vec<(f64, usize)>> {
        let n = data.nrows();
        (0..n)
            .map(|i| {
                let mut row: Vec<(f64, usize)> = (0..n)
                    .filter(|&j| j != i)
                    .map(|j| {
                        let (a, b) = (data.row(i), data.row(j));
                        let d = match metric {
                            Metric::Euclidean => a
                                .iter()
                                .zip(b)
                                .map(|(x, y)| f64::from(x - y).powi(2))
                                .sum::<f64>()
                                .sqrt(),
                            Metric::Cosine => {
                                let ab: f64 = a
                                    .iter()
                                    .zip(b)
                                    .map(|(x, y)| f64::from(*x) * f64::from(*y))
                                    .sum();
                                let aa: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum();
                                let bb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum();
                                1.0 - ab / (aa.sqrt() * bb.sqrt())
                            }
                        };
                        (d, j)
                    })
                    .collect();
                row.sort_by(|a, b| a.0.total_cmp(&b.0));
                row.truncate(k - 1);
                row
            })
            .collect()
    }

    #[test]
    fn exact_equals_brute_force() {
        for metric in [Metric::Euclidean, Metric::Cosine] {
            let data = random(300, 12, 7);
            let g = KnnGraph::build(
                data.view(),
                &KnnParams::new(8).metric(metric).method(KnnMethod::Exact),
            )
            .unwrap();
            let truth = brute(&data, 8, metric);
            for (i, want_row) in truth.iter().enumerate() {
                let (idx, dist) = g.neighbors(i);
                assert_eq!(idx[0] as usize, i);
                assert_eq!(dist[0], 0.0);
                let ours: Vec<usize> = idx[1..].iter().map(|&j| j as usize).collect();
                let want: Vec<usize> = want_row.iter().map(|x| x.1).collect();
                assert_eq!(ours, want, "row {i} {metric:?}");
                for (d, t) in dist[1..].iter().zip(want_row) {
                    assert!(
                        (f64::from(*d) - t.0).abs() < 1e-4,
                        "row {i}: {d} vs {}",
                        t.0
                    );
                }
            }
        }
    }

    #[test]
    fn tile_size_does_not_change_the_result() {
        let data = random(101, 5, 9);
        let p = Prepared::new(data.view(), Metric::Cosine);
        let whole = exact_in_tiles(&p, 6, 512);
        for block in [1, 7, 16] {
            assert_eq!(exact_in_tiles(&p, 6, block), whole, "block {block}");
        }
    }

    #[test]
    fn nn_descent_recall_and_thread_independence() {
        let data = random(1500, 8, 3);
        let exact = KnnGraph::build(
            data.view(),
            &KnnParams::new(10)
                .metric(Metric::Euclidean)
                .method(KnnMethod::Exact),
        )
        .unwrap();
        let params = KnnParams::new(10)
            .metric(Metric::Euclidean)
            .method(KnnMethod::NnDescent);
        let one = KnnGraph::build(data.view(), &params.clone().threads(Some(1))).unwrap();
        let three = KnnGraph::build(data.view(), &params.threads(Some(3))).unwrap();
        assert_eq!(one, three);
        let recall = one.recall(&exact).unwrap();
        assert!(recall >= 0.95, "recall {recall}");
    }

    #[test]
    fn rejects_bad_input() {
        let empty = Array2::<f32>::zeros((0, 4));
        assert!(matches!(
            KnnGraph::build(empty.view(), &KnnParams::new(2)),
            Err(Error::Input(_))
        ));
        let mut data = random(10, 4, 1);
        data[(6, 2)] = f32::NAN;
        let err = KnnGraph::build(data.view(), &KnnParams::new(3))
            .unwrap_err()
            .to_string();
        assert!(err.contains("row 6"), "{err}");
        let mut data = random(10, 4, 1);
        data.row_mut(4).fill(0.0);
        let err = KnnGraph::build(data.view(), &KnnParams::new(3))
            .unwrap_err()
            .to_string();
        assert!(err.contains("row 4"), "{err}");
        assert!(KnnGraph::build(data.view(), &KnnParams::new(3).metric(Metric::Euclidean)).is_ok());
        let data = random(5, 4, 1);
        assert!(matches!(
            KnnGraph::build(data.view(), &KnnParams::new(6)),
            Err(Error::Input(_))
        ));
        assert!(matches!(
            KnnGraph::build(data.view(), &KnnParams::new(1)),
            Err(Error::InvalidParam { .. })
        ));
    }

    #[test]
    fn heap_keeps_the_best() {
        let mut dist = vec![f32::INFINITY; 3];
        let mut idx = vec![EMPTY; 3];
        let mut new = vec![false; 3];
        for (d, j) in [(5.0, 1), (1.0, 2), (3.0, 3), (0.5, 4), (3.0, 3), (4.0, 5)] {
            heap_push(&mut dist, &mut idx, &mut new, d, j);
        }
        let mut got: Vec<u32> = idx.clone();
        got.sort();
        assert_eq!(got, vec![2, 3, 4]);
    }
}
