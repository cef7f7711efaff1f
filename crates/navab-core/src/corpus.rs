//! A news corpus, as the pipeline and the topic, embedding and c-TF-IDF tools read it: JSONL (one
//! object a line with a text field), CSV with named columns, or a directory of `*.txt` files,
//! one article each.
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
//!
//! // CSV: a header row names the fields; quoted cells may hold commas and line breaks.
//! let csv = dir.path().join("news.csv");
//! std::fs::write(&csv, "id,title,text\nb1,Budget,\"Taxes rise, says the minister.\nMore soon.\"\n")?;
//! let loaded = CorpusReader::new("text")
//!     .default_nation("UK")
//!     .read(&csv, &ReadOptions::strict())?;
//! assert_eq!(loaded.items[0].text, "Taxes rise, says the minister.\nMore soon.");
//! assert_eq!(loaded.items[0].nation.as_deref(), Some("UK"));
//!
//! // A directory of text files: id = the file stem, nation and language from the reader.
//! let articles = dir.path().join("articles");
//! std::fs::create_dir(&articles)?;
//! std::fs::write(articles.join("2024-01-02-vote.txt"), "Le Sénat a voté la réforme.")?;
//! let loaded = CorpusReader::new("text")
//!     .default_nation("France")
//!     .default_language("fr")
//!     .read(&articles, &ReadOptions::strict())?;
//! assert_eq!(loaded.items[0].id, "2024-01-02-vote");
//! assert_eq!(loaded.items[0].language.as_deref(), Some("fr"));
//! # Ok(()) }
//! ```
//!
//! [`CorpusReader::read`] picks the format from the path ([`CorpusFormat::of_path`]: a
//! directory is text files, a name ending in `.csv` is CSV, anything else JSONL);
//! [`CorpusReader::format`] overrides it. Every format reports a bad record the same way: strict
//! mode stops with an [`Error::Record`](crate::Error::Record) naming the file, the record and
//! (JSONL, CSV) its line; lenient mode skips it and lists it in
//! [`Loaded::skipped`](crate::Loaded::skipped).

mod csv_rows;
mod text_files;

use std::collections::HashSet;
use std::path::Path;

use serde_json::{Map, Value};

use crate::error::Result;
use crate::jsonl::read_jsonl_until;
use crate::read::{as_record, required_str, Fault, Loaded, ReadOptions};

/// One document of a corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorpusDoc {
    /// The id field, trimmed; `line<N>` when absent; a text file's stem. In paragraph mode
    /// `#p<k>` is appended (`k` from 0).
    pub id: String,
    /// 1-based line of the file it came from (where a CSV record starts; 1 for a text file).
    pub line: usize,
    /// The text as written (in paragraph mode, the paragraph, trimmed).
    pub text: String,
    /// The label field, when one was asked for and the record has it.
    pub label: Option<String>,
    /// Field `title`.
    pub title: Option<String>,
    /// Field `nation`: the nation whose values the outlet speaks for (else
    /// [`CorpusReader::default_nation`]).
    pub nation: Option<String>,
    /// Field `source`: the outlet (else [`CorpusReader::default_source`]).
    pub source: Option<String>,
    /// Field `date`: publication date.
    pub date: Option<String>,
    /// Field `place`: a place the article names or its dateline.
    pub place: Option<String>,
    /// Field `language`: the language the text is written in, a code such as `zh` or a name
    /// (else [`CorpusReader::default_language`]).
    pub language: Option<String>,
}

/// The file formats of a corpus; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CorpusFormat {
    /// One JSON object a line.
    Jsonl,
    /// CSV (RFC 4180) with a header row naming the fields.
    Csv,
    /// A directory of `*.txt` files, one article each, read in file-name order.
    TextFiles,
}

impl CorpusFormat {
    /// The format a path's kind and name suggest: a directory is [`CorpusFormat::TextFiles`],
    /// a name ending in `.csv` (any case) [`CorpusFormat::Csv`], anything else
    /// [`CorpusFormat::Jsonl`].
    pub fn of_path(path: &Path) -> Self {
        if path.is_dir() {
            Self::TextFiles
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        {
            Self::Csv
        } else {
            Self::Jsonl
        }
    }
}

/// Reads a corpus; see the [module docs](self).
///
/// The text field must be a non-blank string (else the record is a bad record, field named). The
/// id, label and the optional fields of [`CorpusDoc`] are read when they are non-blank strings,
/// trimmed, and ignored otherwise; a record without `nation`, `source` or `language` gets the
/// reader's default, if set. A record that repeats an earlier record's id is a bad record. Blank
/// lines are not records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorpusReader {
    /// Field holding the text (JSONL and CSV).
    pub text_field: String,
    /// Field holding the id (`id`; JSONL and CSV).
    pub id_field: String,
    /// Field holding a ground-truth label (none by default).
    pub label_field: Option<String>,
    /// One document per blank-line separated paragraph.
    pub paragraphs: bool,
    /// Stop after this many documents (the rest of the input is not read).
    pub limit: Option<usize>,
    /// The format; `None` (the default) picks it with [`CorpusFormat::of_path`].
    pub format: Option<CorpusFormat>,
    /// Nation of the documents whose record has none (every text file).
    pub default_nation: Option<String>,
    /// Source (outlet) of the documents whose record has none.
    pub default_source: Option<String>,
    /// Language of the documents whose record has none.
    pub default_language: Option<String>,
}

