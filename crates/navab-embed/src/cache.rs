//! An on-disk embedding cache: a rerun embeds nothing twice.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use ndarray::Array2;
use sha2::{Digest, Sha256};

use crate::{Embedder, Error, Result};

const MAGIC: &[u8; 8] = b"NAVABEMB";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 16;

type Key = [u8; 32];

/// Hit and miss counts of a [`CachedEmbedder`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    /// Texts served from the cache.
    pub hits: u64,
    /// Texts the inner embedder computed (and the cache stored).
    pub misses: u64,
}

struct Store {
    file: File,
    index: HashMap<Key, usize>,
    rows: Vec<f32>,
}

/// Wraps any [`Embedder`] with an append-only cache file keyed by the SHA-256 of the
/// embedder's [`model_id`](Embedder::model_id) and the text.
///
/// Format: a 16-byte header (`NAVABEMB`, version, dimension), then records of a 32-byte key
/// and `dim` little-endian f32 values. Records are appended after each call, so a crash loses
/// at most the call in flight; a torn last record is cut off when the file is opened again.
/// The whole cache is held in memory (4·dim bytes a text: 1.5 KiB for 384-d).
pub struct CachedEmbedder<E> {
    inner: E,
    path: PathBuf,
    store: Mutex<Store>,
    hits: AtomicU64,
    misses: AtomicU64,
    dropped_tail_bytes: u64,
}

impl<E: Embedder> CachedEmbedder<E> {
    /// Opens (or creates) the cache file at `path` for `inner`.
    ///
    /// # Errors
    /// The file cannot be created or read, is not a cache file, or holds vectors of another
    /// dimension.
    pub fn open(inner: E, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(false)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(Error::io(&path))?;
        let dim = inner.dim();
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(Error::io(&path))?;
        let bad = |reason: String| Error::Cache {
            path: path.clone(),
            reason,
        };
        if bytes.is_empty() {
            let mut header = Vec::with_capacity(HEADER_LEN);
            header.extend_from_slice(MAGIC);
            header.extend_from_slice(&VERSION.to_le_bytes());
            header.extend_from_slice(&(dim as u32).to_le_bytes());
            file.write_all(&header).map_err(Error::io(&path))?;
            bytes = header;
        }
        if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
            return Err(bad("not an embedding cache file (bad header)".into()));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        let file_dim = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes")) as usize;
        if version != VERSION {
            return Err(bad(format!("version {version}, expected {VERSION}")));
        }
        if file_dim != dim {
            return Err(bad(format!(
                "holds {file_dim}-d vectors but the embedder gives {dim}-d: use one cache file per model"
            )));
        }
        let record = 32 + 4 * dim;
        let body = &bytes[HEADER_LEN..];
        let complete = body.len() / record;
        let dropped_tail_bytes = (body.len() - complete * record) as u64;
        let mut index = HashMap::with_capacity(complete);
        let mut rows = Vec::with_capacity(complete * dim);
        for chunk in body.chunks_exact(record) {
            let key: Key = chunk[..32].try_into().expect("32 bytes");
            let slot = rows.len() / dim;
            rows.extend(
                chunk[32..]
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))),
            );
            index.insert(key, slot);
        }
        if dropped_tail_bytes > 0 {
            // A torn record from an interrupted write: cut it so appends stay aligned.
            let keep = (HEADER_LEN + complete * record) as u64;
            file.set_len(keep).map_err(Error::io(&path))?;
        }
        file.seek(SeekFrom::End(0)).map_err(Error::io(&path))?;
        Ok(CachedEmbedder {
            inner,
            path,
            store: Mutex::new(Store { file, index, rows }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            dropped_tail_bytes,
        })
    }

    /// Hits and misses since [`open`](Self::open).
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    /// How many texts the cache holds.
    pub fn len(&self) -> usize {
        self.store.lock().map(|s| s.index.len()).unwrap_or(0)
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of a torn last record found (and cut off) at open; 0 after a clean shutdown.
    pub fn dropped_tail_bytes(&self) -> u64 {
        self.dropped_tail_bytes
    }

    /// The cache file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The wrapped embedder.
    pub fn inner(&self) -> &E {
        &self.inner
    }

    fn key(&self, text: &str) -> Key {
        let mut hasher = Sha256::new();
        hasher.update(self.inner.model_id().as_bytes());
        hasher.update([0u8]);
        hasher.update(text.as_bytes());
        hasher.finalize().into()
    }
}

impl<E: Embedder> Embedder for CachedEmbedder<E> {
    fn embed(&self, texts: &[&str]) -> Result<Array2<f32>> {
        self.embed_with_progress(texts, &|_| {})
    }

    fn embed_with_progress(
        &self,
        texts: &[&str],
        on_batch: &(dyn Fn(usize) + Sync),
    ) -> Result<Array2<f32>> {
        let dim = self.inner.dim();
        let keys: Vec<Key> = texts.iter().map(|t| self.key(t)).collect();
        let mut out = Array2::<f32>::zeros((texts.len(), dim));
        // Texts to compute: first occurrence of each missing key.
        let mut missing: Vec<usize> = Vec::new();
        {
            let store = self.store.lock().map_err(|_| poisoned(&self.path))?;
            let mut seen = std::collections::HashSet::new();
            for (i, key) in keys.iter().enumerate() {
                match store.index.get(key) {
                    Some(&slot) => out.row_mut(i).assign(&ndarray::ArrayView1::from(
                        &store.rows[slot * dim..(slot + 1) * dim],
                    )),
                    None => {
                        if seen.insert(*key) {
                            missing.push(i);
                        }
                    }
                }
            }
        }
        let hits = texts.len() - missing.len();
        self.hits.fetch_add(hits as u64, Ordering::Relaxed);
        if missing.is_empty() {
            on_batch(texts.len());
            return Ok(out);
        }
        let miss_texts: Vec<&str> = missing.iter().map(|&i| texts[i]).collect();
        let computed = self
            .inner
            .embed_with_progress(&miss_texts, &|done| on_batch(hits + done))?;
        self.misses
            .fetch_add(missing.len() as u64, Ordering::Relaxed);

        let mut store = self.store.lock().map_err(|_| poisoned(&self.path))?;
        let mut record = Vec::with_capacity(missing.len() * (32 + 4 * dim));
        for (row, &i) in missing.iter().enumerate() {
            let key = keys[i];
            let vector = computed.row(row);
            if store.index.contains_key(&key) {
                continue; // another thread stored it meanwhile
            }
            record.extend_from_slice(&key);
            for v in vector.iter() {
                record.extend_from_slice(&v.to_le_bytes());
            }
            let slot = store.rows.len() / dim;
            store.rows.extend(vector.iter());
            store.index.insert(key, slot);
        }
        store
            .file
            .write_all(&record)
            .map_err(Error::io(&self.path))?;
        store.file.flush().map_err(Error::io(&self.path))?;
        // Fill every requested row, duplicates of a missing text included.
        for (i, key) in keys.iter().enumerate() {
            if let Some(&slot) = store.index.get(key) {
                out.row_mut(i).assign(&ndarray::ArrayView1::from(
                    &store.rows[slot * dim..(slot + 1) * dim],
                ));
            }
        }
        Ok(out)
    }

    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn model_id(&self) -> &str {
        self.inner.model_id()
    }
}

fn poisoned(path: &Path) -> Error {
    Error::Cache {
        path: path.to_path_buf(),
        reason: "a thread panicked while writing the cache".into(),
    }
}
