//! A compressed sparse row matrix: just enough for term counts and c-TF-IDF weights.

use crate::{Error, Result};

/// A sparse matrix in compressed sparse row form (rows = documents or topics, columns = terms).
///
/// Within a row, column indices are strictly increasing, so iteration order is fixed.
#[derive(Debug, Clone, PartialEq)]
pub struct CsrMatrix<T> {
    n_cols: usize,
    indptr: Vec<usize>,
    indices: Vec<u32>,
    values: Vec<T>,
}

impl<T: Copy> CsrMatrix<T> {
    /// An empty matrix with `n_cols` columns and no rows; add rows with [`CsrMatrix::push_row`].
    pub fn new(n_cols: usize) -> Self {
        CsrMatrix {
            n_cols,
            indptr: vec![0],
            indices: Vec::new(),
            values: Vec::new(),
        }
    }

    /// Appends a row given as `(column, value)` pairs with strictly increasing columns.
    ///
    /// # Errors
    /// [`Error::Input`] if a column is out of range or the columns are not strictly increasing.
    pub fn push_row(&mut self, entries: impl IntoIterator<Item = (u32, T)>) -> Result<()> {
        let start = self.indices.len();
        let mut previous: Option<u32> = None;
        for (col, value) in entries {
            let bad_order = previous.is_some_and(|p| col <= p);
            if col as usize >= self.n_cols || bad_order {
                self.indices.truncate(start);
                self.values.truncate(start);
                return Err(Error::Input(format!(
                    "row {}: column {col} out of range 0..{} or not increasing",
                    self.n_rows(),
                    self.n_cols
                )));
            }
            previous = Some(col);
            self.indices.push(col);
            self.values.push(value);
        }
        self.indptr.push(self.indices.len());
        Ok(())
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.indptr.len() - 1
    }

    /// Number of columns.
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Row `i` as parallel slices of column indices and values, or `None` past the last row.
    pub fn row(&self, i: usize) -> Option<(&[u32], &[T])> {
        let (start, end) = (*self.indptr.get(i)?, *self.indptr.get(i + 1)?);
        Some((&self.indices[start..end], &self.values[start..end]))
    }

    /// The rows in order.
    pub fn rows(&self) -> impl Iterator<Item = (&[u32], &[T])> + '_ {
        self.indptr
            .windows(2)
            .map(|w| (&self.indices[w[0]..w[1]], &self.values[w[0]..w[1]]))
    }

    /// Applies `f` to every stored value, keeping the sparsity pattern.
    pub fn map<U: Copy>(&self, f: impl Fn(u32, T) -> U) -> CsrMatrix<U> {
        CsrMatrix {
            n_cols: self.n_cols,
            indptr: self.indptr.clone(),
            indices: self.indices.clone(),
            values: self
                .indices
                .iter()
                .zip(&self.values)
                .map(|(&c, &v)| f(c, v))
                .collect(),
        }
    }
}

/// Cosine similarity of two sparse rows as [`CsrMatrix::row`] gives them (sorted columns);
/// 0 when either is all zero. O(nnz of both rows).
pub fn sparse_cosine(a: (&[u32], &[f64]), b: (&[u32], &[f64])) -> f64 {
    let (mut i, mut j, mut dot) = (0, 0, 0.0);
    while i < a.0.len() && j < b.0.len() {
        match a.0[i].cmp(&b.0[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                dot += a.1[i] * b.1[j];
                i += 1;
                j += 1;
            }
        }
    }
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let denom = norm(a.1) * norm(b.1);
    if denom > 0.0 {
        dot / denom
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_cosine() {
        let mut m = CsrMatrix::new(4);
        m.push_row([(0, 1.0), (2, 2.0)]).unwrap();
        m.push_row([]).unwrap();
        m.push_row([(2, 4.0), (0, 2.0)]).unwrap_err();
        m.push_row([(0, 2.0), (2, 4.0)]).unwrap();
        assert_eq!(m.n_rows(), 3);
        assert_eq!(m.nnz(), 4);
        assert!(m.row(3).is_none());
        let cos = sparse_cosine(m.row(0).unwrap(), m.row(2).unwrap());
        assert!((cos - 1.0).abs() < 1e-12);
        assert_eq!(sparse_cosine(m.row(0).unwrap(), m.row(1).unwrap()), 0.0);
        assert!(m.push_row([(4, 1.0)]).is_err());
    }
}
