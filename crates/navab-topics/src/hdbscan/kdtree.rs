//! A small kd-tree over low-dimensional points, built once and queried for core distances
//! (k nearest neighbours) and by the Borůvka spanning tree (nearest point of another component).

use crate::{Error, Result};
use ndarray::ArrayView2;

/// A node's point range and children; leaves have no children.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Node {
    /// First tree position covered.
    pub start: usize,
    /// One past the last tree position covered.
    pub end: usize,
    /// Child node indices, or `None` for a leaf. Children always have larger indices than
    /// their parent, so a reverse sweep over the nodes visits children before parents.
    pub children: Option<(usize, usize)>,
}

/// A kd-tree over the rows of a matrix.
///
/// Points are stored in tree order: position `i` holds the row [`KdTree::row_of`]`(i)`. Splits are
/// at the median of the widest dimension, ties broken by row index, so the same input always
/// gives the same tree.
///
/// # Complexity
/// Building is O(n log n); a k-nearest-neighbour query is O(log n + k) for well-spread points in
/// a few dimensions.
#[derive(Clone, Debug)]
pub struct KdTree {
    dim: usize,
    points: Vec<f64>,
    rows: Vec<usize>,
    pub(crate) nodes: Vec<Node>,
    /// Per node, the lower then the upper corner of its bounding box (`2 * dim` values).
    bounds: Vec<f64>,
}

impl KdTree {
    /// Builds the tree over the rows of `data` (one point per row), with at most `leaf_size`
    /// points per leaf.
    ///
    /// # Errors
    /// [`Error::Input`] when `data` has no rows or no columns, or holds a NaN or an infinite value
    /// (the message names the row and column); [`Error::InvalidParam`] when `leaf_size` is 0.
    pub fn new(data: ArrayView2<'_, f32>, leaf_size: usize) -> Result<Self> {
        if leaf_size == 0 {
            return Err(Error::param("leaf_size", leaf_size, "must be at least 1"));
        }
        let (n, dim) = data.dim();
        if n == 0 {
            return Err(Error::Input("no points (0 rows)".into()));
        }
        if dim == 0 {
            return Err(Error::Input("points have 0 dimensions".into()));
        }
        for (row, point) in data.outer_iter().enumerate() {
            if let Some(col) = point.iter().position(|v| !v.is_finite()) {
                return Err(Error::Input(format!(
                    "row {row}, column {col}: value {} is not finite",
                    point[col]
                )));
            }
        }
        let mut rows: Vec<usize> = (0..n).collect();
        let mut tree = KdTree {
            dim,
            points: Vec::new(),
            rows: Vec::new(),
            nodes: Vec::new(),
            bounds: Vec::new(),
        };
        tree.build(data, &mut rows, 0, leaf_size);
        tree.points = Vec::with_capacity(n * dim);
        for &row in &rows {
            tree.points
                .extend(data.row(row).iter().map(|&v| f64::from(v)));
        }
        tree.rows = rows;
        Ok(tree)
    }

