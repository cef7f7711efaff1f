//! hdbscan (work in progress).
