//! umap (work in progress).
