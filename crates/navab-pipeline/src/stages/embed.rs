//! 2. Embeddings: one vector per document, per language, kept as raw little-endian f32.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use ndarray::Array2;

use super::{Computed, Ctx, StageFile};
use crate::corpus::NewsDoc;
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

/// Every document's vector: one matrix per language (each language's embedder may have its own
/// dimension), and each document's row in its language's matrix.
pub(crate) struct DocVectors {
    pub by_language: BTreeMap<String, Array2<f32>>,
    pub language: Vec<String>,
    pub row: Vec<usize>,
}

impl DocVectors {
    /// The vectors of `docs` (all in one language), in that order.
    pub fn rows(&self, docs: &[usize]) -> Array2<f32> {
        let Some(&first) = docs.first() else {
            return Array2::zeros((0, 0));
        };
        let matrix = &self.by_language[&self.language[first]];
        let rows: Vec<usize> = docs.iter().map(|&d| self.row[d]).collect();
        matrix.select(ndarray::Axis(0), &rows)
    }
}

/// 2. Embeddings, one stage per language (`embed:<code>`), each with its language's embedder.
pub(crate) fn run<X: Executor>(
    cx: &mut Ctx<'_, X>,
    docs: &[NewsDoc],
    texts: &[&str],
) -> Result<DocVectors> {
    let mut members: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, d) in docs.iter().enumerate() {
        members.entry(d.language.clone()).or_default().push(i);
    }
    let mut out = DocVectors {
        by_language: BTreeMap::new(),
        language: docs.iter().map(|d| d.language.clone()).collect(),
        row: vec![0; docs.len()],
    };
    let (total, mut offset) = (docs.len(), 0);
    for (language, idx) in members {
        let embedder = cx.embedders.for_language(&language);
        let inputs = serde_json::json!({ "embedder": embedder.model_id(), "dim": embedder.dim() });
        let file = format!("02-embeddings-{}.f32", file_safe(&language));
        let lang_texts: Vec<&str> = idx.iter().map(|&i| texts[i]).collect();
        let name = format!("embed:{language}");
        let Embeddings(e) = cx.stage(&name, &file, inputs, |cx| {
            let progress = Mutex::new(&mut cx.progress);
            let on_batch = |done: usize| {
                let mut p = progress.lock().unwrap_or_else(|e| e.into_inner());
                (**p)("embed", offset + done, total);
            };
            let e = embedder.embed_with_progress(&lang_texts, &on_batch)?;
            if e.nrows() != lang_texts.len() {
                return Err(Error::Input(format!(
                    "the {language} embedder returned {} vectors for {} documents",
                    e.nrows(),
                    lang_texts.len()
                )));
            }
            Ok(Computed::new(
                Embeddings(e),
                &[("documents", lang_texts.len())],
            ))
        })?;
        for (r, &i) in idx.iter().enumerate() {
            out.row[i] = r;
        }
        offset += idx.len();
        (cx.progress)("embed", offset, total);
        out.by_language.insert(language, e);
    }
    Ok(out)
}

/// A language code as part of a file name: letters, digits, `-` and `_` kept, the rest `_`.
fn file_safe(code: &str) -> String {
    code.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
