//! Stand-ins for tests and examples: a chat model that answers every pipeline step the way a
//! capable LLM would, an embedder that needs no model, and a corpus with clear topics. With
//! them a whole run takes well under a second and gives the same bytes every time.

use std::sync::atomic::{AtomicUsize, Ordering};

use navab_embed::{Array2, Embedder};
use navab_llm::{BoxFuture, ChatModel, ChatRequest, ChatResponse};

/// Answers each pipeline step by its system prompt, from the text it is given: a label, a tag,
/// the first sentence as the statement, "yes" to screening, a speaker when the text says
/// " said", a triple that negates the statement, "unrelated" to relation checks.
#[derive(Debug, Default)]
pub struct RuleBasedChatModel {
    calls: AtomicUsize,
}

impl RuleBasedChatModel {
    /// A model that has answered nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls answered so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// The reply to `request`.
    pub fn reply(request: &ChatRequest) -> String {
        let system = request.messages.first().map_or("", |m| m.content.as_str());
        let user = request.messages.last().map_or("", |m| m.content.as_str());
        let after = |label: &str| {
            user.split_once(label)
                .map(|(_, t)| t.trim().to_string())
                .unwrap_or_default()
        };
        if system.starts_with("You name clusters") {
            "topic: News cluster".into()
        } else if system.starts_with("You tag news") {
            let tag = if user.contains("econom") {
                "Economy"
            } else {
                "Current affairs"
            };
            format!(r#"[{{"tag": "{tag}", "explanation": "the article's theme"}}]"#)
        } else if system.starts_with("You extract value statements") {
            let news = after("News:");
            let first = news
                .split(". ")
                .next()
                .unwrap_or(&news)
                .trim_end_matches('.');
            format!("The article's main stance.\nStatement: {first}.")
        } else if system.starts_with("You screen") {
            "It reports a stance on public policy. ## yes".into()
        } else if system.starts_with("You attribute") {
            if user.contains(" said") {
                "A speaker is quoted. ## A spokesman".into()
            } else {
                "## unknown".into()
            }
        } else if system.starts_with("You write evaluation items") {
            let s = after("Statement:");
            let s = s.trim_end_matches('.');
            format!("Q: Is it right that {s}? ## S: {s}. ## RS: It is not right that {s}.")
        } else if system.starts_with("You compare the stances") {
            "They are about different things. ## unrelated".into()
        } else {
            "## no".into()
        }
    }
}

impl ChatModel for RuleBasedChatModel {
    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, navab_llm::Result<ChatResponse>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move { Ok(ChatResponse::new(Self::reply(request))) })
    }

    fn model_id(&self) -> Option<&str> {
        Some("rule-based")
    }
}

/// A bag-of-words embedder: each word (for Chinese, each pair of characters) adds to one of
/// `dim` coordinates (an FNV hash), rows are L2-normalised. Texts that share words are close, so topics separate by vocabulary.
#[derive(Debug, Clone)]
pub struct HashEmbedder {
    dim: usize,
    id: String,
}

impl HashEmbedder {
    /// An embedder of `dim` coordinates (at least 1).
    pub fn new(dim: usize) -> Self {
        let dim = dim.max(1);
        HashEmbedder {
            dim,
            id: format!("hash-bag-of-words/{dim}"),
        }
    }
}

impl Embedder for HashEmbedder {
    fn embed(&self, texts: &[&str]) -> navab_embed::Result<Array2<f32>> {
        let mut out = Array2::<f32>::zeros((texts.len(), self.dim));
        for (i, text) in texts.iter().enumerate() {
            for word in words(text) {
                let h = navab_core::hash::fnv1a(word.to_lowercase().as_bytes());
                out[[i, (h % self.dim as u64) as usize]] += 1.0;
            }
            let norm = out.row(i).dot(&out.row(i)).sqrt().max(1e-6);
            out.row_mut(i).mapv_inplace(|v| v / norm);
        }
        Ok(out)
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn model_id(&self) -> &str {
        &self.id
    }
}

/// The words a [`HashEmbedder`] counts: runs of letters and digits longer than three bytes;
/// Han characters (no spaces between words) as overlapping pairs.
fn words(text: &str) -> Vec<String> {
    let is_han = |c: char| ('\u{4e00}'..='\u{9fff}').contains(&c);
    let mut out = Vec::new();
    for run in text.split(|c: char| !c.is_alphanumeric()) {
        let chars: Vec<char> = run.chars().collect();
        if chars.iter().any(|&c| is_han(c)) {
            out.extend(chars.windows(2).map(|w| w.iter().collect::<String>()));
        } else if run.len() > 3 {
            out.push(run.to_string());
        }
    }
    out
}

/// `n` JSONL news lines on four themes with disjoint vocabularies (so HDBSCAN finds topics);
/// every other one quotes a speaker (" said"), nations alternate between UK and US. Each line
/// has its theme's eight words and six of forty rarer ones (c-TF-IDF drops the corpus' most
/// frequent hundred words as stop words, so it needs more than that).
pub fn synthetic_corpus(n: usize) -> String {
    const THEMES: [[&str; 8]; 4] = [
        [
            "economy",
            "inflation",
            "interest",
            "rates",
            "markets",
            "wages",
            "banks",
            "budget",
        ],
        [
            "football", "league", "match", "striker", "goals", "season", "coach", "stadium",
        ],
        [
            "election",
            "parliament",
            "minister",
            "votes",
            "policy",
            "reform",
            "party",
            "debate",
        ],
        [
            "software", "internet", "phones", "privacy", "network", "chips", "startups", "data",
        ],
    ];
    const STEMS: [&str; 4] = ["fina", "spor", "poli", "tech"];
    const SYLLABLES: [&str; 8] = ["ba", "ko", "ri", "mu", "te", "lo", "si", "da"];
    let mut lines = Vec::with_capacity(n);
    for i in 0..n {
        let theme = i % 4;
        let rare: Vec<String> = (0..6)
            .map(|k| {
                let w = (i / 4 * 7 + k * 13) % 40;
                format!("{}{}{}", STEMS[theme], SYLLABLES[w % 8], SYLLABLES[w / 8])
            })
            .collect();
        let speaker = if i % 2 == 0 {
            " said the spokesman"
        } else {
            ""
        };
        let text = format!(
            "The {} and the {} matter for {}{speaker}. Analysts of {} and {} disagree about {} \
             and {}, {} and {}, {} and {}, {} and {}.",
            THEMES[theme][0],
            THEMES[theme][1],
            THEMES[theme][2],
            THEMES[theme][3],
            THEMES[theme][4],
            THEMES[theme][5],
            THEMES[theme][6],
            THEMES[theme][7],
            rare[0],
            rare[1],
            rare[2],
            rare[3],
            rare[4],
        );
        let nation = if i % 3 == 0 { "US" } else { "UK" };
        let line = serde_json::json!({"id": format!("doc{i}"), "text": text, "nation": nation});
        lines.push(line.to_string());
    }
    lines.join("\n") + "\n"
}
