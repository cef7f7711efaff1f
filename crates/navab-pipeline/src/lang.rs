//! Languages: which language each document is in, and the per-language models and settings
//! that follow from it (embedder, stop words and word segmentation, the language statements are
//! written in).

use std::collections::BTreeMap;

use navab_embed::Embedder;
use serde::{Deserialize, Serialize};

/// How a document's language is decided: its record's `language` field, else its nation's
/// language, else `default`. Languages are kept as lower-case ISO 639-1 codes (`zh`, `en`,
/// `fr`, `de`); a record may also say `Chinese` or `zh-TW`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Languages {
    /// The language of documents whose record and nation say nothing. Default `en`.
    pub default: String,
    /// Language per nation (nation names as the corpus writes them, compared case-insensitively).
    /// Default: the NaVAB nations and a few common spellings (China, Hong Kong and Taiwan `zh`;
    /// US and UK `en`; France `fr`; Germany `de`).
    pub by_nation: BTreeMap<String, String>,
}

impl Default for Languages {
    fn default() -> Self {
        let pairs = [
            ("china", "zh"),
            ("cn", "zh"),
            ("prc", "zh"),
            ("hong kong", "zh"),
            ("hk", "zh"),
            ("taiwan", "zh"),
            ("tw", "zh"),
            ("us", "en"),
            ("usa", "en"),
            ("united states", "en"),
            ("uk", "en"),
            ("gb", "en"),
            ("united kingdom", "en"),
            ("france", "fr"),
            ("fr", "fr"),
            ("germany", "de"),
            ("de", "de"),
        ];
        Languages {
            default: "en".into(),
            by_nation: pairs
                .iter()
                .map(|(n, l)| (n.to_string(), l.to_string()))
                .collect(),
        }
    }
}

impl Languages {
    /// The language code of a document of `nation` whose record says `record` (if anything).
    pub fn language_of(&self, record: Option<&str>, nation: &str) -> String {
        if let Some(code) = record.and_then(normalize) {
            return code;
        }
        let nation = nation.trim().to_lowercase();
        self.by_nation
            .iter()
            .find(|(n, _)| n.to_lowercase() == nation)
            .and_then(|(_, l)| normalize(l))
            .or_else(|| normalize(&self.default))
            .unwrap_or_else(|| "en".into())
    }
}

/// A language tag or name as a lower-case code: `zh-TW` → `zh`, `Chinese` → `zh`, `Français` →
/// `fr`; an unknown name stays as written, lower-cased. `None` for a blank string.
pub fn normalize(tag: &str) -> Option<String> {
    let tag = tag.trim().to_lowercase();
    if tag.is_empty() {
        return None;
    }
    let by_name = [
        ("chinese", "zh"),
        ("中文", "zh"),
        ("english", "en"),
        ("french", "fr"),
        ("français", "fr"),
        ("francais", "fr"),
        ("german", "de"),
        ("deutsch", "de"),
    ];
    if let Some((_, code)) = by_name.iter().find(|(name, _)| tag.starts_with(name)) {
        return Some(code.to_string());
    }
    let primary = tag.split(['-', '_']).next().unwrap_or(&tag);
    Some(primary.to_string())
}

/// The language's English name, as the extraction prompt asks for it (`zh` → `Chinese`); an
/// unknown code is returned as it is.
pub fn language_name(code: &str) -> String {
    match code {
        "zh" => "Chinese",
        "en" => "English",
        "fr" => "French",
        "de" => "German",
        "es" => "Spanish",
        "it" => "Italian",
        "ja" => "Japanese",
        "ko" => "Korean",
        "ru" => "Russian",
        other => other,
    }
    .to_string()
}

/// The embedders of a run: one per language where the caller has one, a default for the rest
/// (e.g. a Chinese model for `zh`, a multilingual or English one otherwise).
///
/// ```
/// use navab_pipeline::testing::HashEmbedder;
/// use navab_pipeline::Embedders;
/// let (english, chinese) = (HashEmbedder::new(16), HashEmbedder::new(8));
/// let embedders = Embedders::new(&english).with("zh", &chinese);
/// assert_eq!(embedders.for_language("zh").dim(), 8);
/// assert_eq!(embedders.for_language("fr").dim(), 16);
/// ```
#[derive(Clone)]
pub struct Embedders<'a> {
    default: &'a dyn Embedder,
    by_language: BTreeMap<String, &'a dyn Embedder>,
}

impl std::fmt::Debug for Embedders<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedders")
            .field("default", &self.default.model_id())
            .field("by_language", &self.ids())
            .finish()
    }
}

impl<'a> Embedders<'a> {
    /// `default` for every language.
    pub fn new(default: &'a dyn Embedder) -> Self {
        Embedders {
            default,
            by_language: BTreeMap::new(),
        }
    }

    /// Uses `embedder` for documents in `language` (a code or name, see [`normalize`]).
    pub fn with(mut self, language: &str, embedder: &'a dyn Embedder) -> Self {
        if let Some(code) = normalize(language) {
            self.by_language.insert(code, embedder);
        }
        self
    }

    /// The embedder for `language` (a code).
    pub fn for_language(&self, language: &str) -> &'a dyn Embedder {
        self.by_language
            .get(language)
            .copied()
            .unwrap_or(self.default)
    }

    /// Model ids by language (`*` for the default), for fingerprints and reports.
    pub fn ids(&self) -> BTreeMap<String, String> {
        let mut ids: BTreeMap<String, String> = self
            .by_language
            .iter()
            .map(|(l, e)| (l.clone(), e.model_id().to_string()))
            .collect();
        ids.insert("*".into(), self.default.model_id().to_string());
        ids
    }
}

impl<'a, E: Embedder + 'a> From<&'a E> for Embedders<'a> {
    fn from(embedder: &'a E) -> Self {
        Embedders::new(embedder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_then_the_nation_then_the_default_decide() {
        let l = Languages::default();
        assert_eq!(l.language_of(Some("zh-TW"), "UK"), "zh");
        assert_eq!(l.language_of(Some("Français"), "UK"), "fr");
        assert_eq!(l.language_of(Some("  "), "China"), "zh");
        assert_eq!(l.language_of(None, "germany"), "de");
        assert_eq!(l.language_of(None, "Atlantis"), "en");
        let custom = Languages {
            default: "es".into(),
            ..Languages::default()
        };
        assert_eq!(custom.language_of(None, "Atlantis"), "es");
        assert_eq!(language_name("zh"), "Chinese");
        assert_eq!(language_name("pt"), "pt");
    }
}
