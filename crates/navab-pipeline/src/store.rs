//! Stage files and the run manifest: what makes a run resumable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::{Error, Result};

/// A finished stage, as the manifest records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    /// Wall time of the run that computed it, in seconds.
    pub seconds: f64,
    /// Counts the stage reported (items in, kept, failed, ...).
    pub counts: BTreeMap<String, usize>,
}

/// `manifest.json` of a run directory: finished stages in order. A stage is skipped on a rerun
/// when the manifest lists it **and** its output file exists; anything after a recomputed
/// stage is recomputed too (its input changed).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Finished stages by name.
    pub stages: BTreeMap<String, StageRecord>,
    /// Settings that change results; a rerun with other settings starts over.
    pub settings: serde_json::Value,
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
    /// Opens (or creates) `root`. When the manifest's settings differ from `settings`, earlier
    /// stage results are not reused.
    pub fn open(root: &Path, settings: serde_json::Value) -> Result<Self> {
        std::fs::create_dir_all(root.join("stages")).map_err(Error::io(root))?;
        let path = root.join("manifest.json");
        let mut manifest: Manifest = if path.exists() {
            read_json(&path)?
        } else {
            Manifest::default()
        };
        if manifest.settings != settings {
            manifest = Manifest {
                stages: BTreeMap::new(),
                settings,
            };
        }
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

    /// Whether `stage` can be reused: listed, its file present, nothing before it recomputed.
    pub fn is_done(&self, stage: &str, file: &str) -> bool {
        !self.dirty && self.manifest.stages.contains_key(stage) && self.stage_path(file).exists()
    }

    /// Records `stage` as finished and writes the manifest (atomically).
    pub fn finish(&mut self, stage: &str, record: StageRecord) -> Result<()> {
        self.dirty = true;
        self.manifest.stages.insert(stage.to_string(), record);
        write_json(&self.root.join("manifest.json"), &self.manifest)
    }
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
