//! The input: a news corpus (JSONL, CSV or a directory of text files).

use std::path::Path;

use navab_core::{CorpusReader, ReadOptions};
use serde::{Deserialize, Serialize};

use crate::lang::Languages;
use crate::{Error, Result};

/// One news document, as the pipeline keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewsDoc {
    /// Unique id (the corpus' `id` field, else `line<N>`).
    pub id: String,
    /// The text.
    pub text: String,
    /// The nation whose values the outlet speaks for (field `nation`, else the run's default).
    pub nation: String,
    /// The language of the text, a lower-case code (field `language`, else the nation's
    /// language, see [`Languages`]).
    #[serde(default)]
    pub language: String,
    /// The outlet (field `source`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Publication date (field `date`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// A place the article names or its dateline (field `place`), for geographic links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    /// A ground-truth label (field set by `label_field`, e.g. BBC's `category`), for clustering
    /// scores only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// A corpus line that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedLine {
    /// 1-based line number.
    pub line: usize,
    /// Why.
    pub reason: String,
}

/// Reads a corpus with [`navab_core::CorpusReader`]: JSONL (one object a line), CSV with a
/// header row naming the fields (a name ending in `.csv`), or a directory of `*.txt` files (one
/// article each, its id the file stem). The text field is required; `id`, `nation`, `source`,
/// `language`, `date`, `place` and the label field are optional, and a record without `nation`
/// or `source` gets `default_nation` and `default_source`. Blank lines are ignored; a record
/// that is not an object, has no text, has an empty text or repeats an id is skipped and
/// listed (its line, or 0 for a text file, whose reason names it), never a panic. Text and
/// fields are trimmed.
///
/// # Errors
/// The file cannot be read, or no usable document is left.
pub fn read_corpus(
    path: &Path,
    text_field: &str,
    label_field: Option<&str>,
    default_nation: &str,
    default_source: Option<&str>,
    languages: &Languages,
    limit: Option<usize>,
) -> Result<(Vec<NewsDoc>, Vec<SkippedLine>)> {
    let mut reader = CorpusReader::new(text_field).limit(limit);
    reader.label_field = label_field.map(str::to_string);
    reader.default_source = default_source.map(str::to_string);
    let loaded = reader
        .read(path, &ReadOptions::lenient())
        .map_err(|e| match e {
            navab_core::Error::Io { path, source } => Error::Io { path, source },
            other => Error::Core(other),
        })?;
    let skipped: Vec<SkippedLine> = loaded
        .skipped
        .into_iter()
        .map(|s| {
            let mut reason = match &s.field {
                Some(field) => format!("field `{field}`: {}", s.reason),
                None => s.reason.clone(),
            };
            // A text file has no line to name: name the file.
            if s.line.is_none() {
                reason = format!("{}: {reason}", s.path.display());
            }
            SkippedLine {
                line: s.line.unwrap_or(0),
                reason,
            }
        })
        .collect();
    if loaded.items.is_empty() {
        return Err(Error::Input(format!(
            "{}: no usable document ({} lines skipped)",
            path.display(),
            skipped.len()
        )));
    }
    let docs = loaded
        .items
        .into_iter()
        .map(|d| {
            let nation = d.nation.unwrap_or_else(|| default_nation.to_string());
            NewsDoc {
                id: d.id,
                text: d.text.trim().to_string(),
                language: languages.language_of(d.language.as_deref(), &nation),
                nation,
                source: d.source,
                date: d.date,
                place: d.place,
                label: d.label,
            }
        })
        .collect();
    Ok((docs, skipped))
}
