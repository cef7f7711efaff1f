//! c-TF-IDF on the real BBC News corpus (2,225 articles), each article's category as its topic.

use std::collections::{BTreeSet, HashSet};
use std::sync::OnceLock;

use navab_topics::represent::{CtfidfModel, Language, RepresentParams, ScoredTerm};

/// The real data this file tests on (`NAVAB_DATA_DIR`, see `navab_core::testing`).
fn data() -> std::path::PathBuf {
    navab_core::testing::data_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")))
        .join("bbc-news.jsonl")
}

struct Corpus {
    docs: Vec<String>,
    labels: Vec<usize>,
    names: Vec<String>,
}

fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let text =
            std::fs::read_to_string(data()).unwrap_or_else(|e| panic!("{}: {e}", data().display()));
        let mut docs = Vec::new();
        let mut categories = Vec::new();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let r: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", i + 1));
            let field = |f: &str| {
                r[f].as_str()
                    .unwrap_or_else(|| panic!("line {}: no {f}", i + 1))
                    .to_owned()
            };
            categories.push(field("category"));
            docs.push(format!("{}\n{}", field("title"), field("text")));
        }
        let names: Vec<String> = categories
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let labels = categories
            .iter()
            .map(|c| names.iter().position(|n| n == c).unwrap())
            .collect();
        Corpus {
            docs,
            labels,
            names,
        }
    })
}

/// The NaVAB authors' setup: NLTK English stop words plus the corpus's 100 most frequent tokens.
fn authors_model() -> &'static CtfidfModel {
    static MODEL: OnceLock<CtfidfModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let c = corpus();
        CtfidfModel::fit(&c.docs, &c.labels, &RepresentParams::new(Language::English)).unwrap()
    })
}

fn topic(name: &str) -> usize {
    corpus().names.iter().position(|n| n == name).unwrap()
}

fn terms(words: &[ScoredTerm]) -> Vec<&str> {
    words.iter().map(|w| w.term.as_str()).collect()
}

#[test]
fn top_words_per_category_are_on_topic() {
    navab_core::real_data!("bbc-news.jsonl");
    let model = authors_model();
    assert_eq!(model.n_topics(), 5);
    // Words a reader expects for each BBC category, written before looking at any output.
    let expected: [(&str, &[&str]); 5] = [
        (
            "business",
            &[
                "bank", "market", "economy", "growth", "shares", "firm", "prices", "sales",
                "company", "profits", "oil", "dollar", "economic", "rates", "firms",
            ],
        ),
        (
            "entertainment",
            &[
                "film", "music", "band", "album", "awards", "award", "show", "star", "actor",
                "festival", "singer", "films", "oscar", "chart", "tv",
            ],
        ),
        (
            "politics",
            &[
                "labour",
                "election",
                "blair",
                "party",
                "tory",
                "brown",
                "tories",
                "howard",
                "minister",
                "lord",
                "government",
                "mps",
                "prime minister",
                "chancellor",
                "lib",
            ],
        ),
        (
            "sport",
            &[
                "game", "match", "win", "players", "england", "team", "cup", "club", "season",
                "injury", "coach", "champion", "play", "rugby", "chelsea",
            ],
        ),
        (
            "tech",
            &[
                "software",
                "users",
                "mobile",
                "technology",
                "net",
                "computer",
                "digital",
                "phone",
                "broadband",
                "microsoft",
                "online",
                "games",
                "music",
                "internet",
                "phones",
            ],
        ),
    ];
    for (name, words) in expected {
        let top = model.topic_words(topic(name));
        assert_eq!(top.len(), 10, "{name}");
        let shared: Vec<&str> = terms(&top)
            .into_iter()
            .filter(|w| words.contains(w))
            .collect();
        assert!(
            shared.len() >= 4,
            "{name}: top {:?} shares only {shared:?} with the expected words",
            terms(&top)
        );
        assert!(
            top.windows(2).all(|w| w[0].score >= w[1].score),
            "{name}: not sorted"
        );
    }
}

