//! Optional download from the Hugging Face hub (feature `hub`).
//!
//! Available with the crate feature `hub`.

use std::path::PathBuf;

use crate::{Error, Result};

/// Downloads the files of an HF-layout model (`config.json`, `tokenizer.json`,
/// `tokenizer_config.json` when present, and the safetensors weights, sharded or not) into the
/// local hub cache and returns the directory that holds them, ready for
/// [`crate::LanguageModel::load`].
///
/// Offline, or where the hub is unreachable, this fails with an error that says so and how to
/// load from a local directory instead.
pub fn download(repo: &str, revision: Option<&str>) -> Result<PathBuf> {
    let offline = |e: &dyn std::fmt::Display| {
        Error::Hub(format!(
            "could not fetch `{repo}` ({e}). If this machine has no access to the hub, copy the \
             model directory (config.json, model.safetensors, tokenizer.json) here by other means \
             and pass its path instead"
        ))
    };
    let api = hf_hub::api::sync::Api::new().map_err(|e| offline(&e))?;
    let repo_handle = match revision {
        Some(rev) => api.repo(hf_hub::Repo::with_revision(
            repo.to_string(),
            hf_hub::RepoType::Model,
            rev.to_string(),
        )),
        None => api.model(repo.to_string()),
    };
    let config = repo_handle.get("config.json").map_err(|e| offline(&e))?;
    repo_handle.get("tokenizer.json").map_err(|e| offline(&e))?;
    // Optional: only the chat template lives there.
    let _ = repo_handle.get("tokenizer_config.json");
    if repo_handle.get("model.safetensors").is_err() {
        let index = repo_handle
            .get("model.safetensors.index.json")
            .map_err(|e| offline(&e))?;
        let text = std::fs::read_to_string(&index).map_err(crate::error::io_error(&index))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| Error::Hub(e.to_string()))?;
        let mut shards: Vec<String> = json
            .get("weight_map")
            .and_then(|m| m.as_object())
            .map(|m| {
                m.values()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        shards.sort();
        shards.dedup();
        for shard in shards {
            repo_handle.get(&shard).map_err(|e| offline(&e))?;
        }
    }
    config
        .parent()
        .map(PathBuf::from)
        .ok_or_else(|| Error::Hub("hub cache path has no parent".into()))
}
