//! Tokenisation per language: lower-casing, a Unicode word pattern, CJK segmentation and stop words.

use std::collections::HashSet;
#[cfg(feature = "chinese")]
use std::sync::Arc;
use std::sync::OnceLock;

use regex::Regex;

/// The language of a corpus: it picks the stop-word list and how CJK text is cut into words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Language {
    /// English: NLTK's English stop words.
    English,
    /// French: NLTK's French stop words.
    French,
    /// German: NLTK's German stop words.
    German,
    /// Chinese (simplified or traditional): NLTK's Chinese stop words; words from jieba with the
    /// `chinese` feature, overlapping character bigrams without it.
    Chinese,
    /// Any other language: no stop-word list (dropping the corpus's most frequent tokens still applies).
    Other,
}

impl Language {
    /// The language for an ISO 639-1 code or a tag that starts with one (`"en"`, `"fr-FR"`,
    /// `"zh-TW"`), case-insensitive; [`Language::Other`] for anything else.
    pub fn from_code(code: &str) -> Language {
        let primary = code
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match primary.as_str() {
            "en" => Language::English,
            "fr" => Language::French,
            "de" => Language::German,
            "zh" => Language::Chinese,
            _ => Language::Other,
        }
    }

    /// The language's stop words (NLTK's lists, lower case); empty for [`Language::Other`].
    pub fn stop_words(self) -> &'static [&'static str] {
        let code = match self {
            Language::English => "en",
            Language::French => "fr",
            Language::German => "de",
            Language::Chinese => "zh",
            Language::Other => return &[],
        };
        stop_words::lookup(code).unwrap_or(&[])
    }
}

/// One maximal run of word characters, split into CJK and non-CJK parts. `\w` is Unicode-aware,
/// like the `(?u)\b\w\w+\b` pattern of scikit-learn's `CountVectorizer`.
fn word_pattern() -> &'static Regex {
    static PATTERN: OnceLock<Regex> = OnceLock::new();
    PATTERN.get_or_init(|| {
        Regex::new(r"[\p{Han}\p{Hiragana}\p{Katakana}]+|[\w--[\p{Han}\p{Hiragana}\p{Katakana}]]+")
            .expect("the word pattern is a valid regex")
    })
}

/// Whether `word`, a match of [`word_pattern`], is a CJK run (the pattern never mixes the two).
fn is_cjk_run(word: &str) -> bool {
    static CJK: OnceLock<Regex> = OnceLock::new();
    CJK.get_or_init(|| {
        Regex::new(r"^[\p{Han}\p{Hiragana}\p{Katakana}]").expect("the CJK pattern is a valid regex")
    })
    .is_match(word)
}

/// Splits text into lower-case tokens and removes stop words.
///
/// Non-CJK tokens are maximal runs of Unicode word characters of at least two characters
/// (scikit-learn's default token pattern). Runs of Han, Hiragana or Katakana characters carry
/// no spaces, so they are segmented: by jieba with the `chinese` feature, otherwise into
/// overlapping character bigrams (a one-character run stays a unigram). Bigrams need no
/// dictionary and are a common baseline for Chinese retrieval; jieba gives real words.
///
/// # Example
/// ```
/// use navab_topics::represent::{Language, Tokenizer};
/// let t = Tokenizer::new(Language::English);
/// assert_eq!(t.tokens("The Prime Minister's plan: a £5bn boost!"), ["prime", "minister", "plan", "5bn", "boost"]);
/// ```
#[derive(Clone)]
pub struct Tokenizer {
    language: Language,
    stop_words: HashSet<String>,
    #[cfg(feature = "chinese")]
    jieba: Arc<jieba_rs::Jieba>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("language", &self.language)
            .field("stop_words", &self.stop_words.len())
            .field("jieba", &cfg!(feature = "chinese"))
            .finish()
    }
}

impl Tokenizer {
    /// A tokenizer with the language's stop words.
    pub fn new(language: Language) -> Self {
        Self::with_stop_words(language, language.stop_words().iter().copied())
    }

    /// A tokenizer with the given stop words instead of the language's list (they are lower-cased).
    pub fn with_stop_words<S: AsRef<str>>(
        language: Language,
        stop_words: impl IntoIterator<Item = S>,
    ) -> Self {
        Tokenizer {
            language,
            stop_words: stop_words
                .into_iter()
                .map(|w| w.as_ref().to_lowercase())
                .collect(),
            #[cfg(feature = "chinese")]
            jieba: shared_segmenter(),
        }
    }

    /// The language.
    pub fn language(&self) -> Language {
        self.language
    }

