//! Reading a sentence-transformers directory: `modules.json`, the pooling module's config,
//! `sentence_bert_config.json` and the transformer's `config.json`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{Error, Result};

/// How token vectors become one sentence vector (sentence-transformers' `Pooling` module).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub enum Pooling {
    /// Mean of the token vectors under the attention mask (all-MiniLM-L6-v2, most models).
    #[default]
    Mean,
    /// The first token's vector (`[CLS]`; bge models).
    Cls,
    /// Element-wise maximum over the real tokens.
    Max,
    /// Sum of the real tokens divided by the square root of their count.
    MeanSqrtLen,
}

impl Pooling {
    /// The name used in the cache key and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::Cls => "cls",
            Pooling::Max => "max",
            Pooling::MeanSqrtLen => "mean_sqrt_len",
        }
    }
}

/// The transformer family, from `config.json`'s `model_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Family {
    /// BERT and models with BERT's layout (MiniLM, bge, e5 small/base).
    Bert,
    /// XLM-RoBERTa (multilingual e5, paraphrase-multilingual-mpnet uses its layout too).
    XlmRoberta,
}

/// What a sentence-transformers directory says about its pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct StConfig {
    /// The directory.
    pub dir: PathBuf,
    /// Transformer family.
    pub family: Family,
    /// Pooling mode.
    pub pooling: Pooling,
    /// Whether a `Normalize` module follows pooling (unit-length outputs).
    pub normalize: bool,
    /// `max_seq_length` of `sentence_bert_config.json`, capped by the model's position table.
    pub max_seq_length: usize,
    /// Output dimension.
    pub dim: usize,
}

#[derive(Deserialize)]
struct Module {
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct PoolingFile {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

#[derive(Deserialize)]
struct SbertFile {
    max_seq_length: Option<usize>,
}

#[derive(Deserialize)]
struct ModelFile {
    model_type: Option<String>,
    hidden_size: usize,
    max_position_embeddings: usize,
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
    serde_json::from_str(&text).map_err(|e| Error::Config {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

impl StConfig {
    /// Reads the directory. A plain HF model directory (no `modules.json`) is accepted with
    /// mean pooling, no normalisation and the model's position limit, which is what
    /// sentence-transformers itself does for such a directory.
    pub fn read(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let model: ModelFile = read_json(&dir.join("config.json"))?;
        let family = match model.model_type.as_deref().unwrap_or("bert") {
            "bert" => Family::Bert,
            "xlm-roberta" | "roberta" => Family::XlmRoberta,
            other => {
                return Err(Error::Unsupported(format!(
                    "{}: model_type `{other}` (supported: bert, xlm-roberta)",
                    dir.join("config.json").display()
                )))
            }
        };
        // RoBERTa-style position tables reserve the first two rows (padding_idx + 1 offset).
        let position_limit = match family {
            Family::Bert => model.max_position_embeddings,
            Family::XlmRoberta => model.max_position_embeddings.saturating_sub(2),
        };
        let mut pooling = Pooling::Mean;
        let mut normalize = false;
        let modules_path = dir.join("modules.json");
        if modules_path.exists() {
            let modules: Vec<Module> = read_json(&modules_path)?;
            for module in &modules {
                let kind = module.kind.rsplit('.').next().unwrap_or(&module.kind);
                match kind {
                    "Transformer" => {}
                    "Pooling" => {
                        let path = dir.join(&module.path).join("config.json");
                        pooling = read_pooling(&path)?;
                    }
                    "Normalize" => normalize = true,
                    other => {
                        return Err(Error::Unsupported(format!(
                            "{}: module `{other}` is not supported (Transformer, Pooling and \
                             Normalize are)",
                            modules_path.display()
                        )))
                    }
                }
            }
        }
        let sbert_path = dir.join("sentence_bert_config.json");
        let max_seq_length = if sbert_path.exists() {
            let sbert: SbertFile = read_json(&sbert_path)?;
            sbert.max_seq_length.unwrap_or(position_limit)
        } else {
            position_limit
        }
        .min(position_limit);
        Ok(StConfig {
            dir,
            family,
            pooling,
            normalize,
            max_seq_length,
            dim: model.hidden_size,
        })
    }
}

fn read_pooling(path: &Path) -> Result<Pooling> {
    let file: PoolingFile = read_json(path)?;
    let modes = [
        (file.pooling_mode_mean_tokens, Pooling::Mean),
        (file.pooling_mode_cls_token, Pooling::Cls),
        (file.pooling_mode_max_tokens, Pooling::Max),
        (file.pooling_mode_mean_sqrt_len_tokens, Pooling::MeanSqrtLen),
    ];
    let chosen: Vec<Pooling> = modes.iter().filter(|m| m.0).map(|m| m.1).collect();
    match chosen.as_slice() {
        [one] => Ok(*one),
        [] => Err(Error::Config {
            path: path.to_path_buf(),
            reason: "no pooling mode is enabled".into(),
        }),
        _ => Err(Error::Unsupported(format!(
            "{}: several pooling modes at once (concatenated outputs) are not supported",
            path.display()
        ))),
    }
}
