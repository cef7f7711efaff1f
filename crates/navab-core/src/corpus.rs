//! A news corpus in JSONL: one object a line with a text field, as the pipeline and the topic,
//! embedding and c-TF-IDF tools read it.
//!
//! ```
//! use navab_core::{CorpusReader, ReadOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("news.jsonl");
//! std::fs::write(
//!     &path,
//!     "{\"id\": \"a\", \"text\": \"First.\\n\\nSecond.\", \"category\": \"politics\"}\n\
//!      not json\n\
//!      {\"text\": \"Third.\"}\n",
//! )?;
//! let loaded = CorpusReader::new("text")
//!     .label("category")
//!     .read(&path, &ReadOptions::lenient())?;
//! let ids: Vec<&str> = loaded.items.iter().map(|d| d.id.as_str()).collect();
//! assert_eq!(ids, ["a", "line3"]);
//! assert_eq!(loaded.items[0].label.as_deref(), Some("politics"));
//! assert_eq!(loaded.skipped[0].line, Some(2));
//!
//! // Strict mode: the first bad line is an error naming the file, record and line.
//! let err = CorpusReader::new("text").read(&path, &ReadOptions::strict()).unwrap_err();
//! assert!(err.to_string().contains("record 1 (line 2)"), "{err}");
//!
//! // One document per paragraph.
//! let paragraphs = CorpusReader::new("text").paragraphs(true).read(&path, &ReadOptions::lenient())?;
//! assert_eq!(paragraphs.items[1].id, "a#p1");
//! assert_eq!(paragraphs.items[1].text, "Second.");
//! # Ok(()) }
//! ```

use std::collections::HashSet;
use std::path::Path;

use serde_json::{Map, Value};

use crate::error::Result;
use crate::jsonl::read_jsonl_until;
use crate::read::{as_record, required_str, Fault, Loaded, ReadOptions};

/// One document of a corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorpusDoc {
    /// The id field, trimmed; `line<N>` when absent. In paragraph mode `#p<k>` is appended
    /// (`k` from 0).
    pub id: String,
    /// 1-based line of the file it came from.
    pub line: usize,
    /// The text as written (in paragraph mode, the paragraph, trimmed).
    pub text: String,
    /// The label field, when one was asked for and the line has it.
    pub label: Option<String>,
    /// Field `title`.
    pub title: Option<String>,
    /// Field `nation`: the nation whose values the outlet speaks for.
    pub nation: Option<String>,
    /// Field `source`: the outlet.
    pub source: Option<String>,
    /// Field `date`: publication date.
    pub date: Option<String>,
    /// Field `place`: a place the article names or its dateline.
    pub place: Option<String>,
    /// Field `language`: the language the text is written in (a code such as `zh` or a name).
    pub language: Option<String>,
}

/// Reads a JSONL corpus; see the [module docs](self).
///
/// The text field must be a non-blank string (else the line is a bad record, field named). The
/// id, label and the optional fields of [`CorpusDoc`] are read when they are non-blank strings,
/// trimmed, and ignored otherwise. A line that repeats an earlier line's id is a bad record.
/// Blank lines are not records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorpusReader {
    /// Field holding the text.
    pub text_field: String,
    /// Field holding the id (`id`).
    pub id_field: String,
    /// Field holding a ground-truth label (none by default).
    pub label_field: Option<String>,
    /// One document per blank-line separated paragraph.
    pub paragraphs: bool,
    /// Stop after this many documents (the rest of the file is not read).
    pub limit: Option<usize>,
}

impl CorpusReader {
    /// Reads the text from `text_field`, ids from `id`, no label, whole texts, no limit.
    pub fn new(text_field: impl Into<String>) -> Self {
        Self {
            text_field: text_field.into(),
            id_field: "id".into(),
            label_field: None,
            paragraphs: false,
            limit: None,
        }
    }

    /// Sets [`CorpusReader::label_field`].
    pub fn label(mut self, field: impl Into<String>) -> Self {
        self.label_field = Some(field.into());
        self
    }

    /// Sets [`CorpusReader::paragraphs`].
    pub fn paragraphs(mut self, paragraphs: bool) -> Self {
        self.paragraphs = paragraphs;
        self
    }

    /// Sets [`CorpusReader::limit`].
    pub fn limit(mut self, limit: Option<usize>) -> Self {
        self.limit = limit;
        self
    }