    /// Adds stop words (lower-cased).
    pub fn add_stop_words<S: AsRef<str>>(&mut self, words: impl IntoIterator<Item = S>) {
        self.stop_words
            .extend(words.into_iter().map(|w| w.as_ref().to_lowercase()));
    }

    /// Whether `token` (already lower case) is a stop word.
    pub fn is_stop_word(&self, token: &str) -> bool {
        self.stop_words.contains(token)
    }

    /// The tokens of `text` with stop words kept.
    pub fn raw_tokens(&self, text: &str) -> Vec<String> {
        let lower = text.to_lowercase();
        let mut out = Vec::new();
        for m in word_pattern().find_iter(&lower) {
            let word = m.as_str();
            if is_cjk_run(word) {
                self.segment_cjk(word, &mut out);
            } else if word.chars().nth(1).is_some() {
                out.push(word.to_owned());
            }
        }
        out
    }

    /// The tokens of `text` with stop words removed.
    pub fn tokens(&self, text: &str) -> Vec<String> {
        let mut tokens = self.raw_tokens(text);
        tokens.retain(|t| !self.stop_words.contains(t));
        tokens
    }

    #[cfg(feature = "chinese")]
    fn segment_cjk(&self, run: &str, out: &mut Vec<String>) {
        out.extend(
            self.jieba
                .cut(run, true)
                .into_iter()
                .map(|t| t.word.to_owned()),
        );
    }

    #[cfg(not(feature = "chinese"))]
    fn segment_cjk(&self, run: &str, out: &mut Vec<String>) {
        let chars: Vec<char> = run.chars().collect();
        if chars.len() == 1 {
            out.push(run.to_owned());
        } else {
            out.extend(chars.windows(2).map(|w| w.iter().collect::<String>()));
        }
    }
}

/// Loading jieba's dictionary takes a while, so every tokenizer shares one segmenter.
#[cfg(feature = "chinese")]
fn shared_segmenter() -> Arc<jieba_rs::Jieba> {
    static JIEBA: OnceLock<Arc<jieba_rs::Jieba>> = OnceLock::new();
    JIEBA
        .get_or_init(|| Arc::new(jieba_rs::Jieba::new()))
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_lowercases_drops_short_and_stop_words() {
        let t = Tokenizer::new(Language::English);
        assert_eq!(
            t.tokens("I don't THINK so, Mr. Blair: 3 x 42"),
            ["think", "mr", "blair", "42"]
        );
        assert!(t.tokens("the and of to a").is_empty());
        assert!(t.tokens("").is_empty());
        assert!(t.tokens("?! ... --").is_empty());
    }

    #[test]
    fn french_and_german_keep_accents_and_drop_stop_words() {
        let fr = Tokenizer::new(Language::French);
        assert_eq!(
            fr.tokens("L'économie française et les élections"),
            ["économie", "française", "élections"]
        );
        let de = Tokenizer::new(Language::German);
        assert_eq!(
            de.tokens("Die Bundesregierung und der Straßenbau"),
            ["bundesregierung", "straßenbau"]
        );
    }

    #[test]
    fn chinese_is_segmented_and_stop_words_removed() {
        let zh = Tokenizer::new(Language::Chinese);
        let tokens = zh.tokens("我们的政府发布了新的经济政策。");
        assert!(!tokens.is_empty());
        assert!(tokens
            .iter()
            .all(|t| !zh.is_stop_word(t) && !t.contains('。')));
        // "政策" (policy) is a word with jieba and one of the bigrams without it.
        assert!(tokens.iter().any(|t| t == "政策"), "{tokens:?}");
        assert!(tokens.iter().any(|t| t == "经济"), "{tokens:?}");
    }

    #[cfg(not(feature = "chinese"))]
    #[test]
    fn cjk_fallback_is_overlapping_bigrams() {
        let t = Tokenizer::with_stop_words(Language::Chinese, Vec::<String>::new());
        assert_eq!(t.raw_tokens("经济政策 税"), ["经济", "济政", "政策", "税"]);
        assert_eq!(t.raw_tokens("GDP增长"), ["gdp", "增长"]);
    }

    #[test]
    fn language_codes() {
        assert_eq!(Language::from_code("zh-TW"), Language::Chinese);
        assert_eq!(Language::from_code("FR"), Language::French);
        assert_eq!(Language::from_code("de_DE"), Language::German);
        assert_eq!(Language::from_code("en"), Language::English);
        assert_eq!(Language::from_code("ja"), Language::Other);
        assert_eq!(Language::from_code(""), Language::Other);
        for lang in [
            Language::English,
            Language::French,
            Language::German,
            Language::Chinese,
        ] {
            assert!(lang.stop_words().len() > 100, "{lang:?}");
        }
        assert!(Language::Other.stop_words().is_empty());
    }
}
