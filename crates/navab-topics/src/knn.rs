//! knn (work in progress).
