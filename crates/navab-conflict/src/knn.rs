//! Statement embeddings and their k nearest neighbours by cosine similarity.

use navab_topics::knn::nearest_by_dot;
use ndarray::ArrayView2;

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
        if !flat.len().is_multiple_of(dim) {
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

/// Exact k nearest neighbours by cosine similarity, keeping only neighbours at or above
/// `threshold`.
///
/// The unit-length rows go through navab-topics' exact kNN
/// ([`nearest_by_dot`](navab_topics::knn::nearest_by_dot)): tiled matrix products (`sgemm`, no
/// `unsafe`) spread over rayon's threads, each row's top `k` taken from its own line of the
/// tile. Deterministic for the same input on the same machine, whatever the thread count.
///
/// # Complexity
/// `O(n² · dim)` multiply-adds and `O(n · k)` memory plus one tile of about 8 M floats per
/// thread: exact kNN is quadratic. At 26,000 x 384 that is 2.6·10¹¹ multiply-adds, a few
/// seconds on a few AVX2 cores. For larger corpora pass an approximate index's lists to
/// [`Neighbours::from_lists`].
pub fn knn_exact(embeddings: &Embeddings, k: usize, threshold: f32) -> Neighbours {
    let n = embeddings.len();
    if n == 0 || k == 0 {
        return Neighbours {
            lists: vec![Vec::new(); n],
        };
    }
    let rows =
        ArrayView2::from_shape((n, embeddings.dim), &embeddings.data).expect("n * dim values");
    // Negated similarity as the dissimilarity: ascending (-s, j) is descending s, ties by index,
    // and -(-s) gives back the very same similarity.
    let lists = nearest_by_dot(rows, k, |_, _, s| (s >= threshold).then_some(-s));
    Neighbours {
        lists: lists
            .into_iter()
            .map(|list| list.into_iter().map(|(d, j)| (j, -d)).collect())
            .collect(),
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
        // More rows than one tile, so tile edges are hit.
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
