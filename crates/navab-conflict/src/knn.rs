//! Statement embeddings and their k nearest neighbours by cosine similarity.

use crate::{Error, Result};

/// L2-normalised statement embeddings, one row per statement, stored row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Embeddings {
    data: Vec<f32>,
    dim: usize,
    len: usize,
}

impl Embeddings {
    /// Copies and L2-normalises one vector per statement.
    ///
    /// # Errors
    /// [`Error::Embedding`] naming the first row (as `#index`) that differs in length from the
    /// first, holds a NaN or infinity, or is all zeros (its cosine is undefined).
    ///
    /// # Complexity
    /// `O(n * dim)` time and memory.
    pub fn from_rows(rows: &[Vec<f32>]) -> Result<Self> {
        let dim = rows.first().map_or(0, Vec::len);
        let mut data = Vec::with_capacity(rows.len() * dim);
        for (i, row) in rows.iter().enumerate() {
            if row.len() != dim {
                return Err(embedding_error(
                    i,
                    format!("has {} components, row 0 has {dim}", row.len()),
                ));
            }
            data.extend_from_slice(row);
        }
        Self::from_flat(&data, dim)
    }

    /// Copies and L2-normalises a row-major `n x dim` matrix; `n = flat.len() / dim`.
    ///
    /// # Errors
    /// [`Error::Shape`] if `dim` is 0 while `flat` is not empty, or `flat.len()` is not a
    /// multiple of `dim`; otherwise as [`from_rows`](Self::from_rows).
    pub fn from_flat(flat: &[f32], dim: usize) -> Result<Self> {
        if dim == 0 {
            return if flat.is_empty() {
                Ok(Self {
                    data: Vec::new(),
                    dim: 0,
                    len: 0,
                })
            } else {
                Err(Error::Shape(
                    "embedding dimension 0 with non-empty data".into(),
                ))
            };
        }
        if flat.len() % dim != 0 {
            return Err(Error::Shape(format!(
                "{} embedding values are not a whole number of rows of {dim}",
                flat.len()
            )));
        }
        let mut data = flat.to_vec();
        for (i, row) in data.chunks_exact_mut(dim).enumerate() {
            if let Some(c) = row.iter().position(|x| !x.is_finite()) {
                return Err(embedding_error(i, format!("component {c} is {}", row[c])));
            }
            let norm = row
                .iter()
                .map(|&x| f64::from(x) * f64::from(x))
                .sum::<f64>()
                .sqrt();
            if norm == 0.0 {
                return Err(embedding_error(i, "is all zeros".into()));
            }
            let inv = (1.0 / norm) as f32;
            row.iter_mut().for_each(|x| *x *= inv);
        }
        Ok(Self {
            len: flat.len() / dim,
            data,
            dim,
        })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Components per row.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Row `i`, unit length.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// Cosine similarity of rows `i` and `j`.
    pub fn cosine(&self, i: usize, j: usize) -> f32 {
        self.row(i)
            .iter()
            .zip(self.row(j))
            .map(|(a, b)| a * b)
            .sum()
    }
}

fn embedding_error(index: usize, reason: String) -> Error {
    Error::Embedding {
        index,
        statement: format!("#{index}"),
        reason,
    }
}

/// For each statement, its nearest neighbours: `(other statement, cosine similarity)`, most
/// similar first (ties: lower index first).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Neighbours {
    lists: Vec<Vec<(u32, f32)>>,
}

impl Neighbours {
    /// Precomputed neighbour lists, e.g. from an approximate index: `lists[i]` holds
    /// `(j, similarity)` for statement `i`. Lists are re-sorted; a list may be empty and may be
    /// longer than `k` (all pairs at or above the threshold become judge candidates).
    ///
    /// # Errors
    /// [`Error::Shape`] if `lists.len() != n`, an index is `>= n` or points to its own row, or a
    /// similarity is not finite.
    pub fn from_lists(n: usize, lists: Vec<Vec<(usize, f32)>>) -> Result<Self> {
        if lists.len() != n {
            return Err(Error::Shape(format!(
                "{} neighbour lists for {n} statements",
                lists.len()
            )));
        }
        if n > u32::MAX as usize {
            return Err(Error::Shape(format!("{n} statements exceed u32 indices")));
        }
        let mut out = Vec::with_capacity(n);
        for (i, list) in lists.into_iter().enumerate() {
            let mut v = Vec::with_capacity(list.len());
            for (j, s) in list {
                if j >= n || j == i || !s.is_finite() {
                    return Err(Error::Shape(format!(
                        "neighbour list {i}: entry ({j}, {s}) is out of range, itself, or not finite"
                    )));
                }
                v.push((j as u32, s));
            }
            sort_list(&mut v);
            v.dedup_by_key(|e| e.0);
            out.push(v);
        }
        Ok(Self { lists: out })
    }