    /// Reads the documents of `path`, streaming it.
    ///
    /// # Errors
    /// [`crate::Error::Io`] if the file cannot be read; in strict mode [`crate::Error::Record`]
    /// for the first bad line (not JSON, not an object, no text, a repeated id), naming its
    /// record index, line and field.
    ///
    /// # Complexity
    /// `O(file size)` time; memory for the documents and their ids.
    pub fn read(&self, path: impl AsRef<Path>, options: &ReadOptions) -> Result<Loaded<CorpusDoc>> {
        let mut seen = HashSet::new();
        let mut count = 0;
        let lines = read_jsonl_until(
            path.as_ref(),
            options,
            |value, line| {
                let (id, docs) = self.docs_of(value, line)?;
                if seen.contains(&id) {
                    return Err(Fault::field(&self.id_field, format!("duplicate id {id:?}")));
                }
                seen.insert(id);
                Ok(docs)
            },
            |lines| {
                count += lines.last().map_or(0, Vec::len);
                self.limit.is_some_and(|limit| count >= limit)
            },
        )?;
        let mut items: Vec<CorpusDoc> = lines.items.into_iter().flatten().collect();
        if let Some(limit) = self.limit {
            items.truncate(limit);
        }
        Ok(Loaded {
            items,
            skipped: lines.skipped,
        })
    }

    /// The line's id and its document(s): one, or one per paragraph.
    fn docs_of(
        &self,
        value: &Value,
        line: usize,
    ) -> std::result::Result<(String, Vec<CorpusDoc>), Fault> {
        let record = as_record(value)?;
        let text = required_str(record, &self.text_field)?;
        let id = text_field(record, &self.id_field).unwrap_or_else(|| format!("line{line}"));
        let doc = CorpusDoc {
            id,
            line,
            text: text.to_string(),
            label: self
                .label_field
                .as_deref()
                .and_then(|f| text_field(record, f)),
            title: text_field(record, "title"),
            nation: text_field(record, "nation"),
            source: text_field(record, "source"),
            date: text_field(record, "date"),
            place: text_field(record, "place"),
            language: text_field(record, "language"),
        };
        if !self.paragraphs {
            return Ok((doc.id.clone(), vec![doc]));
        }
        let paragraphs = text
            .split("\n\n")
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .enumerate()
            .map(|(k, paragraph)| CorpusDoc {
                id: format!("{}#p{k}", doc.id),
                text: paragraph.to_string(),
                ..doc.clone()
            })
            .collect();
        Ok((doc.id, paragraphs))
    }
}

/// A non-blank string field, trimmed; anything else is `None`.
fn text_field(record: &Map<String, Value>, name: &str) -> Option<String> {
    record
        .get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn bad_lines_are_skipped_and_named() {
        let (_dir, path) = write(concat!(
            "{\"id\": \"a\", \"text\": \" Hello \", \"nation\": \" UK \", \"source\": 5}\n",
            "\n",
            "{\"id\": \"b\", \"text\": \"  \"}\n",
            "not json\n",
            "{\"id\": \"a\", \"text\": \"again\"}\n",
            "[1, 2]\n",
            "{\"text\": \"no id\", \"category\": \"tech\"}\n",
        ));
        let loaded = CorpusReader::new("text")
            .label("category")
            .read(&path, &ReadOptions::lenient())
            .unwrap();
        let docs = &loaded.items;
        assert_eq!(docs.len(), 2);
        assert_eq!(
            (docs[0].id.as_str(), docs[0].text.as_str()),
            ("a", " Hello ")
        );
        assert_eq!(docs[0].nation.as_deref(), Some("UK"));
        assert_eq!(docs[0].source, None);
        assert_eq!((docs[1].id.as_str(), docs[1].line), ("line7", 7));
        assert_eq!(docs[1].label.as_deref(), Some("tech"));
        let skipped: Vec<(Option<usize>, Option<&str>)> = loaded
            .skipped
            .iter()
            .map(|s| (s.line, s.field.as_deref()))
            .collect();
        assert_eq!(
            skipped,
            [
                (Some(3), Some("text")),
                (Some(4), None),
                (Some(5), Some("id")),
                (Some(6), None)
            ]
        );
        assert!(loaded.skipped[2].reason.contains("duplicate id \"a\""));
    }

    #[test]
    fn limit_stops_reading_and_counts_paragraphs() {
        let (_dir, path) = write(concat!(
            "{\"text\": \"p0\\n\\np1\\n\\n\\n p2 \"}\n",
            "{\"text\": \"q\"}\n",
            "not json\n",
        ));
        let reader = CorpusReader::new("text").paragraphs(true).limit(Some(2));
        let loaded = reader.read(&path, &ReadOptions::strict()).unwrap();
        let got: Vec<(&str, &str)> = loaded
            .items
            .iter()
            .map(|d| (d.id.as_str(), d.text.as_str()))
            .collect();
        assert_eq!(got, [("line1#p0", "p0"), ("line1#p1", "p1")]);
        let all = reader
            .limit(Some(4))
            .read(&path, &ReadOptions::lenient())
            .unwrap();
        assert_eq!(all.items.len(), 4);
        assert_eq!(all.items[2].text, "p2");
        assert!(all.skipped.is_empty(), "stopped before the bad line");
    }

    #[test]
    fn paragraph_ids_do_not_hide_a_repeated_id() {
        let (_dir, path) =
            write("{\"id\": \"x\", \"text\": \"a\\n\\nb\"}\n{\"id\": \"x\", \"text\": \"c\"}\n");
        let err = CorpusReader::new("text")
            .paragraphs(true)
            .read(&path, &ReadOptions::strict())
            .unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