#[test]
fn no_stop_word_no_empty_token_and_bigrams_present() {
    navab_core::real_data!("bbc-news.jsonl");
    let model = authors_model();
    let stop: HashSet<&str> = Language::English.stop_words().iter().copied().collect();
    let dropped: HashSet<&str> = model
        .vectorizer()
        .dropped_frequent()
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(dropped.len(), 100);
    // The most frequent content words of news text are among them.
    assert!(dropped.contains("said"), "{dropped:?}");
    let mut bigrams = 0;
    for t in 0..model.n_topics() {
        for w in model.top_words(t, 50) {
            assert!(w.score > 0.0 && w.score.is_finite());
            let parts: Vec<&str> = w.term.split(' ').collect();
            assert!(parts.len() <= 2, "{w:?}");
            bigrams += usize::from(parts.len() == 2);
            for p in parts {
                assert!(p.chars().count() >= 2, "short token in {w:?}");
                assert!(
                    !stop.contains(p) && !dropped.contains(p),
                    "stop word in {w:?}"
                );
                assert_eq!(p, p.to_lowercase());
            }
        }
    }
    assert!(
        bigrams > 0,
        "no bigram among the top 50 words of any category"
    );
    // With min_df 1 each half of a bigram is itself a term of the vocabulary.
    let vocab = model.vectorizer().vocabulary();
    let unigrams: HashSet<&str> = vocab
        .iter()
        .map(String::as_str)
        .filter(|t| !t.contains(' '))
        .collect();
    let mut n_bigrams = 0;
    for t in vocab.iter().filter(|t| t.contains(' ')) {
        n_bigrams += 1;
        assert!(t.split(' ').all(|p| unigrams.contains(p)), "{t}");
    }
    assert!(
        n_bigrams > unigrams.len(),
        "{n_bigrams} bigrams, {} unigrams",
        unigrams.len()
    );
}

#[test]
fn representative_docs_belong_and_beat_the_average() {
    navab_core::real_data!("bbc-news.jsonl");
    let model = authors_model();
    let c = corpus();
    for t in 0..model.n_topics() {
        let all = model.representative_docs(t, usize::MAX);
        assert_eq!(all.len(), c.labels.iter().filter(|&&l| l == t).count());
        assert!(all
            .iter()
            .all(|&(d, s)| c.labels[d] == t && (0.0..=1.0 + 1e-9).contains(&s)));
        assert!(all
            .windows(2)
            .all(|w| w[0].1 > w[1].1 || (w[0].1 == w[1].1 && w[0].0 < w[1].0)));
        let mean = all.iter().map(|p| p.1).sum::<f64>() / all.len() as f64;
        let top5 = model.default_representative_docs(t);
        assert_eq!(top5, all[..5]);
        assert!(top5[4].1 > mean);
    }
}

#[test]
fn deterministic_and_independent_of_document_order() {
    navab_core::real_data!("bbc-news.jsonl");
    // Every third article, to keep the test quick: still all five categories.
    let c = corpus();
    let docs: Vec<&str> = c.docs.iter().step_by(3).map(String::as_str).collect();
    let labels: Vec<usize> = c.labels.iter().step_by(3).copied().collect();
    let params = RepresentParams::new(Language::English);
    let a = CtfidfModel::fit(&docs, &labels, &params).unwrap();
    let b = CtfidfModel::fit(&docs, &labels, &params).unwrap();
    assert_eq!(a.vectorizer().vocabulary(), b.vectorizer().vocabulary());
    // Reversed order: same vocabulary and the same weights bit for bit (counts are summed as integers).
    let rev_docs: Vec<&str> = docs.iter().rev().copied().collect();
    let rev_labels: Vec<usize> = labels.iter().rev().copied().collect();
    let r = CtfidfModel::fit(&rev_docs, &rev_labels, &params).unwrap();
    assert_eq!(a.vectorizer().vocabulary(), r.vectorizer().vocabulary());
    assert_eq!(a.ctfidf().weights(), r.ctfidf().weights());
    for t in 0..a.n_topics() {
        assert_eq!(a.top_words(t, 30), b.top_words(t, 30));
        assert_eq!(a.top_words(t, 30), r.top_words(t, 30));
        let n = docs.len();
        let reversed: Vec<(usize, f64)> = r
            .representative_docs(t, 5)
            .into_iter()
            .map(|(d, s)| (n - 1 - d, s))
            .collect();
        let forward = a.representative_docs(t, 5);
        // Same documents with the same similarities; only ties could order differently.
        assert_eq!(
            forward.iter().map(|p| p.1).collect::<Vec<_>>(),
            reversed.iter().map(|p| p.1).collect::<Vec<_>>()
        );
    }
}