    /// Number of statements.
    pub fn len(&self) -> usize {
        self.lists.len()
    }

    /// Whether there are no statements.
    pub fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }

    /// The neighbours of statement `i`, most similar first.
    pub fn of(&self, i: usize) -> impl ExactSizeIterator<Item = (usize, f32)> + '_ {
        self.lists[i].iter().map(|&(j, s)| (j as usize, s))
    }

    /// Unordered pairs `(a, b, similarity)`, `a < b`, with `b` among `a`'s neighbours or `a`
    /// among `b`'s, at or above `threshold`; sorted by `(a, b)`. At most `n * k` pairs.
    ///
    /// # Complexity
    /// `O(m log m)` for `m` list entries.
    pub fn pairs(&self, threshold: f32) -> Vec<(usize, usize, f32)> {
        let mut pairs: Vec<(usize, usize, f32)> = Vec::new();
        for (i, list) in self.lists.iter().enumerate() {
            for &(j, s) in list {
                if s >= threshold {
                    let j = j as usize;
                    pairs.push((i.min(j), i.max(j), s));
                }
            }
        }
        // Similarity from both ends may differ in the last bit; keep the larger.
        pairs.sort_by(|x, y| (x.0, x.1).cmp(&(y.0, y.1)).then(y.2.total_cmp(&x.2)));
        pairs.dedup_by_key(|p| (p.0, p.1));
        pairs
    }
}

fn sort_list(v: &mut [(u32, f32)]) {
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
}

/// Rows of `X_I` per tile; with `COLS_PER_TILE` it keeps the similarity tile at 2 MiB.
const ROWS_PER_TILE: usize = 256;
const COLS_PER_TILE: usize = 2048;

/// Exact k nearest neighbours by cosine similarity, keeping only neighbours at or above
/// `threshold`.
///
/// The unit-length rows are multiplied tile by tile (`X_I · X_Jᵀ`, 256 x 2048 similarities at
/// a time, by `matrixmultiply`'s cache-blocked SIMD `sgemm` on one thread), only tiles on or
/// above the diagonal, each similarity offered to both rows' top-k lists. Deterministic for
/// the same input on the same machine.
///
/// # Complexity
/// `O(n² · dim / 2)` multiply-adds and `O(n · k + 256 · 2048)` memory: exact kNN is quadratic.
/// At 26,000 x 384 that is 1.3·10¹¹ multiply-adds, a few seconds on one AVX2 core. For larger
/// corpora pass an approximate index's lists to [`Neighbours::from_lists`].
pub fn knn_exact(embeddings: &Embeddings, k: usize, threshold: f32) -> Neighbours {
    let n = embeddings.len();
    let dim = embeddings.dim();
    let mut tops: Vec<TopK> = (0..n).map(|_| TopK::new(k, threshold)).collect();
    if n == 0 || k == 0 {
        return Neighbours {
            lists: vec![Vec::new(); n],
        };
    }
    let data = &embeddings.data;
    let mut tile = vec![0.0f32; ROWS_PER_TILE * COLS_PER_TILE];
    for i0 in (0..n).step_by(ROWS_PER_TILE) {
        let rows = ROWS_PER_TILE.min(n - i0);
        for j0 in (i0..n).step_by(COLS_PER_TILE) {
            let cols = COLS_PER_TILE.min(n - j0);
            gram_tile(data, dim, i0, rows, j0, cols, &mut tile);
            for r in 0..rows {
                let i = i0 + r;
                let line = &tile[r * cols..(r + 1) * cols];
                // Only j > i: the diagonal tile holds each pair twice and i itself.
                let start = (i + 1).saturating_sub(j0);
                for (c, &s) in line.iter().enumerate().skip(start) {
                    if s >= threshold {
                        let j = j0 + c;
                        tops[i].offer(j as u32, s);
                        tops[j].offer(i as u32, s);
                    }
                }
            }
        }
    }
    Neighbours {
        lists: tops.into_iter().map(TopK::into_sorted).collect(),
    }
}

