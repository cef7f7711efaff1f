//! A `CountVectorizer`: n-gram vocabulary and sparse term counts.

use std::collections::{HashMap, HashSet};

use super::sparse::CsrMatrix;
use super::tokenize::{Language, Tokenizer};
use crate::{Error, Result};

/// Vocabulary options, with the defaults of the NaVAB authors' BERTopic setup.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VectorizerParams {
    /// The corpus language (stop words, CJK segmentation).
    pub language: Language,
    /// Smallest and largest n-gram length, inclusive. Default `(1, 2)`.
    pub ngram_range: (usize, usize),
    /// A term is kept only if at least this many documents contain it. Default 1.
    pub min_df: usize,
    /// Keep only this many terms, the most frequent over the corpus (ties by term). Default `None`.
    pub max_features: Option<usize>,
    /// Also treat the corpus's this-many most frequent tokens (after stop-word removal) as stop
    /// words, as the NaVAB authors did. Default 100; 0 turns it off. At most a tenth of the
    /// corpus's distinct tokens are dropped: on the authors' corpora (tens of thousands of
    /// distinct tokens) that is the full 100, while a small corpus (one nation's few dozen
    /// articles) keeps its topic words.
    pub drop_most_frequent: usize,
    /// Remove the language's stop words. Default `true`.
    pub remove_stop_words: bool,
    /// More stop words (lower-cased before use). Default empty.
    pub extra_stop_words: Vec<String>,
}

impl VectorizerParams {
    /// The defaults for `language`: 1-2-grams, min_df 1, no feature cap, the language's stop words
    /// plus the corpus's 100 most frequent tokens.
    pub fn new(language: Language) -> Self {
        VectorizerParams {
            language,
            ngram_range: (1, 2),
            min_df: 1,
            max_features: None,
            drop_most_frequent: 100,
            remove_stop_words: true,
            extra_stop_words: Vec::new(),
        }
    }

    /// Checks the ranges.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] if the n-gram range is empty or starts at 0, or `min_df` or
    /// `max_features` is 0.
    pub fn check(&self) -> Result<&Self> {
        let (lo, hi) = self.ngram_range;
        if lo == 0 || hi < lo || hi > 8 {
            return Err(Error::param(
                "ngram_range",
                self.ngram_range,
                "need 1 <= min <= max <= 8",
            ));
        }
        if self.min_df == 0 {
            return Err(Error::param("min_df", self.min_df, "must be at least 1"));
        }
        if self.max_features == Some(0) {
            return Err(Error::param(
                "max_features",
                self.max_features,
                "must be at least 1 or None",
            ));
        }
        Ok(self)
    }
}

/// A fitted vocabulary of n-grams, like scikit-learn's `CountVectorizer`.
///
/// Stop words are removed before n-grams are formed (as scikit-learn does), and n-grams never
/// cross document boundaries. Terms are sorted by their UTF-8 bytes, so a term's column index
/// depends only on the corpus, never on hashing or thread timing.
///
/// # Example
/// ```
/// use navab_topics::represent::{CountVectorizer, Language, VectorizerParams};
/// let params = VectorizerParams { drop_most_frequent: 0, ..VectorizerParams::new(Language::English) };
/// let docs = ["Interest rates rise", "Rates fall again"]; // "again" is a stop word
/// let (vectorizer, counts) = CountVectorizer::fit_transform(&params, &docs)?;
/// assert_eq!(vectorizer.vocabulary(), ["fall", "interest", "interest rates", "rates", "rates fall", "rates rise", "rise"]);
/// assert_eq!(counts.n_rows(), 2);
/// # Ok::<(), navab_topics::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct CountVectorizer {
    params: VectorizerParams,
    tokenizer: Tokenizer,
    dropped_frequent: Vec<String>,
    terms: Vec<String>,
    token_ids: HashMap<String, u32>,
    index: HashMap<Gram, u32>,
}

