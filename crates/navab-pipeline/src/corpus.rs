//! The input: a JSONL news corpus.

use std::io::BufRead;
use std::path::Path;

use serde::{Deserialize, Serialize};

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

/// Reads a JSONL corpus: one object a line with a text field; `nation`, `source`, `date`,
/// `place` and the label field are optional. Blank lines are ignored; a line that is not JSON,
/// has no text, has an empty text or repeats an id is skipped and listed, never a panic.
///
/// # Errors
/// The file cannot be read, or no usable document is left.
pub fn read_corpus(
    path: &Path,
    text_field: &str,
    label_field: Option<&str>,
    default_nation: &str,
    limit: Option<usize>,
) -> Result<(Vec<NewsDoc>, Vec<SkippedLine>)> {
    let file = std::fs::File::open(path).map_err(Error::io(path))?;
    let mut docs = Vec::new();
    let mut skipped = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(Error::io(path))?;
        if line.trim().is_empty() {
            continue;
        }
        let skip = |reason: String| SkippedLine {
            line: n + 1,
            reason,
        };
        let value: serde_json::Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                skipped.push(skip(format!("not JSON: {e}")));
                continue;
            }
        };
        let field = |name: &str| {
            value
                .get(name)
                .and_then(|v| v.as_str())
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let Some(text) = field(text_field) else {
            skipped.push(skip(format!("no non-empty string field `{text_field}`")));
            continue;
        };
        let id = field("id").unwrap_or_else(|| format!("line{}", n + 1));
        if !seen.insert(id.clone()) {
            skipped.push(skip(format!("duplicate id {id:?}")));
            continue;
        }
        docs.push(NewsDoc {
            id,
            text,
            nation: field("nation").unwrap_or_else(|| default_nation.to_string()),
            source: field("source"),
            date: field("date"),
            place: field("place"),
            label: label_field.and_then(field),
        });
        if limit.is_some_and(|l| docs.len() >= l) {
            break;
        }
    }
    if docs.is_empty() {
        return Err(Error::Input(format!(
            "{}: no usable document ({} lines skipped)",
            path.display(),
            skipped.len()
        )));
    }
    Ok((docs, skipped))
}
