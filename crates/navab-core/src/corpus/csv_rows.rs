//! CSV corpora: a header row naming the fields, then one article a record.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::rc::Rc;

use csv::{ByteRecord, ReaderBuilder};

use super::{CorpusDoc, CorpusReader, Gather};
use crate::error::{io_error, Error, Result};
use crate::read::{Fault, Loaded, ReadOptions};

/// Reads `path` as CSV, streaming it; see [`CorpusReader::read`].
pub(super) fn read(
    reader: &CorpusReader,
    path: &Path,
    options: &ReadOptions,
) -> Result<Loaded<CorpusDoc>> {
    let mut input = BufReader::new(File::open(path).map_err(io_error(path))?);
    skip_bom(&mut input).map_err(io_error(path))?;
    let breaks = Rc::new(RefCell::new(Breaks::default()));
    let tracked = Tracked {
        inner: input,
        breaks: Rc::clone(&breaks),
    };
    // Flexible: a row of the wrong length is one bad record, reported by us, not a stop.
    let mut rows = ReaderBuilder::new().flexible(true).from_reader(tracked);
    let columns: Vec<String> = rows
        .byte_headers()
        .map_err(|e| csv_error(path, e))?
        .iter()
        .map(|name| String::from_utf8_lossy(name).trim().to_string())
        .collect();
    if !columns.contains(&reader.text_field) {
        let found = match columns.join(", ") {
            names if names.is_empty() => "an empty file".to_string(),
            names => format!("found: {names}"),
        };
        return Err(Error::Format {
            path: path.to_path_buf(),
            reason: format!("the header has no `{}` column ({found})", reader.text_field),
        });
    }
    let mut gather = Gather::new(reader, options);
    let mut record = ByteRecord::new();
    let mut index = 0;
    while rows
        .read_byte_record(&mut record)
        .map_err(|e| csv_error(path, e))?
    {
        let start = record.position().map_or(0, csv::Position::byte);
        let line = breaks.borrow_mut().line_at(start);
        let doc = row_doc(reader, &columns, &record, line);
        if gather.take(doc, path, index, Some(line))? {
            break;
        }
        index += 1;
    }
    Ok(gather.finish())
}

/// The document of one record; a wrong cell count, a cell that is not UTF-8 or a blank text is
/// a fault.
fn row_doc(
    reader: &CorpusReader,
    columns: &[String],
    record: &ByteRecord,
    line: usize,
) -> std::result::Result<CorpusDoc, Fault> {
    if record.len() != columns.len() {
        return Err(Fault::record(format!(
            "{} cells for {} columns (an unquoted comma or a missing cell?)",
            record.len(),
            columns.len()
        )));
    }
    let cells = record
        .iter()
        .zip(columns)
        .map(|(cell, column)| {
            std::str::from_utf8(cell)
                .map_err(|e| Fault::field(column, format!("not valid UTF-8: {e}")))
        })
        .collect::<std::result::Result<Vec<&str>, Fault>>()?;
    // The first column of a name wins, as with repeated keys nowhere else.
    let cell = |name: &str| columns.iter().position(|c| c == name).map(|i| cells[i]);
    let text = cell(&reader.text_field).unwrap_or_default();
    if text.trim().is_empty() {
        return Err(Fault::field(&reader.text_field, "empty"));
    }
    Ok(reader.doc(line, text, |name| {
        cell(name)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }))
}

/// The line breaks the parser has been given and not yet passed, so that a record's first line
/// can be named: csv's own position is where parsing resumed, before any blank lines and the
/// `\n` of a `\r\n`, so its line can be short of the record's.
#[derive(Default)]
struct Breaks {
    /// Byte offset and byte (`\r` or `\n`) of each break not yet passed, in order.
    pending: VecDeque<(u64, u8)>,
    /// `\n`s passed.
    newlines: usize,
    /// Bytes handed to the parser.
    read: u64,
}

impl Breaks {
    /// The 1-based line of the first byte at or after `from` that is not a line break.
    fn line_at(&mut self, from: u64) -> usize {
        let mut at = from;
        while let Some(&(offset, byte)) = self.pending.front() {
            if offset > at {
                break;
            }
            if offset == at {
                at += 1;
            }
            self.newlines += usize::from(byte == b'\n');
            self.pending.pop_front();
        }
        1 + self.newlines
    }
}

/// The input, noting each line break it hands on in [`Breaks`].
struct Tracked<R> {
    inner: R,
    breaks: Rc<RefCell<Breaks>>,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut breaks = self.breaks.borrow_mut();
        let start = breaks.read;
        for (i, &byte) in buf[..n].iter().enumerate() {
            if byte == b'\n' || byte == b'\r' {
                breaks.pending.push_back((start + i as u64, byte));
            }
        }
        breaks.read += n as u64;
        Ok(n)
    }
}

/// Skips a UTF-8 byte order mark, which spreadsheet programs write and the CSV parser would
/// read as part of the first column's name.
fn skip_bom(input: &mut impl BufRead) -> std::io::Result<()> {
    if input.fill_buf()?.starts_with(b"\xEF\xBB\xBF") {
        input.consume(3);
    }
    Ok(())
}

fn csv_error(path: &Path, e: csv::Error) -> Error {
    match e.into_kind() {
        csv::ErrorKind::Io(source) => Error::Io {
            path: path.to_path_buf(),
            source,
        },
        other => Error::Format {
            path: path.to_path_buf(),
            reason: format!("not readable as CSV: {other:?}"),
        },
    }
}
