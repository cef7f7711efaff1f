//! The corpus reader's CSV and text-file formats: good input, each kind of bad record in strict
//! and lenient mode, non-ASCII text, and the same documents as JSONL on the BBC corpus.

use std::fs;
use std::path::{Path, PathBuf};

use navab_core::{CorpusDoc, CorpusFormat, CorpusReader, Error, ReadOptions};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    path
}

fn ids(docs: &[CorpusDoc]) -> Vec<&str> {
    docs.iter().map(|d| d.id.as_str()).collect()
}

/// (record index, line, field) of each skipped record.
fn skipped(loaded: &navab_core::Loaded<CorpusDoc>) -> Vec<(usize, Option<usize>, Option<&str>)> {
    loaded
        .skipped
        .iter()
        .map(|s| (s.index, s.line, s.field.as_deref()))
        .collect()
}

// --- CSV ------------------------------------------------------------------------------------

#[test]
fn csv_reads_named_columns_quotes_and_non_ascii() {
    let dir = tempfile::tempdir().unwrap();
    // A byte order mark, CRLF endings, columns in any order, a blank line, a cell spanning lines.
    let text = "\u{feff}date,id,text,nation,source,language,place,title,category\r\n\
        2024-03-01,hk1,香港立法會今日通過條例。,China,文匯報,zh,香港,條例通過,politics\r\n\
        \r\n\
        ,fr1,\"Le député a déclaré : « Non, jamais. »\r\nÇa continue.\",France,,, ,L'été,\r\n\
        ,uk1,\"He said \"\"no\"\", twice.\",,,en,,,\r\n";
    let path = write(dir.path(), "news.csv", text.as_bytes());
    let loaded = CorpusReader::new("text")
        .label("category")
        .default_nation("UK")
        .default_source("BBC")
        .read(&path, &ReadOptions::strict())
        .unwrap();
    let docs = &loaded.items;
    assert_eq!(ids(docs), ["hk1", "fr1", "uk1"]);
    let hk = &docs[0];
    assert_eq!(hk.text, "香港立法會今日通過條例。");
    assert_eq!(
        (
            hk.nation.as_deref(),
            hk.source.as_deref(),
            hk.language.as_deref()
        ),
        (Some("China"), Some("文匯報"), Some("zh"))
    );
    assert_eq!(
        (hk.date.as_deref(), hk.place.as_deref(), hk.title.as_deref()),
        (Some("2024-03-01"), Some("香港"), Some("條例通過"))
    );
    assert_eq!(hk.label.as_deref(), Some("politics"));
    let fr = &docs[1];
    assert_eq!(
        fr.text,
        "Le député a déclaré : « Non, jamais. »\r\nÇa continue."
    );
    // Blank cells are absent fields: the record's own nation, else the defaults.
    assert_eq!(fr.nation.as_deref(), Some("France"));
    assert_eq!(fr.source.as_deref(), Some("BBC"));
    assert_eq!((fr.place.as_deref(), fr.label.as_deref()), (None, None));
    assert_eq!(fr.title.as_deref(), Some("L'été"));
    assert_eq!(docs[2].text, "He said \"no\", twice.");
    assert_eq!(docs[2].nation.as_deref(), Some("UK"));
    // Lines where each record starts: the blank line and the two-line cell are counted.
    let lines: Vec<usize> = docs.iter().map(|d| d.line).collect();
    assert_eq!(lines, [2, 4, 6]);
    assert!(loaded.skipped.is_empty());
}

