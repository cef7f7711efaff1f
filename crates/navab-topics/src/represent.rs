//! represent (work in progress).