impl CountVectorizer {
    /// Learns the vocabulary of `docs` and returns the vectorizer with the documents' counts
    /// (one row per document, empty rows for documents without terms).
    ///
    /// # Complexity
    /// O(total tokens × n-gram span) hashing, plus O(V log V) to sort the vocabulary of size V.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for bad parameters; [`Error::Input`] for an empty corpus or one
    /// with no term left after stop-word removal and the frequency filters.
    pub fn fit_transform<S: AsRef<str>>(
        params: &VectorizerParams,
        docs: &[S],
    ) -> Result<(Self, CsrMatrix<u32>)> {
        params.check()?;
        if docs.is_empty() {
            return Err(Error::Input(
                "empty corpus: no documents to build a vocabulary from".into(),
            ));
        }
        let mut tokenizer = if params.remove_stop_words {
            Tokenizer::new(params.language)
        } else {
            Tokenizer::with_stop_words(params.language, Vec::<String>::new())
        };
        tokenizer.add_stop_words(&params.extra_stop_words);
        let mut doc_tokens: Vec<Vec<String>> =
            docs.iter().map(|d| tokenizer.tokens(d.as_ref())).collect();

        let dropped_frequent = most_frequent_tokens(&doc_tokens, params.drop_most_frequent);
        if !dropped_frequent.is_empty() {
            let dropped: HashSet<&str> = dropped_frequent.iter().map(String::as_str).collect();
            for tokens in &mut doc_tokens {
                tokens.retain(|t| !dropped.contains(t.as_str()));
            }
            tokenizer.add_stop_words(&dropped_frequent);
        }

        // Tokens become ids and n-grams fixed-size id arrays, so counting hashes no strings;
        // strings are built once per distinct n-gram.
        let mut token_ids: HashMap<String, u32> = HashMap::new();
        let mut token_names: Vec<String> = Vec::new();
        let doc_grams: Vec<Vec<(Gram, u32)>> = doc_tokens
            .into_iter()
            .map(|tokens| {
                let ids: Vec<u32> = tokens
                    .into_iter()
                    .map(|t| {
                        *token_ids.entry(t).or_insert_with_key(|t| {
                            token_names.push(t.clone());
                            (token_names.len() - 1) as u32
                        })
                    })
                    .collect();
                gram_counts(&ids, params.ngram_range)
            })
            .collect();
        // Document frequency and corpus frequency per n-gram.
        let mut stats: HashMap<Gram, (usize, u64)> = HashMap::new();
        for grams in &doc_grams {
            for &(gram, count) in grams {
                let entry = stats.entry(gram).or_default();
                entry.0 += 1;
                entry.1 += u64::from(count);
            }
        }
        let mut kept: Vec<(String, Gram, u64)> = stats
            .into_iter()
            .filter(|(_, (df, _))| *df >= params.min_df)
            .map(|(gram, (_, total))| (gram.text(&token_names), gram, total))
            .collect();
        if let Some(max) = params.max_features {
            kept.sort_unstable_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
            kept.truncate(max);
        }
        if kept.is_empty() {
            return Err(Error::Input(format!(
                "no term left in {} documents after stop-word removal and the frequency filters",
                docs.len()
            )));
        }
        if kept.len() > u32::MAX as usize {
            return Err(Error::Input(format!(
                "vocabulary of {} terms exceeds u32 indices",
                kept.len()
            )));
        }
        kept.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let index: HashMap<Gram, u32> = kept
            .iter()
            .enumerate()
            .map(|(i, k)| (k.1, i as u32))
            .collect();
        let terms: Vec<String> = kept.into_iter().map(|k| k.0).collect();

        let vectorizer = CountVectorizer {
            params: params.clone(),
            tokenizer,
            dropped_frequent,
            terms,
            token_ids,
            index,
        };
        let mut counts = CsrMatrix::new(vectorizer.terms.len());
        for grams in &doc_grams {
            counts.push_row(vectorizer.row_of(grams))?;
        }
        Ok((vectorizer, counts))
    }

    fn row_of(&self, grams: &[(Gram, u32)]) -> Vec<(u32, u32)> {
        let mut row: Vec<(u32, u32)> = grams
            .iter()
            .filter_map(|(g, c)| self.index.get(g).map(|&i| (i, *c)))
            .collect();
        row.sort_unstable_by_key(|&(i, _)| i);
        row
    }

