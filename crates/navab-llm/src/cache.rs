//! An on-disk response cache that wraps any [`ChatModel`] (feature `cache`).
//!
//! ```
//! use navab_llm::cache::CachedChatModel;
//! use navab_llm::testing::{block_on, ScriptedChatModel};
//! use navab_llm::{ChatMessage, ChatModel, ChatRequest};
//!
//! let dir = std::env::temp_dir().join(format!("navab-cache-doc-{}", std::process::id()));
//! let request = ChatRequest::new(vec![ChatMessage::user("Is this value-related?")]);
//! {
//!     let model = CachedChatModel::open(ScriptedChatModel::new(["## yes"]), &dir).unwrap();
//!     assert_eq!(block_on(model.chat(&request)).unwrap().content, "## yes");
//! }
//! // A rerun (or a resume after a crash) answers from disk: the script is empty, and no call
//! // reaches the model.
//! let model = CachedChatModel::open(ScriptedChatModel::new(Vec::<String>::new()), &dir).unwrap();
//! assert_eq!(block_on(model.chat(&request)).unwrap().content, "## yes");
//! assert_eq!((model.stats().hits, model.stats().misses), (1, 0));
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```
//!
//! # Key
//!
//! SHA-256 of the inner model's [`ChatModel::model_id`] and the request's
//! [`ChatRequest::canonical_json`] (messages, sampling, seed, stop). The endpoint URL is not
//! part of it: the same model served elsewhere gives the same key. Only successful responses
//! are stored; a failed call is tried again next time.
//!
//! # Storage and crash safety
//!
//! A folder of append-only JSON Lines segments, `responses-000001.jsonl`, ..., one line per
//! response: `{"key":"<64 hex>","response":{...}}`. Opening reads every segment into a
//! `HashMap` (hundreds of thousands of entries take well under a second and a few hundred MB
//! at most); later lines win over earlier ones with the same key. Each opening appends to a
//! *new* segment, created on the first store, so a line torn by a crash is never continued by
//! a later write. A line that does not parse (a torn last line after a crash, or damage) is
//! skipped and listed in [`ResponseCache::open_report`]; the call it held is simply made again.
//!
//! Each line is written with one `write` to a file opened for appending, while a mutex is held,
//! so concurrent tasks never interleave lines, and a line that returned is in the operating
//! system's hands: a crash of the process loses nothing stored. [`Durability::SyncEach`] also
//! `fsync`s every line (and the folder when a segment is created), for power loss.
//! [`Durability::Flush`], the default, leaves that to the OS (and to [`ResponseCache::sync`],
//! also called on drop): a power cut may lose the last lines, which are then made again.
//!
//! File I/O is synchronous: one small append per miss, nothing next to a model call.
//!
//! Available with the crate feature `cache`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::chat::{BoxFuture, ChatModel, ChatRequest, ChatResponse};
use crate::error::{Error, Result};

/// A cache key: SHA-256 of the model id and the canonical request.
pub type CacheKey = [u8; 32];

/// The key of `request` sent to the model named `model_id`.
pub fn cache_key(model_id: Option<&str>, request: &ChatRequest) -> CacheKey {
    let mut hasher = Sha256::new();
    // A length prefix keeps ("ab", "c") and ("a", "bc") apart; `None` differs from `Some("")`.
    match model_id {
        Some(id) => {
            hasher.update(b"model:");
            hasher.update((id.len() as u64).to_le_bytes());
            hasher.update(id.as_bytes());
        }
        None => hasher.update(b"nomodel"),
    }
    hasher.update(request.canonical_json().as_bytes());
    hasher.finalize().into()
}

/// How hard the cache pushes each stored line to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// Write each line to the OS at once (survives a crash of the process, not a power cut).
    #[default]
    Flush,
    /// Also `fsync` each line: survives a power cut, costs a disk flush per stored response.
    SyncEach,
}

/// A line of a segment that opening skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedLine {
    /// The segment file.
    pub file: PathBuf,
    /// 1-based line number.
    pub line: usize,
    /// Whether it was the file's unterminated last line (what a crash mid-write leaves).
    pub torn_tail: bool,
    /// Why it was skipped.
    pub reason: String,
}

/// What [`ResponseCache::open`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpenReport {
    /// Segment files read.
    pub segments: usize,
    /// Lines read and kept (duplicates of a key included).
    pub lines: usize,
    /// Distinct keys loaded.
    pub entries: usize,
    /// Lines that did not parse, skipped.
    pub skipped: Vec<SkippedLine>,
}

/// Counts of a [`ResponseCache`] since it was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Responses held (loaded plus stored).
    pub entries: usize,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups not found.
    pub misses: u64,
    /// Responses written.
    pub stores: u64,
}

#[derive(Serialize)]
struct LineOut<'a> {
    key: &'a str,
    response: &'a ChatResponse,
}

#[derive(Deserialize)]
struct LineIn {
    key: String,
    response: ChatResponse,
}

struct Segment {
    file: File,
    path: PathBuf,
}

/// The on-disk store behind [`CachedChatModel`]; usable on its own. `Send + Sync`: share it
/// between tasks by reference or `Arc`.
pub struct ResponseCache {
    dir: PathBuf,
    durability: Durability,
    entries: Mutex<HashMap<CacheKey, ChatResponse>>,
    segment: Mutex<Option<Segment>>,
    report: OpenReport,
    hits: AtomicU64,
    misses: AtomicU64,
    stores: AtomicU64,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("dir", &self.dir)
            .field("durability", &self.durability)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

const SEGMENT_PREFIX: &str = "responses-";
const SEGMENT_SUFFIX: &str = ".jsonl";

fn segment_number(name: &str) -> Option<u64> {
    name.strip_prefix(SEGMENT_PREFIX)?
        .strip_suffix(SEGMENT_SUFFIX)?
        .parse()
        .ok()
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::CacheIo {
        path: path.to_path_buf(),
        source,
    }
}

fn to_hex(key: &CacheKey) -> String {
    let mut out = String::with_capacity(64);
    for byte in key {
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}

fn from_hex(text: &str) -> Option<CacheKey> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(key)
}

impl ResponseCache {
    /// Opens (creating it if needed) the cache folder `dir` and loads every segment.
    ///
    /// Lines that do not parse are skipped and listed in [`ResponseCache::open_report`]; only
    /// I/O failures are errors, naming the file.
    pub fn open(dir: impl Into<PathBuf>, durability: Durability) -> Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let mut segments = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_error(&dir))? {
            let entry = entry.map_err(io_error(&dir))?;
            if let Some(n) = entry.file_name().to_str().and_then(segment_number) {
                segments.push((n, entry.path()));
            }
        }
        segments.sort();
        let mut entries = HashMap::new();
        let mut report = OpenReport {
            segments: segments.len(),
            ..OpenReport::default()
        };
        for (_, path) in &segments {
            let bytes = fs::read(path).map_err(io_error(path))?;
            let complete = bytes.ends_with(b"\n");
            let mut lines = bytes.split(|&b| b == b'\n').peekable();
            let mut number = 0;
            while let Some(line) = lines.next() {
                number += 1;
                let last = lines.peek().is_none();
                if last && complete {
                    break; // the empty piece after the final newline
                }
                if line.iter().all(u8::is_ascii_whitespace) && !last {
                    continue;
                }
                let parsed = serde_json::from_slice::<LineIn>(line)
                    .map_err(|e| e.to_string())
                    .and_then(|l| match from_hex(&l.key) {
                        Some(key) => Ok((key, l.response)),
                        None => Err(format!("key {:?} is not 64 hex digits", l.key)),
                    });
                match parsed {
                    Ok((key, response)) => {
                        report.lines += 1;
                        entries.insert(key, response);
                    }
                    Err(reason) => report.skipped.push(SkippedLine {
                        file: path.clone(),
                        line: number,
                        torn_tail: last && !complete,
                        reason,
                    }),
                }
            }
        }
        report.entries = entries.len();
        Ok(Self {
            dir,
            durability,
            entries: Mutex::new(entries),
            segment: Mutex::new(None),
            report,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            stores: AtomicU64::new(0),
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What opening found, skipped lines included.
    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    /// The counts so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            entries: self.lock_entries().len(),
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            stores: self.stores.load(Ordering::Relaxed),
        }
    }

    fn lock_entries(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, ChatResponse>> {
        // A panic while holding the lock cannot leave the map half-updated (one insert), so a
        // poisoned lock is still good to use.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The stored response for `key`, counting a hit or a miss.
    pub fn get(&self, key: &CacheKey) -> Option<ChatResponse> {
        let found = self.lock_entries().get(key).cloned();
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Stores `response` under `key`: appends a line to this opening's segment, then makes it
    /// visible to [`ResponseCache::get`].
    pub fn put(&self, key: &CacheKey, response: &ChatResponse) -> Result<()> {
        let mut line = serde_json::to_string(&LineOut {
            key: &to_hex(key),
            response,
        })?;
        line.push('\n');
        {
            let mut guard = self.segment.lock().unwrap_or_else(|p| p.into_inner());
            if guard.is_none() {
                *guard = Some(self.new_segment()?);
            }
            if let Some(segment) = guard.as_mut() {
                segment
                    .file
                    .write_all(line.as_bytes())
                    .map_err(io_error(&segment.path))?;
                if self.durability == Durability::SyncEach {
                    segment.file.sync_data().map_err(io_error(&segment.path))?;
                }
            }
        }
        self.lock_entries().insert(*key, response.clone());
        self.stores.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// `fsync`s the current segment, if any.
    pub fn sync(&self) -> Result<()> {
        let guard = self.segment.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(segment) = guard.as_ref() {
            segment.file.sync_data().map_err(io_error(&segment.path))?;
        }
        Ok(())
    }

    fn new_segment(&self) -> Result<Segment> {
        let mut next = 1 + fs::read_dir(&self.dir)
            .map_err(io_error(&self.dir))?
            .filter_map(|e| e.ok()?.file_name().to_str().and_then(segment_number))
            .max()
            .unwrap_or(0);
        loop {
            let path = self
                .dir
                .join(format!("{SEGMENT_PREFIX}{next:06}{SEGMENT_SUFFIX}"));
            // `create_new`: another process opening the same folder takes the next number.
            match OpenOptions::new().append(true).create_new(true).open(&path) {
                Ok(file) => {
                    if self.durability == Durability::SyncEach {
                        sync_dir(&self.dir)?;
                    }
                    return Ok(Segment { file, path });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => next += 1,
                Err(e) => return Err(io_error(&path)(e)),
            }
        }
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<()> {
    Ok(())
}

impl Drop for ResponseCache {
    fn drop(&mut self) {
        // Best effort: an error here has no one to report to, and nothing is lost that a
        // rerun would not redo.
        let _ = self.sync();
    }
}

/// A [`ChatModel`] that answers from a [`ResponseCache`] when it can and asks `inner` (then
/// stores the reply) when it cannot. See the [module docs](self).
#[derive(Debug)]
pub struct CachedChatModel<M> {
    inner: M,
    cache: ResponseCache,
}

impl<M: ChatModel> CachedChatModel<M> {
    /// Wraps `inner` with the cache folder `dir` ([`Durability::Flush`]).
    pub fn open(inner: M, dir: impl Into<PathBuf>) -> Result<Self> {
        Ok(Self::with_cache(
            inner,
            ResponseCache::open(dir, Durability::Flush)?,
        ))
    }

    /// Wraps `inner` with an opened cache.
    pub fn with_cache(inner: M, cache: ResponseCache) -> Self {
        Self { inner, cache }
    }

    /// The wrapped model.
    pub fn inner(&self) -> &M {
        &self.inner
    }

    /// The cache.
    pub fn cache(&self) -> &ResponseCache {
        &self.cache
    }

    /// The cache's counts.
    pub fn stats(&self) -> CacheStats {
        self.cache.stats()
    }

    async fn call(&self, request: &ChatRequest) -> Result<ChatResponse> {
        let key = cache_key(self.inner.model_id(), request);
        if let Some(response) = self.cache.get(&key) {
            return Ok(response);
        }
        let response = self.inner.chat(request).await?;
        // A reply that cannot be stored is reported, not silently returned: a resume would
        // otherwise pay for it again without anyone knowing why.
        self.cache.put(&key, &response)?;
        Ok(response)
    }
}

impl<M: ChatModel> ChatModel for CachedChatModel<M> {
    fn chat<'a>(&'a self, request: &'a ChatRequest) -> BoxFuture<'a, Result<ChatResponse>> {
        Box::pin(self.call(request))
    }

    fn model_id(&self) -> Option<&str> {
        self.inner.model_id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::ChatMessage;

    fn request(text: &str) -> ChatRequest {
        ChatRequest::new(vec![ChatMessage::user(text)])
    }

    #[test]
    fn keys_depend_on_model_and_every_request_field() {
        let base = request("a");
        let k = cache_key(Some("m"), &base);
        assert_eq!(k, cache_key(Some("m"), &request("a")));
        assert_ne!(k, cache_key(Some("m2"), &base));
        assert_ne!(k, cache_key(None, &base));
        assert_ne!(cache_key(None, &base), cache_key(Some(""), &base));
        assert_ne!(k, cache_key(Some("m"), &request("b")));
        let mut hot = base.clone();
        hot.temperature = Some(0.7);
        assert_ne!(k, cache_key(Some("m"), &hot));
        assert_ne!(k, cache_key(Some("m"), &base.clone().with_stop("##")));
        let mut seeded = base;
        seeded.seed = Some(1);
        assert_ne!(k, cache_key(Some("m"), &seeded));
    }

    #[test]
    fn hex_round_trips_and_rejects_bad_keys() {
        let key = cache_key(Some("m"), &request("x"));
        assert_eq!(from_hex(&to_hex(&key)), Some(key));
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex(&"zz".repeat(32)), None);
    }

    #[test]
    fn a_torn_last_line_is_skipped_reported_and_never_continued() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (
            cache_key(None, &request("a")),
            cache_key(None, &request("b")),
        );
        {
            let cache = ResponseCache::open(dir.path(), Durability::SyncEach).unwrap();
            cache.put(&a, &ChatResponse::new("A")).unwrap();
            cache.put(&b, &ChatResponse::new("B")).unwrap();
        }
        // Simulate a crash in the middle of writing the second line.
        let segment = dir.path().join("responses-000001.jsonl");
        let bytes = fs::read(&segment).unwrap();
        let first_end = bytes.iter().position(|&c| c == b'\n').unwrap() + 1;
        fs::write(&segment, &bytes[..first_end + 20]).unwrap();

        let cache = ResponseCache::open(dir.path(), Durability::Flush).unwrap();
        let report = cache.open_report();
        assert_eq!((report.segments, report.entries), (1, 1));
        assert_eq!(report.skipped.len(), 1);
        assert!(report.skipped[0].torn_tail);
        assert_eq!(report.skipped[0].line, 2);
        assert_eq!(cache.get(&a).unwrap().content, "A");
        assert!(cache.get(&b).is_none());
        // The redone call goes to a new segment, not after the torn bytes.
        cache.put(&b, &ChatResponse::new("B")).unwrap();
        drop(cache);
        assert!(dir.path().join("responses-000002.jsonl").exists());
        let cache = ResponseCache::open(dir.path(), Durability::Flush).unwrap();
        assert_eq!(cache.get(&b).unwrap().content, "B");
        assert_eq!(cache.open_report().entries, 2);
    }

    #[test]
    fn a_damaged_middle_line_is_skipped_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let key = cache_key(None, &request("ok"));
        let good = format!(
            "{{\"key\":\"{}\",\"response\":{{\"content\":\"fine\"}}}}\n",
            to_hex(&key)
        );
        let text =
            format!("{{\"key\":\"00\",\"response\":{{\"content\":\"x\"}}}}\nnot json\n{good}");
        fs::write(dir.path().join("responses-000007.jsonl"), text).unwrap();
        fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let cache = ResponseCache::open(dir.path(), Durability::Flush).unwrap();
        let skipped: Vec<_> = cache
            .open_report()
            .skipped
            .iter()
            .map(|s| (s.line, s.torn_tail))
            .collect();
        assert_eq!(skipped, [(1, false), (2, false)]);
        assert_eq!(cache.get(&key).unwrap().content, "fine");
        cache.put(&key, &ChatResponse::new("newer")).unwrap();
        assert!(dir.path().join("responses-000008.jsonl").exists());
    }
}