#[test]
fn csv_bad_rows_are_named_in_strict_and_skipped_in_lenient_mode() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = b"id,text,nation\n\
        a,First.,UK\n\
        b,   ,UK\n\
        a,Again.,UK\n\
        c,Too,many,cells\n\
        d,Too few\n\
        e,\"Two\nlines\",US\n"
        .to_vec();
    text.extend_from_slice(b"f,caf\xE9,France\n"); // Latin-1, not UTF-8
    text.extend_from_slice("g,Dernière.,France\n".as_bytes());
    let path = write(dir.path(), "bad.csv", &text);

    let lenient = CorpusReader::new("text")
        .read(&path, &ReadOptions::lenient())
        .unwrap();
    assert_eq!(ids(&lenient.items), ["a", "e", "g"]);
    assert_eq!(lenient.items[2].line, 10);
    assert_eq!(
        skipped(&lenient),
        [
            (1, Some(3), Some("text")),
            (2, Some(4), Some("id")),
            (3, Some(5), None),
            (4, Some(6), None),
            (6, Some(9), Some("text")),
        ]
    );
    let reasons: Vec<String> = lenient.skipped.iter().map(|s| s.to_string()).collect();
    assert!(
        reasons[0].ends_with("record 1 (line 3): field \"text\": empty"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("duplicate id \"a\""), "{reasons:?}");
    assert!(reasons[2].contains("4 cells for 3 columns"), "{reasons:?}");
    assert!(reasons[3].contains("2 cells for 3 columns"), "{reasons:?}");
    assert!(reasons[4].contains("not valid UTF-8"), "{reasons:?}");
    assert!(reasons
        .iter()
        .all(|r| r.starts_with(&path.display().to_string())));

    // Strict: the first bad record, with file, record and line; each kind of fault alone too.
    let strict = |text: &str| {
        let path = write(dir.path(), "one.csv", text.as_bytes());
        CorpusReader::new("text")
            .read(&path, &ReadOptions::strict())
            .unwrap_err()
            .to_string()
    };
    let err = CorpusReader::new("text")
        .read(&path, &ReadOptions::strict())
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Record {
                index: 1,
                line: Some(3),
                ..
            }
        ),
        "{err}"
    );
    let header = "id,text\n";
    let err = strict(&format!("{header}x,ok\ny,\n"));
    assert!(
        err.ends_with("one.csv: record 1 (line 3): field \"text\": empty"),
        "{err}"
    );
    let err = strict(&format!("{header}x,ok\n\"x\",\"again\"\n"));
    assert!(
        err.contains("record 1 (line 3): field \"id\": duplicate id"),
        "{err}"
    );
    let err = strict(&format!("{header}x,\"multi\nline\"\ny,a,b\n"));
    assert!(
        err.contains("record 1 (line 4): 3 cells for 2 columns"),
        "{err}"
    );
}

#[test]
fn csv_lines_count_blank_lines_and_either_line_ending() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "l.csv",
        b"id,text\n\na,x\n\r\n\r\nb,\"y\r\n\ny\"\r\n\nc,\"z\",\n\rd,last",
    );
    let loaded = CorpusReader::new("text")
        .read(&path, &ReadOptions::lenient())
        .unwrap();
    let lines: Vec<(&str, usize)> = loaded
        .items
        .iter()
        .map(|d| (d.id.as_str(), d.line))
        .collect();
    assert_eq!(lines, [("a", 3), ("b", 6), ("d", 11)]);
    assert_eq!(skipped(&loaded), [(2, Some(10), None)]);
}

#[test]
fn csv_without_the_text_column_is_a_format_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "c.csv", b"id,body\na,Hello\n");
    let err = CorpusReader::new("text")
        .read(&path, &ReadOptions::lenient())
        .unwrap_err();
    assert!(matches!(err, Error::Format { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("no `text` column (found: id, body)"),
        "{err}"
    );
    let empty = write(dir.path(), "empty.csv", b"");
    let err = CorpusReader::new("text")
        .read(&empty, &ReadOptions::lenient())
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("no `text` column (an empty file)"),
        "{err}"
    );
    // The text field is configurable.
    let loaded = CorpusReader::new("body")
        .read(&path, &ReadOptions::strict())
        .unwrap();
    assert_eq!(loaded.items[0].text, "Hello");
}