    /// Builds the subtree over `rows[..]` (whose first tree position is `offset`) and returns its
    /// node index. Recursion depth is about log2(n / leaf_size) since splits are at the median.
    fn build(
        &mut self,
        data: ArrayView2<'_, f32>,
        rows: &mut [usize],
        offset: usize,
        leaf_size: usize,
    ) -> usize {
        let dim = self.dim;
        let mut lo = vec![f64::INFINITY; dim];
        let mut hi = vec![f64::NEG_INFINITY; dim];
        for &row in rows.iter() {
            for (d, &v) in data.row(row).iter().enumerate() {
                let v = f64::from(v);
                lo[d] = lo[d].min(v);
                hi[d] = hi[d].max(v);
            }
        }
        let index = self.nodes.len();
        self.nodes.push(Node {
            start: offset,
            end: offset + rows.len(),
            children: None,
        });
        self.bounds.extend_from_slice(&lo);
        self.bounds.extend_from_slice(&hi);
        if rows.len() <= leaf_size {
            return index;
        }
        let widest = (0..dim)
            .max_by(|&a, &b| (hi[a] - lo[a]).total_cmp(&(hi[b] - lo[b])).then(b.cmp(&a)))
            .unwrap_or(0);
        let mid = rows.len() / 2;
        rows.select_nth_unstable_by(mid, |&a, &b| {
            data[[a, widest]]
                .total_cmp(&data[[b, widest]])
                .then(a.cmp(&b))
        });
        let (left_rows, right_rows) = rows.split_at_mut(mid);
        let left = self.build(data, left_rows, offset, leaf_size);
        let right = self.build(data, right_rows, offset + mid, leaf_size);
        self.nodes[index].children = Some((left, right));
        index
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the tree holds no points (never true for a built tree).
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Dimension of the points.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The input row stored at tree position `position`.
    pub fn row_of(&self, position: usize) -> usize {
        self.rows[position]
    }

    /// The coordinates of the point at tree position `position`.
    pub(crate) fn point(&self, position: usize) -> &[f64] {
        &self.points[position * self.dim..(position + 1) * self.dim]
    }

    /// Squared distance between the points at two tree positions.
    pub(crate) fn dist2(&self, a: &[f64], position: usize) -> f64 {
        squared_distance(a, self.point(position))
    }

    /// Squared distance from `point` to the bounding box of `node` (0 inside it).
    pub(crate) fn box_dist2(&self, point: &[f64], node: usize) -> f64 {
        let base = 2 * self.dim * node;
        let lo = &self.bounds[base..base + self.dim];
        let hi = &self.bounds[base + self.dim..base + 2 * self.dim];
        let mut sum = 0.0;
        for ((&p, &l), &h) in point.iter().zip(lo).zip(hi) {
            let gap = if p < l {
                l - p
            } else if p > h {
                p - h
            } else {
                0.0
            };
            sum += gap * gap;
        }
        sum
    }

    /// Squared distance from the point at `position` to its `k`-th nearest other point (the
    /// point itself excluded, its duplicates included). `k` must be in `1..len()`. `heap` is
    /// scratch space.
    pub(crate) fn kth_neighbour_dist2(
        &self,
        position: usize,
        k: usize,
        heap: &mut Vec<f64>,
    ) -> f64 {
        heap.clear();
        let point = self.point(position);
        self.knn_visit(0, point, position, k, heap);
        heap.first().copied().unwrap_or(0.0)
    }

    /// Depth-first search keeping the `k` smallest squared distances in `heap`, a binary
    /// max-heap (largest first).
    fn knn_visit(&self, node: usize, point: &[f64], skip: usize, k: usize, heap: &mut Vec<f64>) {
        let Node {
            start,
            end,
            children,
        } = self.nodes[node];
        match children {
            None => {
                for q in start..end {
                    let d2 = self.dist2(point, q);
                    if q == skip || (heap.len() == k && d2 >= heap[0]) {
                        continue;
                    }
                    if heap.len() < k {
                        heap_push(heap, d2);
                    } else {
                        heap_replace_top(heap, d2);
                    }
                }
            }
            Some((left, right)) => {
                let dl = self.box_dist2(point, left);
                let dr = self.box_dist2(point, right);
                let (first, d_first, second, d_second) = if dl <= dr {
                    (left, dl, right, dr)
                } else {
                    (right, dr, left, dl)
                };
                for (child, d) in [(first, d_first), (second, d_second)] {
                    if heap.len() < k || d < heap[0] {
                        self.knn_visit(child, point, skip, k, heap);
                    }
                }
            }
        }
    }
}

/// Pushes onto a max-heap stored in a vector.
fn heap_push(heap: &mut Vec<f64>, value: f64) {
    heap.push(value);
    let mut i = heap.len() - 1;
    while i > 0 {
        let parent = (i - 1) / 2;
        if heap[parent] >= heap[i] {
            break;
        }
        heap.swap(parent, i);
        i = parent;
    }
}

/// Replaces the largest value of a non-empty max-heap and restores the heap order.
fn heap_replace_top(heap: &mut [f64], value: f64) {
    heap[0] = value;
    let mut i = 0;
    loop {
        let (l, r) = (2 * i + 1, 2 * i + 2);
        let mut largest = i;
        if l < heap.len() && heap[l] > heap[largest] {
            largest = l;
        }
        if r < heap.len() && heap[r] > heap[largest] {
            largest = r;
        }
        if largest == i {
            break;
        }
        heap.swap(i, largest);
        i = largest;
    }
}

/// Squared Euclidean distance.
pub(crate) fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    #[test]
    fn kth_neighbour_matches_brute_force() {
        let mut rng = StdRng::seed_from_u64(7);
        let n = 300;
        let data = Array2::from_shape_fn((n, 3), |_| rng.random_range(-1.0f32..1.0));
        let tree = KdTree::new(data.view(), 8).unwrap();
        let mut scratch = Vec::new();
        for position in 0..n {
            let row = tree.row_of(position);
            let p: Vec<f64> = data.row(row).iter().map(|&v| f64::from(v)).collect();
            let mut all: Vec<f64> = (0..n)
                .filter(|&r| r != row)
                .map(|r| {
                    let q: Vec<f64> = data.row(r).iter().map(|&v| f64::from(v)).collect();
                    squared_distance(&p, &q)
                })
                .collect();
            all.sort_by(f64::total_cmp);
            for k in [1, 5, 17] {
                assert_eq!(
                    tree.kth_neighbour_dist2(position, k, &mut scratch),
                    all[k - 1]
                );
            }
        }
    }

    #[test]
    fn rejects_non_finite_values_naming_the_row() {
        let mut data = Array2::<f32>::zeros((4, 2));
        data[[2, 1]] = f32::NAN;
        let err = KdTree::new(data.view(), 2).unwrap_err().to_string();
        assert!(err.contains("row 2, column 1"), "{err}");
    }
}