    /// The terms of `doc` (after stop-word removal), n-grams included, in text order;
    /// terms outside the vocabulary included.
    pub fn analyze(&self, doc: &str) -> Vec<String> {
        let tokens = self.tokenizer.tokens(doc);
        let (lo, hi) = self.params.ngram_range;
        let mut out = Vec::new();
        for n in lo..=hi {
            out.extend(tokens.windows(n).map(|w| w.join(" ")));
        }
        out
    }

    /// Counts of vocabulary terms in each of `docs` (terms outside the vocabulary are ignored).
    pub fn transform<S: AsRef<str>>(&self, docs: &[S]) -> CsrMatrix<u32> {
        let (lo, hi) = self.params.ngram_range;
        let mut counts = CsrMatrix::new(self.terms.len());
        for doc in docs {
            let ids: Vec<Option<u32>> = self
                .tokenizer
                .tokens(doc.as_ref())
                .iter()
                .map(|t| self.token_ids.get(t).copied())
                .collect();
            let mut grams = Vec::new();
            for n in lo..=hi {
                for window in ids.windows(n) {
                    // A window with an unknown token is no vocabulary term.
                    let known: Option<Vec<u32>> = window.iter().copied().collect();
                    if let Some(known) = known {
                        grams.push(Gram::new(&known));
                    }
                }
            }
            // Columns come from our own index and are sorted, so the row is always valid.
            let _ = counts.push_row(self.row_of(&run_lengths(grams)));
        }
        counts
    }

    /// The vocabulary; a term's position is its column in the count matrices.
    pub fn vocabulary(&self) -> &[String] {
        &self.terms
    }

    /// The column of `term`, if it is in the vocabulary.
    pub fn term_index(&self, term: &str) -> Option<usize> {
        self.terms.binary_search_by(|t| t.as_str().cmp(term)).ok()
    }

    /// The corpus's most frequent tokens that were dropped as stop words, most frequent first.
    pub fn dropped_frequent(&self) -> &[String] {
        &self.dropped_frequent
    }

    /// The tokenizer, with every stop word in use (language list, extra words, dropped frequent tokens).
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The parameters it was fitted with.
    pub fn params(&self) -> &VectorizerParams {
        &self.params
    }
}

/// The `n` most frequent tokens over all documents, ties broken by the token's bytes.
fn most_frequent_tokens(doc_tokens: &[Vec<String>], n: usize) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    let mut freq: HashMap<&str, u64> = HashMap::new();
    for token in doc_tokens.iter().flatten() {
        *freq.entry(token.as_str()).or_default() += 1;
    }
    let mut ranked: Vec<(&str, u64)> = freq.into_iter().collect();
    ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let n = n.min((ranked.len() / 10).max(1));
    ranked
        .into_iter()
        .take(n)
        .map(|(t, _)| t.to_owned())
        .collect()
}

/// The longest n-gram [`VectorizerParams::check`] accepts.
const MAX_N: usize = 8;

/// An n-gram as token ids: fixed size, so counting allocates and hashes no strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Gram {
    len: u8,
    ids: [u32; MAX_N],
}

impl Gram {
    fn new(ids: &[u32]) -> Self {
        let mut gram = Gram {
            len: ids.len() as u8,
            ids: [0; MAX_N],
        };
        gram.ids[..ids.len()].copy_from_slice(ids);
        gram
    }

    /// The n-gram's text: its tokens joined by a space, as scikit-learn writes them.
    fn text(&self, names: &[String]) -> String {
        let parts: Vec<&str> = self.ids[..usize::from(self.len)]
            .iter()
            .map(|&i| names[i as usize].as_str())
            .collect();
        parts.join(" ")
    }
}

/// Each distinct n-gram of `ids` with its count.
fn gram_counts(ids: &[u32], (lo, hi): (usize, usize)) -> Vec<(Gram, u32)> {
    let mut grams = Vec::new();
    for n in lo..=hi {
        grams.extend(ids.windows(n).map(Gram::new));
    }
    run_lengths(grams)
}