#[test]
fn csv_paragraphs_and_limit_work_as_in_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "p.csv",
        b"text\n\"p0\n\np1\n\n\n p2 \"\nq\nbroken,row\n",
    );
    let reader = CorpusReader::new("text").paragraphs(true).limit(Some(2));
    let loaded = reader.read(&path, &ReadOptions::strict()).unwrap();
    let got: Vec<(&str, &str)> = loaded
        .items
        .iter()
        .map(|d| (d.id.as_str(), d.text.as_str()))
        .collect();
    assert_eq!(got, [("line2#p0", "p0"), ("line2#p1", "p1")]);
    let all = reader
        .limit(Some(4))
        .read(&path, &ReadOptions::lenient())
        .unwrap();
    assert_eq!(
        ids(&all.items),
        ["line2#p0", "line2#p1", "line2#p2", "line8#p0"]
    );
    assert!(all.skipped.is_empty(), "stopped before the bad row");
}

// --- text files -----------------------------------------------------------------------------

#[test]
fn text_files_are_read_in_name_order_with_the_reader_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "b-paris.txt",
        "Le Sénat a adopté la réforme.\n\nL'opposition proteste.".as_bytes(),
    );
    write(
        root,
        "a-hk.TXT",
        "\u{feff}香港特區政府宣布新措施。".as_bytes(),
    );
    write(root, "notes.md", b"not an article");
    fs::create_dir(root.join("nested.txt")).unwrap(); // a directory, not an article
    write(root, "nested.txt/inner.txt", b"not read");

    let loaded = CorpusReader::new("text")
        .default_nation("France")
        .default_source("Le Monde")
        .default_language("fr")
        .read(root, &ReadOptions::strict())
        .unwrap();
    assert_eq!(ids(&loaded.items), ["a-hk", "b-paris"]);
    let hk = &loaded.items[0];
    assert_eq!(hk.text, "香港特區政府宣布新措施。");
    assert_eq!(
        (
            hk.nation.as_deref(),
            hk.source.as_deref(),
            hk.language.as_deref(),
            hk.line
        ),
        (Some("France"), Some("Le Monde"), Some("fr"), 1)
    );
    assert_eq!(
        loaded.items[1].text,
        "Le Sénat a adopté la réforme.\n\nL'opposition proteste."
    );

    let paragraphs = CorpusReader::new("text")
        .paragraphs(true)
        .limit(Some(2))
        .read(root, &ReadOptions::strict())
        .unwrap();
    assert_eq!(ids(&paragraphs.items), ["a-hk#p0", "b-paris#p0"]);
    assert_eq!(paragraphs.items[0].nation, None, "no default, no nation");
}

#[test]
fn bad_text_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "1-good.txt",
        "Die Regierung hat beschlossen.".as_bytes(),
    );
    let latin1 = write(root, "2-latin1.txt", b"R\xE9forme des retraites");
    let blank = write(root, "3-blank.txt", b" \n\t\n");
    write(root, "4-good.txt", b"Another article.");

    let lenient = CorpusReader::new("text")
        .read(root, &ReadOptions::lenient())
        .unwrap();
    assert_eq!(ids(&lenient.items), ["1-good", "4-good"]);
    let files: Vec<(&Path, usize, Option<usize>)> = lenient
        .skipped
        .iter()
        .map(|s| (s.path.as_path(), s.index, s.line))
        .collect();
    assert_eq!(
        files,
        [(latin1.as_path(), 1, None), (blank.as_path(), 2, None)]
    );
    assert!(lenient.skipped[0].reason.contains("not valid UTF-8"));
    assert_eq!(lenient.skipped[1].reason, "blank file");

    let err = CorpusReader::new("text")
        .read(root, &ReadOptions::strict())
        .unwrap_err()
        .to_string();
    assert!(err.starts_with(&latin1.display().to_string()), "{err}");
    assert!(err.contains("not valid UTF-8"), "{err}");

    let empty = tempfile::tempdir().unwrap();
    let err = CorpusReader::new("text")
        .read(empty.path(), &ReadOptions::lenient())
        .unwrap_err();
    assert!(matches!(err, Error::Layout { .. }), "{err}");
    assert!(err.to_string().contains("no *.txt file"), "{err}");
}

// --- picking the format ---------------------------------------------------------------------

