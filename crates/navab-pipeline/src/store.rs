//! Stage files and the run manifest: what makes a run resumable.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// A stage as the manifest records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    /// Wall time of the run that computed it, in seconds.
    pub seconds: f64,
    /// Counts the stage reported (items in, kept, failed, ...).
    pub counts: BTreeMap<String, usize>,
    /// Everything the stage's output depends on besides earlier stages (settings, model and
    /// prompt identities, the corpus hash): the stage is reused only when this is unchanged.
    #[serde(default)]
    pub inputs: serde_json::Value,
    /// LLM calls that failed (transport, authentication, server errors after retries). A stage
    /// with failed calls is incomplete: a rerun computes it again, and the response cache
    /// answers the calls that had succeeded.
    #[serde(default)]
    pub failed_calls: usize,
}

impl StageRecord {
    /// Whether the stage finished with every LLM call answered.
    pub fn complete(&self) -> bool {
        self.failed_calls == 0
    }
}

/// `manifest.json` of a run directory: the stages computed so far. A stage is reused on a
/// rerun when the manifest lists it as complete, with the same inputs, its output file exists
/// and no stage before it was computed again; anything after a recomputed stage is recomputed
/// too (its input changed).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Stages by name.
    pub stages: BTreeMap<String, StageRecord>,
}

/// A run directory.
#[derive(Debug)]
pub struct RunDir {
    root: PathBuf,
    manifest: Manifest,
    /// Set once a stage was recomputed: later stages must not be trusted.
    dirty: bool,
}

impl RunDir {
    /// Opens (or creates) `root` and reads its manifest. A manifest that does not parse (an
    /// older layout) is set aside: every stage is computed again.
    pub fn open(root: &Path) -> Result<Self> {
        std::fs::create_dir_all(root.join("stages")).map_err(Error::io(root))?;
        let path = root.join("manifest.json");
        let manifest: Manifest = if path.exists() {
            read_json(&path).unwrap_or_default()
        } else {
            Manifest::default()
        };
        Ok(RunDir {
            root: root.to_path_buf(),
            manifest,
            dirty: false,
        })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Path of a stage file.
    pub fn stage_path(&self, file: &str) -> PathBuf {
        self.root.join("stages").join(file)
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The record of `stage` when it can be reused: complete, computed from the same
    /// `inputs`, its file present, nothing before it recomputed.
    pub fn reusable(
        &self,
        stage: &str,
        file: &str,
        inputs: &serde_json::Value,
    ) -> Option<&StageRecord> {
        let record = self.manifest.stages.get(stage)?;
        let ok = !self.dirty
            && record.complete()
            && record.inputs == *inputs
            && self.stage_path(file).exists();
        ok.then_some(record)
    }

    /// Records that `stage` does not run this time (an ablation, or a screening mode that
    /// leaves it out). If an earlier run computed it, the stages after it were computed from
    /// its output: they are no longer reusable in this run.
    pub fn skip(&mut self, stage: &str) -> Result<()> {
        if self.manifest.stages.remove(stage).is_some() {
            self.dirty = true;
            write_json(&self.root.join("manifest.json"), &self.manifest)?;
        }
        Ok(())
    }

    /// Records `stage` (complete or not) and writes the manifest atomically. Later stages are
    /// no longer reusable in this run.
    pub fn finish(&mut self, stage: &str, record: StageRecord) -> Result<()> {
        self.dirty = true;
        self.manifest.stages.insert(stage.to_string(), record);
        write_json(&self.root.join("manifest.json"), &self.manifest)
    }
}

/// SHA-256 of a corpus, in hex: a file's bytes, or for a directory the names and bytes of
/// its `*.txt` files in name order (what the reader reads; other files do not count).
pub(crate) fn corpus_sha256(path: &Path) -> Result<String> {
    if !path.is_dir() {
        let mut hasher = Sha256::new();
        hash_file(path, &mut hasher)?;
        return Ok(hex(&hasher.finalize()));
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(Error::io(path))? {
        let file = entry.map_err(Error::io(path))?.path();
        let is_txt = file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("txt"));
        if is_txt && file.is_file() {
            files.push(file);
        }
    }
    files.sort();
    let mut hasher = Sha256::new();
    for file in &files {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        // Length-prefixed, so that no two listings hash alike by shifting bytes between files.
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        let len = std::fs::metadata(file).map_err(Error::io(file))?.len();
        hasher.update(len.to_le_bytes());
        hash_file(file, &mut hasher)?;
    }
    Ok(hex(&hasher.finalize()))
}

/// Feeds a file's bytes to `hasher`, read in blocks (a corpus can be large).
fn hash_file(path: &Path, hasher: &mut Sha256) -> Result<()> {
    let mut file = std::fs::File::open(path).map_err(Error::io(path))?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(Error::io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(())
}

/// SHA-256 of a string, in hex.
pub(crate) fn text_sha256(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `value` as pretty JSON, atomically (temporary file, then rename): a crash leaves
/// the old file or the new one, never half of one.
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    write_bytes(path, &bytes)
}

/// Writes bytes atomically (navab-core's writer: flushed to disk, then renamed into place).
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    navab_core::replace_file(path, bytes).map_err(Error::io(path))
}

/// Reads JSON written by [`write_json`].
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(Error::io(path))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}