impl CorpusReader {
    /// Reads the text from `text_field`, ids from `id`, no label, whole texts, no limit, the
    /// format picked from the path, no defaults.
    pub fn new(text_field: impl Into<String>) -> Self {
        Self {
            text_field: text_field.into(),
            id_field: "id".into(),
            label_field: None,
            paragraphs: false,
            limit: None,
            format: None,
            default_nation: None,
            default_source: None,
            default_language: None,
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

    /// Sets [`CorpusReader::format`], overriding the guess from the path.
    pub fn format(mut self, format: CorpusFormat) -> Self {
        self.format = Some(format);
        self
    }

    /// Sets [`CorpusReader::default_nation`].
    pub fn default_nation(mut self, nation: impl Into<String>) -> Self {
        self.default_nation = Some(nation.into());
        self
    }

    /// Sets [`CorpusReader::default_source`].
    pub fn default_source(mut self, source: impl Into<String>) -> Self {
        self.default_source = Some(source.into());
        self
    }

    /// Sets [`CorpusReader::default_language`].
    pub fn default_language(mut self, language: impl Into<String>) -> Self {
        self.default_language = Some(language.into());
        self
    }

    /// Reads the documents of `path` (a file, or a directory of text files), streaming it.
    ///
    /// # Errors
    /// [`crate::Error::Io`] if the input cannot be read; [`crate::Error::Format`] for a CSV file
    /// without the text column; [`crate::Error::Layout`] for a directory without `*.txt` files;
    /// in strict mode [`crate::Error::Record`] for the first bad record, naming its file, record
    /// index, line (JSONL, CSV) and field: not JSON or not an object (JSONL), a row with more
    /// or fewer cells than the header (CSV), a text not UTF-8 or blank, a repeated id.
    ///
    /// # Complexity
    /// `O(input size)` time; memory for the documents and their ids.
    pub fn read(&self, path: impl AsRef<Path>, options: &ReadOptions) -> Result<Loaded<CorpusDoc>> {
        let path = path.as_ref();
        match self.format.unwrap_or_else(|| CorpusFormat::of_path(path)) {
            CorpusFormat::Jsonl => self.read_jsonl(path, options),
            CorpusFormat::Csv => csv_rows::read(self, path, options),
            CorpusFormat::TextFiles => text_files::read(self, path, options),
        }
    }

    fn read_jsonl(&self, path: &Path, options: &ReadOptions) -> Result<Loaded<CorpusDoc>> {
        let mut seen = HashSet::new();
        let mut count = 0;
        let lines = read_jsonl_until(
            path,
            options,
            |value, line| {
                let (id, docs) = self.docs_of(value, line)?;
                if seen.contains(&id) {
                    return Err(self.duplicate(&id));
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
        let doc = self.doc(line, text, |name| text_field(record, name));
        Ok((doc.id.clone(), self.split(doc)))
    }

    /// A document from its text and a lookup of its other fields (non-blank, trimmed), with the
    /// reader's defaults for the fields it lacks.
    fn doc(&self, line: usize, text: &str, field: impl Fn(&str) -> Option<String>) -> CorpusDoc {
        let or =
            |value: Option<String>, default: &Option<String>| value.or_else(|| default.clone());
        CorpusDoc {
            id: field(&self.id_field).unwrap_or_else(|| format!("line{line}")),
            line,
            text: text.to_string(),
            label: self.label_field.as_deref().and_then(&field),
            title: field("title"),
            nation: or(field("nation"), &self.default_nation),
            source: or(field("source"), &self.default_source),
            date: field("date"),
            place: field("place"),
            language: or(field("language"), &self.default_language),
        }
    }

    /// The document whole, or one per non-blank paragraph (`#p<k>` appended to the id).
    fn split(&self, doc: CorpusDoc) -> Vec<CorpusDoc> {
        if !self.paragraphs {
            return vec![doc];
        }
        doc.text
            .split("\n\n")
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .enumerate()
            .map(|(k, paragraph)| CorpusDoc {
                id: format!("{}#p{k}", doc.id),
                text: paragraph.to_string(),
                ..doc.clone()
            })
            .collect()
    }

    fn duplicate(&self, id: &str) -> Fault {
        Fault::field(&self.id_field, format!("duplicate id {id:?}"))
    }
}

/// Collects the documents of the CSV and text-file readers, one record at a time: repeated ids,
/// paragraphs, the limit, strict or lenient mode.
struct Gather<'a> {
    reader: &'a CorpusReader,
    options: &'a ReadOptions,
    seen: HashSet<String>,
    loaded: Loaded<CorpusDoc>,
}

impl<'a> Gather<'a> {
    fn new(reader: &'a CorpusReader, options: &'a ReadOptions) -> Self {
        Self {
            reader,
            options,
            seen: HashSet::new(),
            loaded: Loaded::default(),
        }
    }

    /// Takes one record (its document, or why it is bad) and says whether the limit is reached.
    ///
    /// # Errors
    /// In strict mode, a bad record as [`crate::Error::Record`] at `path`, `index`, `line`.
    fn take(
        &mut self,
        doc: std::result::Result<CorpusDoc, Fault>,
        path: &Path,
        index: usize,
        line: Option<usize>,
    ) -> Result<bool> {
        let doc = doc.and_then(|doc| match self.seen.insert(doc.id.clone()) {
            true => Ok(doc),
            false => Err(self.reader.duplicate(&doc.id)),
        });
        match doc {
            Ok(doc) => {
                self.loaded.items.extend(self.reader.split(doc));
                let count = self.loaded.items.len();
                Ok(self.reader.limit.is_some_and(|limit| count >= limit))
            }
            Err(fault) => {
                self.loaded
                    .reject(self.options, fault.at(path, index, line))?;
                Ok(false)
            }
        }
    }

    fn finish(mut self) -> Loaded<CorpusDoc> {
        if let Some(limit) = self.reader.limit {
            self.loaded.items.truncate(limit);
        }
        self.loaded
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
