//! Text-file corpora: a directory of `*.txt` files, one article each.

use std::fs;
use std::path::{Path, PathBuf};

use super::{CorpusDoc, CorpusReader, Gather};
use crate::error::{io_error, Error, Result};
use crate::read::{strip_bom, Fault, Loaded, ReadOptions};

/// Reads the `*.txt` files of `dir` (not its subdirectories) in file-name order; see
/// [`CorpusReader::read`].
pub(super) fn read(
    reader: &CorpusReader,
    dir: &Path,
    options: &ReadOptions,
) -> Result<Loaded<CorpusDoc>> {
    let files = text_files(dir)?;
    let mut gather = Gather::new(reader, options);
    for (index, file) in files.iter().enumerate() {
        let bytes = fs::read(file).map_err(io_error(file))?;
        if gather.take(file_doc(reader, file, &bytes), file, index, None)? {
            break;
        }
    }
    Ok(gather.finish())
}

/// The `*.txt` files (any case) of `dir`, sorted by name for a stable order.
fn text_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let path = entry.map_err(io_error(dir))?.path();
        let is_txt = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("txt"));
        if is_txt && path.is_file() {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(Error::Layout {
            path: dir.to_path_buf(),
            reason: "no *.txt file: a text corpus is a directory of .txt files, one article each"
                .into(),
        });
    }
    files.sort();
    Ok(files)
}

/// The document of one file: its stem as id, its whole text (a byte order mark dropped).
fn file_doc(
    reader: &CorpusReader,
    file: &Path,
    bytes: &[u8],
) -> std::result::Result<CorpusDoc, Fault> {
    let text = std::str::from_utf8(strip_bom(bytes))
        .map_err(|e| Fault::record(format!("not valid UTF-8: {e}")))?;
    if text.trim().is_empty() {
        return Err(Fault::record("blank file"));
    }
    let stem = file.file_stem().unwrap_or_default().to_string_lossy();
    let mut doc = reader.doc(1, text, |_| None);
    doc.id = stem.into_owned();
    Ok(doc)
}