/// `tile[r * cols + c] = <row i0 + r, row j0 + c>` for `r < rows`, `c < cols`.
///
/// ndarray's `general_mat_mul` runs matrixmultiply's packed sgemm kernel on these views, so the
/// tile costs what a hand-called sgemm would, without `unsafe` here.
fn gram_tile(
    data: &[f32],
    dim: usize,
    i0: usize,
    rows: usize,
    j0: usize,
    cols: usize,
    tile: &mut [f32],
) {
    use ndarray::{linalg::general_mat_mul, ArrayView2, ArrayViewMut2};
    let a = ArrayView2::from_shape((rows, dim), &data[i0 * dim..(i0 + rows) * dim])
        .expect("rows * dim values");
    let b = ArrayView2::from_shape((cols, dim), &data[j0 * dim..(j0 + cols) * dim])
        .expect("cols * dim values");
    let mut c = ArrayViewMut2::from_shape((rows, cols), &mut tile[..rows * cols])
        .expect("rows * cols values");
    general_mat_mul(1.0, &a, &b.t(), 0.0, &mut c);
}

/// The best `k` of the offers, by (similarity desc, index asc).
struct TopK {
    k: usize,
    threshold: f32,
    items: Vec<(u32, f32)>,
}

impl TopK {
    fn new(k: usize, threshold: f32) -> Self {
        Self {
            k,
            threshold,
            items: Vec::new(),
        }
    }

    #[inline]
    fn offer(&mut self, j: u32, s: f32) {
        if s < self.threshold {
            return;
        }
        if self.items.len() == self.k {
            let &(wj, ws) = self.items.last().expect("k >= 1");
            if s < ws || (s == ws && j > wj) {
                return;
            }
            self.items.pop();
        }
        let pos = self
            .items
            .iter()
            .position(|&(oj, os)| s > os || (s == os && j < oj))
            .unwrap_or(self.items.len());
        self.items.insert(pos, (j, s));
    }

    fn into_sorted(self) -> Vec<(u32, f32)> {
        self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg_rows(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                (0..dim)
                    .map(|_| {
                        x = x
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        ((x >> 40) as f32 / (1u64 << 24) as f32) - 0.5
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn exact_knn_matches_brute_force_across_tiles() {
        // More rows than one tile in both directions, so tile edges and the diagonal are hit.
        let rows = lcg_rows(2300, 7, 42);
        let e = Embeddings::from_rows(&rows).unwrap();
        let k = 5;
        let nb = knn_exact(&e, k, -1.0);
        for i in [0usize, 1, 255, 256, 1000, 2047, 2048, 2299] {
            let mut all: Vec<(u32, f32)> = (0..e.len())
                .filter(|&j| j != i)
                .map(|j| (j as u32, e.cosine(i, j)))
                .collect();
            sort_list(&mut all);
            let got: Vec<usize> = nb.of(i).map(|(j, _)| j).collect();
            let want: Vec<usize> = all[..k].iter().map(|&(j, _)| j as usize).collect();
            assert_eq!(got, want, "row {i}");
            for (j, s) in nb.of(i) {
                assert!((s - e.cosine(i, j)).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn threshold_drops_dissimilar_neighbours() {
        let e = Embeddings::from_rows(&[vec![1.0, 0.0], vec![0.9, 0.1], vec![0.0, 1.0]]).unwrap();
        let nb = knn_exact(&e, 2, 0.6);
        assert_eq!(nb.of(0).map(|p| p.0).collect::<Vec<_>>(), vec![1]);
        assert_eq!(nb.of(2).count(), 0);
        assert_eq!(nb.pairs(0.6).len(), 1);
    }

    #[test]
    fn bad_embeddings_name_the_row() {
        let err = Embeddings::from_rows(&[vec![1.0, 0.0], vec![1.0]]).unwrap_err();
        assert!(matches!(err, Error::Embedding { index: 1, .. }), "{err}");
        let err = Embeddings::from_rows(&[vec![1.0, 0.0], vec![f32::NAN, 0.0]]).unwrap_err();
        assert!(matches!(err, Error::Embedding { index: 1, .. }), "{err}");
        let err = Embeddings::from_flat(&[0.0, 0.0], 2).unwrap_err();
        assert!(matches!(err, Error::Embedding { index: 0, .. }), "{err}");
        assert!(matches!(
            Embeddings::from_flat(&[1.0; 3], 2),
            Err(Error::Shape(_))
        ));
        assert!(Embeddings::from_rows(&[]).unwrap().is_empty());
    }

    #[test]
    fn precomputed_lists_are_validated_and_sorted() {
        let nb = Neighbours::from_lists(3, vec![vec![(2, 0.7), (1, 0.9)], vec![], vec![]]).unwrap();
        assert_eq!(nb.of(0).collect::<Vec<_>>(), vec![(1, 0.9), (2, 0.7)]);
        assert!(Neighbours::from_lists(3, vec![vec![(0, 0.7)], vec![], vec![]]).is_err());
        assert!(Neighbours::from_lists(3, vec![vec![(3, 0.7)], vec![], vec![]]).is_err());
        assert!(Neighbours::from_lists(2, vec![vec![]]).is_err());
    }
}
