//! 2. Embeddings: one vector per document, kept as raw little-endian f32.

use std::path::Path;

use ndarray::Array2;

use super::{Computed, Ctx, StageFile};
use crate::pipeline::Executor;
use crate::store::write_bytes;
use crate::{Error, Result};

/// The embeddings stage's file: rows and columns (u64 each), then the values.
pub(crate) struct Embeddings(pub Array2<f32>);

impl StageFile for Embeddings {
    fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(Error::io(path))?;
        let bad = |reason: String| Error::Format {
            path: path.to_path_buf(),
            reason,
        };
        let header = |i: usize| {
            bytes
                .get(8 * i..8 * i + 8)
                .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as usize)
        };
        let (Some(rows), Some(cols)) = (header(0), header(1)) else {
            return Err(bad("shorter than its header".into()));
        };
        let values: Vec<f32> = bytes[16..]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Array2::from_shape_vec((rows, cols), values)
            .map(Embeddings)
            .map_err(|e| bad(format!("{e} (header says {rows} × {cols})")))
    }

    fn save(&self, path: &Path) -> Result<()> {
        let (rows, cols) = self.0.dim();
        let mut bytes = Vec::with_capacity(16 + 4 * rows * cols);
        bytes.extend((rows as u64).to_le_bytes());
        bytes.extend((cols as u64).to_le_bytes());
        bytes.extend(self.0.iter().flat_map(|v| v.to_le_bytes()));
        write_bytes(path, &bytes)
    }
}

pub(crate) fn run<X: Executor>(cx: &mut Ctx<'_, X>, texts: &[&str]) -> Result<Array2<f32>> {
    let inputs = serde_json::json!({
        "embedder": cx.embedder.model_id(), "dim": cx.embedder.dim(),
    });
    let Embeddings(e) = cx.stage("embed", "02-embeddings.f32", inputs, |cx| {
        let e = cx.embedder.embed_with_progress(texts, &|_| {})?;
        if e.nrows() != texts.len() {
            return Err(Error::Input(format!(
                "the embedder returned {} vectors for {} documents",
                e.nrows(),
                texts.len()
            )));
        }
        (cx.progress)("embed", texts.len(), texts.len());
        Ok(Computed::new(Embeddings(e), &[("documents", texts.len())]))
    })?;
    Ok(e)
}