#[test]
fn the_format_comes_from_the_path_unless_set() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let csv = write(root, "NEWS.CSV", b"id,text\na,From CSV.\n");
    let jsonl = write(
        root,
        "news.data",
        b"{\"id\": \"j\", \"text\": \"From JSONL.\"}\n",
    );
    assert_eq!(CorpusFormat::of_path(&csv), CorpusFormat::Csv);
    assert_eq!(CorpusFormat::of_path(&jsonl), CorpusFormat::Jsonl);
    assert_eq!(CorpusFormat::of_path(root), CorpusFormat::TextFiles);

    let read = |reader: CorpusReader, path: &Path| {
        reader
            .read(path, &ReadOptions::strict())
            .map(|l| l.items[0].text.clone())
    };
    assert_eq!(read(CorpusReader::new("text"), &csv).unwrap(), "From CSV.");
    assert_eq!(
        read(CorpusReader::new("text"), &jsonl).unwrap(),
        "From JSONL."
    );
    let csv_as_data = write(root, "table.data", b"text\nSet by hand.\n");
    let reader = CorpusReader::new("text").format(CorpusFormat::Csv);
    assert_eq!(read(reader, &csv_as_data).unwrap(), "Set by hand.");
    // JSONL records lacking a field get the defaults as well.
    let doc = CorpusReader::new("text")
        .default_language("en")
        .read(&jsonl, &ReadOptions::strict())
        .unwrap();
    assert_eq!(doc.items[0].language.as_deref(), Some("en"));
}

// --- real data ------------------------------------------------------------------------------

/// The BBC corpus written as CSV and as text files reads back as the same documents as its
/// JSONL (lines aside; text files carry no fields but the text).
#[test]
fn bbc_corpus_reads_the_same_in_every_format() {
    let jsonl = navab_core::real_data!("bbc-news.jsonl");
    let reader = CorpusReader::new("text").label("category");
    let expected = reader.read(&jsonl, &ReadOptions::strict()).unwrap().items;
    assert_eq!(expected.len(), 2225);

    let dir = tempfile::tempdir().unwrap();
    let csv_path = dir.path().join("bbc.csv");
    let mut out = csv::Writer::from_path(&csv_path).unwrap();
    out.write_record(["id", "category", "title", "text"])
        .unwrap();
    for doc in &expected {
        let title = doc.title.as_deref().unwrap_or("");
        let label = doc.label.as_deref().unwrap_or("");
        out.write_record([&doc.id, label, title, &doc.text])
            .unwrap();
    }
    out.flush().unwrap();
    let from_csv = reader
        .read(&csv_path, &ReadOptions::strict())
        .unwrap()
        .items;
    let without_line = |docs: &[CorpusDoc]| -> Vec<CorpusDoc> {
        docs.iter()
            .map(|d| CorpusDoc {
                line: 0,
                ..d.clone()
            })
            .collect()
    };
    assert_eq!(without_line(&from_csv), without_line(&expected));
    // Each record starts one line after the previous one's last line (texts hold line breaks).
    let mut line = 2;
    for doc in &from_csv {
        assert_eq!(doc.line, line, "{}", doc.id);
        line += 1 + doc.text.matches('\n').count();
    }

    let texts = dir.path().join("bbc");
    fs::create_dir(&texts).unwrap();
    for doc in &expected {
        fs::write(texts.join(format!("{}.txt", doc.id)), &doc.text).unwrap();
    }
    let from_files = CorpusReader::new("text")
        .default_nation("UK")
        .read(&texts, &ReadOptions::strict())
        .unwrap()
        .items;
    let mut by_id: Vec<(&str, &str)> = expected
        .iter()
        .map(|d| (d.id.as_str(), d.text.as_str()))
        .collect();
    by_id.sort();
    let got: Vec<(&str, &str)> = from_files
        .iter()
        .map(|d| (d.id.as_str(), d.text.as_str()))
        .collect();
    assert_eq!(got, by_id);
    assert!(from_files.iter().all(|d| d.nation.as_deref() == Some("UK")));
}