fn run_lengths(mut grams: Vec<Gram>) -> Vec<(Gram, u32)> {
    grams.sort_unstable_by_key(|g| (g.len, g.ids));
    let mut out: Vec<(Gram, u32)> = Vec::new();
    for g in grams {
        match out.last_mut() {
            Some((last, count)) if *last == g => *count += 1,
            _ => out.push((g, 1)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn english() -> VectorizerParams {
        VectorizerParams {
            drop_most_frequent: 0,
            ..VectorizerParams::new(Language::English)
        }
    }

    #[test]
    fn counts_and_bigrams() {
        let docs = ["Tax cuts and tax rises", "", "the the the", "tax cuts"];
        let (v, counts) = CountVectorizer::fit_transform(&english(), &docs).unwrap();
        assert_eq!(
            v.vocabulary(),
            ["cuts", "cuts tax", "rises", "tax", "tax cuts", "tax rises"]
        );
        let tax = v.term_index("tax").unwrap() as u32;
        let (cols, vals) = counts.row(0).unwrap();
        assert_eq!(vals[cols.iter().position(|&c| c == tax).unwrap()], 2);
        assert_eq!(counts.row(1).unwrap().0.len(), 0);
        assert_eq!(counts.row(2).unwrap().0.len(), 0);
        assert_eq!(counts.row(3).unwrap().0.len(), 3);
        assert_eq!(v.transform(&["tax tax unknownword"]).row(0).unwrap().1, [2]);
    }

    #[test]
    fn min_df_max_features_and_frequent_drop() {
        let docs = ["apple banana", "apple cherry", "apple banana", "durian"];
        let p = VectorizerParams {
            ngram_range: (1, 1),
            min_df: 2,
            ..english()
        };
        let (v, _) = CountVectorizer::fit_transform(&p, &docs).unwrap();
        assert_eq!(v.vocabulary(), ["apple", "banana"]);
        let p = VectorizerParams {
            ngram_range: (1, 1),
            max_features: Some(2),
            ..english()
        };
        let (v, _) = CountVectorizer::fit_transform(&p, &docs).unwrap();
        assert_eq!(v.vocabulary(), ["apple", "banana"]);
        let p = VectorizerParams {
            drop_most_frequent: 1,
            ..english()
        };
        let (v, counts) = CountVectorizer::fit_transform(&p, &docs).unwrap();
        assert_eq!(v.dropped_frequent(), ["apple"]);
        assert!(v
            .vocabulary()
            .iter()
            .all(|t| !t.split(' ').any(|w| w == "apple")));
        assert_eq!(counts.n_rows(), 4);
        assert!(v.tokenizer().is_stop_word("apple"));
    }

    #[test]
    fn a_small_corpus_keeps_nine_tenths_of_its_tokens() {
        let docs: Vec<String> = (0..20).map(|i| format!("word{i} shared common")).collect();
        let p = VectorizerParams {
            ngram_range: (1, 1),
            ..VectorizerParams::new(Language::English)
        };
        let (v, _) = CountVectorizer::fit_transform(&p, &docs).unwrap();
        // 22 distinct tokens: 2 dropped (the most frequent), not all of them.
        assert_eq!(v.dropped_frequent(), ["common", "shared"]);
        assert_eq!(v.vocabulary().len(), 20);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(matches!(
            CountVectorizer::fit_transform::<&str>(&english(), &[]),
            Err(Error::Input(_))
        ));
        assert!(matches!(
            CountVectorizer::fit_transform(&english(), &["", "the of and", "  "]),
            Err(Error::Input(_))
        ));
        for bad in [
            VectorizerParams {
                ngram_range: (0, 2),
                ..english()
            },
            VectorizerParams {
                ngram_range: (2, 1),
                ..english()
            },
            VectorizerParams {
                min_df: 0,
                ..english()
            },
            VectorizerParams {
                max_features: Some(0),
                ..english()
            },
        ] {
            assert!(matches!(
                CountVectorizer::fit_transform(&bad, &["tax"]),
                Err(Error::InvalidParam { .. })
            ));
        }
    }
}
