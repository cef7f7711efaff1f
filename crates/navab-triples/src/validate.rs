//! Checks on a `<Q, S, RS>` triple: Q is a question, RS differs from S, RS opposes S.
//!
//! ```
//! use navab_core::{Nation, StatementSet, Triple};
//! use navab_triples::{validate, Issue};
//!
//! let mut triple = Triple {
//!     id: "UK/quoted/00000".into(),
//!     nation: Nation::UnitedKingdom,
//!     set: StatementSet::Quoted,
//!     question: "Should the voting age be lowered to 16?".into(),
//!     statement: "The voting age should be lowered to 16.".into(),
//!     reverse_statement: "The voting age should not be lowered to 16.".into(),
//!     source: None,
//!     raw_news: None,
//! };
//! assert!(validate(&triple).is_empty());
//!
//! triple.question = "The voting age is a question of fairness.".into();
//! triple.reverse_statement = "the voting age should be lowered to 16".into();
//! assert_eq!(validate(&triple), [Issue::NotAQuestion, Issue::ReverseSameAsStatement]);
//! ```
//!
//! # The checks
//!
//! **Question.** Q is a question when, after trailing quotes and brackets, it ends with `?`,
//! `？` or `؟`; or its first word is an interrogative or an auxiliary that opens a question in
//! English, French or German (`what`, `should`, `is`, `pourquoi`, `est-ce`, `warum`, `soll`,
//! ...); or, in Chinese, it ends with 嗎/吗/呢 (before any punctuation), or holds an
//! interrogative (是否, 能否, 有沒有, 是不是, 為什麼, 如何, 怎樣, 誰, 哪, ...) and does not end
//! with a full stop (`是否` inside a sentence that ends with 。 is an indirect question, a
//! statement).
//!
//! **Differs.** RS differs from S after [`normalise`]: case folded, full-width forms made
//! ASCII, punctuation (ASCII, CJK and full-width) and whitespace removed.
//!
//! **Opposes** ([`opposition`]), a heuristic in this order:
//! 1. S and RS are tokenised (words; each CJK character a token). If the share of the smaller
//!    token set found in the other is below [`ValidationParams::min_overlap`] (0.5), the two are
//!    too different to compare (another language, a rewrite): [`Opposition::Unclear`], reported
//!    as [`Issue::OppositionUnclear`], never a pass.
//! 2. The number of polarity markers differs: negations (`not`, `no`, `never`, `n't`, `ne`,
//!    `pas`, `nicht`, `kein`, 不, 沒, 無, 非, 未, 勿, ...) and refusal verbs (`oppose`,
//!    `against`, `reject`, 反對, 拒絕, `contre`, `gegen`, ...): [`Opposition::Negation`].
//! 3. A known antonym swaps in: S holds one side of a pair and not the other, RS the other side
//!    and not the first (support/oppose, increase/decrease, 支持/反對, 增加/減少,
//!    augmenter/diminuer, erhöhen/senken, ...; prefix negation: fair/unfair, legal/illegal,
//!    agree/disagree): [`Opposition::Antonym`].
//! 4. Otherwise the texts are similar and nothing flips their stance: [`Opposition::NotOpposed`],
//!    reported as [`Issue::ReverseNotOpposed`].
//!
//! The heuristic cannot see meaning: "X is rising" against "X is falling" passes through its
//! antonym list, "X is rising" against "X is stalling" does not. It is a filter for obvious
//! generation failures (RS = S, RS = S with a typo fixed), not a judge.

use std::collections::BTreeSet;

use navab_core::Triple;

use crate::error::{Error, Result};

/// One problem of a triple.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Issue {
    /// Q, S or RS is blank.
    EmptyField {
        /// `question`, `statement` or `reverse_statement`.
        field: &'static str,
    },
    /// Q is not a question.
    NotAQuestion,
    /// RS equals S after normalisation.
    ReverseSameAsStatement,
    /// RS is close to S and nothing in it flips the stance.
    ReverseNotOpposed,
    /// RS and S share too few tokens for the heuristic to tell: not a pass, not a failure.
    OppositionUnclear {
        /// Share of the smaller token set found in the other, in `[0, 1]`.
        overlap: f64,
    },
}

impl Issue {
    /// Whether this issue makes the triple invalid (everything but
    /// [`Issue::OppositionUnclear`], which is a warning unless
    /// [`ValidationParams::exclude_unclear`] is set).
    pub fn is_error(&self) -> bool {
        !matches!(self, Issue::OppositionUnclear { .. })
    }
}

/// Why RS opposes S, or why that cannot be said; see the [module docs](self).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Opposition {
    /// The number of negation or refusal markers differs.
    Negation {
        /// Markers in S.
        statement: usize,
        /// Markers in RS.
        reverse: usize,
    },
    /// An antonym replaces its opposite.
    Antonym {
        /// The word of S.
        from: String,
        /// The word of RS.
        to: String,
    },
    /// S and RS share too few tokens to compare.
    Unclear {
        /// Share of the smaller token set found in the other.
        overlap: f64,
    },
    /// Similar texts, and nothing flips the stance.
    NotOpposed,
}

/// Settings of the checks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValidationParams {
    /// Below this token overlap, opposition is [`Opposition::Unclear`] (default 0.5; in
    /// `[0, 1]`).
    pub min_overlap: f64,
    /// Also exclude triples whose opposition is unclear (default `false`: they are kept and
    /// counted).
    pub exclude_unclear: bool,
}

impl Default for ValidationParams {
    fn default() -> Self {
        Self {
            min_overlap: 0.5,
            exclude_unclear: false,
        }
    }
}

impl ValidationParams {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] if `min_overlap` is not in `[0, 1]`.
    pub fn check(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.min_overlap) {
            return Err(Error::InvalidParam {
                name: "min_overlap",
                value: format!("{:?}", self.min_overlap),
                reason: "must be in [0, 1]",
            });
        }
        Ok(())
    }
}

/// The issues of one triple, with the default [`ValidationParams`]. Empty when it passes.
pub fn validate(triple: &Triple) -> Vec<Issue> {
    validate_with(triple, &ValidationParams::default())
}

/// The issues of one triple. Empty when it passes. Blank fields are reported and skip the
/// checks that need them.
pub fn validate_with(triple: &Triple, params: &ValidationParams) -> Vec<Issue> {
    let mut issues = Vec::new();
    for (field, text) in [
        ("question", &triple.question),
        ("statement", &triple.statement),
        ("reverse_statement", &triple.reverse_statement),
    ] {
        if text.trim().is_empty() {
            issues.push(Issue::EmptyField { field });
        }
    }
    if !triple.question.trim().is_empty() && !is_question(&triple.question) {
        issues.push(Issue::NotAQuestion);
    }
    if triple.statement.trim().is_empty() || triple.reverse_statement.trim().is_empty() {
        return issues;
    }
    if squash(&normalise(&triple.statement)) == squash(&normalise(&triple.reverse_statement)) {
        issues.push(Issue::ReverseSameAsStatement);
        return issues;
    }
    match opposition(&triple.statement, &triple.reverse_statement, params) {
        Opposition::Unclear { overlap } => issues.push(Issue::OppositionUnclear { overlap }),
        Opposition::NotOpposed => issues.push(Issue::ReverseNotOpposed),
        _ => {}
    }
    issues
}

/// Pass/fail counts of one check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckCount {
    /// Triples that pass.
    pub pass: usize,
    /// Triples that fail.
    pub fail: usize,
    /// Triples the check cannot decide (only the opposition check has these).
    pub unclear: usize,
}

/// The issues of one triple in a [`Validation`].
#[derive(Debug, Clone, PartialEq)]
pub struct TripleIssues {
    /// 0-based position in the input.
    pub index: usize,
    /// The triple's id.
    pub id: String,
    /// Its issues (never empty).
    pub issues: Vec<Issue>,
    /// Whether it was excluded from [`Validation::kept`].
    pub excluded: bool,
}

/// The result of [`validate_all`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Validation {
    /// How many triples were checked.
    pub total: usize,
    /// The triples that were not excluded, in input order.
    pub kept: Vec<Triple>,
    /// Every triple with an issue, in input order (excluded or only warned about).
    pub reports: Vec<TripleIssues>,
    /// Q is a question. Blank questions count as failures.
    pub question: CheckCount,
    /// RS differs from S. Blank S or RS count as failures.
    pub differs: CheckCount,
    /// RS opposes S: pass, fail (not opposed, or the same text), unclear. Blank S or RS count
    /// as failures.
    pub opposes: CheckCount,
}

impl Validation {
    /// How many triples were excluded.
    pub fn excluded(&self) -> usize {
        self.total - self.kept.len()
    }
}

/// Checks every triple; keeps those without errors (and, with
/// [`ValidationParams::exclude_unclear`], without unclear opposition).
///
/// # Errors
/// [`Error::InvalidParam`] for bad `params`.
pub fn validate_all(triples: &[Triple], params: &ValidationParams) -> Result<Validation> {
    params.check()?;
    let mut report = Validation {
        total: triples.len(),
        ..Validation::default()
    };
    for (index, triple) in triples.iter().enumerate() {
        let issues = validate_with(triple, params);
        let has = |f: &dyn Fn(&Issue) -> bool| issues.iter().any(f);
        let blank_question = has(&|i| matches!(i, Issue::EmptyField { field: "question" }));
        let blank_text = has(&|i| matches!(i, Issue::EmptyField { field } if *field != "question"));
        let same = has(&|i| matches!(i, Issue::ReverseSameAsStatement));
        bump(
            &mut report.question,
            !(blank_question || has(&|i| matches!(i, Issue::NotAQuestion))),
        );
        bump(&mut report.differs, !(blank_text || same));
        if has(&|i| matches!(i, Issue::OppositionUnclear { .. })) {
            report.opposes.unclear += 1;
        } else {
            bump(
                &mut report.opposes,
                !(blank_text || same || has(&|i| matches!(i, Issue::ReverseNotOpposed))),
            );
        }
        let excluded = issues
            .iter()
            .any(|i| i.is_error() || params.exclude_unclear);
        if !excluded {
            report.kept.push(triple.clone());
        }
        if !issues.is_empty() {
            report.reports.push(TripleIssues {
                index,
                id: triple.id.clone(),
                issues,
                excluded,
            });
        }
    }
    Ok(report)
}

fn bump(count: &mut CheckCount, pass: bool) {
    if pass {
        count.pass += 1;
    } else {
        count.fail += 1;
    }
}

// ---------------------------------------------------------------------------------------------
// Text normalisation and tokens.

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF)
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '’' | 'ʼ' | '\u{FF07}')
}

/// Full-width ASCII forms (`Ａ`, `？`, `１`) as ASCII, the ideographic space as a space.
fn fold_width(c: char) -> char {
    match c as u32 {
        0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        0x3000 => ' ',
        _ => c,
    }
}

/// Normalised text for comparison: full-width forms folded to ASCII, lower case, punctuation
/// (ASCII, CJK, full-width) replaced by spaces, whitespace collapsed to single spaces. An
/// apostrophe between `n` and `t` is dropped (`don't` → `dont`); others separate words
/// (`n'est` → `n est`).
pub fn normalise(text: &str) -> String {
    let chars: Vec<char> = text.chars().map(fold_width).collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        let kept = if c.is_alphanumeric() {
            Some(c)
        } else if is_apostrophe(c)
            && i > 0
            && chars[i - 1].eq_ignore_ascii_case(&'n')
            && chars
                .get(i + 1)
                .is_some_and(|n| n.eq_ignore_ascii_case(&'t'))
        {
            None
        } else {
            Some(' ')
        };
        if let Some(c) = kept {
            if c == ' ' {
                if !out.ends_with(' ') && !out.is_empty() {
                    out.push(' ');
                }
            } else {
                out.extend(c.to_lowercase());
            }
        }
    }
    out.trim_end().to_string()
}

fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Tokens of a normalised text: words, and each CJK character on its own.
fn tokens(normalised: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in normalised.split(' ') {
        let mut current = String::new();
        for c in word.chars() {
            if is_cjk(c) {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
                out.push(c.to_string());
            } else {
                current.push(c);
            }
        }
        if !current.is_empty() {
            out.push(current);
        }
    }
    out
}

/// Share of the smaller token set found in the other; 0 when either is empty.
fn overlap(a: &BTreeSet<&str>, b: &BTreeSet<&str>) -> f64 {
    let smaller = a.len().min(b.len());
    if smaller == 0 {
        return 0.0;
    }
    a.intersection(b).count() as f64 / smaller as f64
}

// ---------------------------------------------------------------------------------------------
// Questions.

const QUESTION_WORDS: &[&str] = &[
    // English
    "what",
    "why",
    "how",
    "who",
    "whom",
    "whose",
    "which",
    "when",
    "where",
    "whether",
    "is",
    "are",
    "am",
    "was",
    "were",
    "do",
    "does",
    "did",
    "can",
    "could",
    "should",
    "would",
    "will",
    "shall",
    "may",
    "might",
    "must",
    "has",
    "have",
    "had",
    "isnt",
    "arent",
    "dont",
    "doesnt",
    "didnt",
    "cant",
    "couldnt",
    "shouldnt",
    "wouldnt",
    "wont",
    "hasnt",
    "havent",
    // French
    "qu",
    "que",
    "quel",
    "quelle",
    "quels",
    "quelles",
    "quoi",
    "pourquoi",
    "comment",
    "qui",
    "quand",
    "où",
    "combien",
    "lequel",
    "laquelle",
    "lesquels",
    "lesquelles",
    "est-ce",
    "faut-il",
    "doit-on",
    "peut-on",
    // German
    "warum",
    "wieso",
    "weshalb",
    "wie",
    "wer",
    "wen",
    "wem",
    "wessen",
    "welche",
    "welcher",
    "welches",
    "welchen",
    "welchem",
    "wann",
    "wo",
    "woher",
    "wohin",
    "wozu",
    "ist",
    "sind",
    "waren",
    "soll",
    "sollte",
    "sollten",
    "sollen",
    "kann",
    "können",
    "darf",
    "dürfen",
    "muss",
    "müssen",
    "hat",
    "haben",
    "gibt",
    "wird",
    "werden",
];

const CHINESE_QUESTION_WORDS: &[&str] = &[
    "是否",
    "能否",
    "可否",
    "應否",
    "应否",
    "有沒有",
    "有没有",
    "是不是",
    "會不會",
    "会不会",
    "為何",
    "为何",
    "為什麼",
    "为什么",
    "為甚麼",
    "甚麼",
    "什麼",
    "什么",
    "如何",
    "怎樣",
    "怎样",
    "怎麼",
    "怎么",
    "誰",
    "谁",
    "哪",
];

/// Whether `text` reads as a question; see the [module docs](self).
pub fn is_question(text: &str) -> bool {
    let trimmed = text
        .trim()
        .trim_end_matches(|c: char| c.is_whitespace() || "\"'”’」』)）]】*`»".contains(c));
    if trimmed.ends_with(['?', '？', '؟']) {
        return true;
    }
    let word: String = trimmed
        .trim_start_matches(|c: char| !c.is_alphanumeric())
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '-' || is_apostrophe(*c))
        .flat_map(char::to_lowercase)
        .collect();
    // `isn't` is checked as `isnt`; French elision `qu'en`, `qu'est-ce` by its `qu`.
    let joined: String = word.chars().filter(|c| !is_apostrophe(*c)).collect();
    let elided = word.contains(is_apostrophe) && word.split(is_apostrophe).next() == Some("qu");
    if elided || QUESTION_WORDS.contains(&joined.as_str()) || joined.starts_with("est-ce") {
        return true;
    }
    let bare = trimmed.trim_end_matches(|c: char| !c.is_alphanumeric());
    if bare.ends_with(['嗎', '吗', '呢']) {
        return true;
    }
    let ends_with_full_stop = trimmed.ends_with(['.', '。', '!', '！']);
    !ends_with_full_stop && CHINESE_QUESTION_WORDS.iter().any(|w| trimmed.contains(w))
}

// ---------------------------------------------------------------------------------------------
// Opposition.

/// Negation and refusal words, matched as whole tokens.
const POLARITY_WORDS: &[&str] = &[
    // English
    "not",
    "no",
    "never",
    "none",
    "nobody",
    "nothing",
    "neither",
    "nor",
    "without",
    "cannot",
    "dont",
    "doesnt",
    "didnt",
    "isnt",
    "arent",
    "wasnt",
    "werent",
    "cant",
    "couldnt",
    "shouldnt",
    "wouldnt",
    "wont",
    "hasnt",
    "havent",
    "hadnt",
    "mustnt",
    "neednt",
    "oppose",
    "opposes",
    "opposed",
    "opposing",
    "against",
    "reject",
    "rejects",
    "rejected",
    "refuse",
    "refuses",
    "refused",
    "deny",
    "denies",
    "denied",
    // French
    "ne",
    "n",
    "pas",
    "jamais",
    "aucun",
    "aucune",
    "rien",
    "sans",
    "non",
    "ni",
    "contre",
    "refuse",
    "refusent",
    "rejette",
    "rejettent",
    // German
    "nicht",
    "kein",
    "keine",
    "keinen",
    "keinem",
    "keiner",
    "keines",
    "nie",
    "niemals",
    "nichts",
    "ohne",
    "weder",
    "nein",
    "gegen",
    "ablehnen",
    "lehnt",
    "lehnen",
    "ablehnung",
];

/// Chinese negation and refusal markers, counted as substrings.
const CHINESE_POLARITY: &[&str] = &[
    "不", "沒", "没", "無", "无", "非", "未", "別", "别", "莫", "勿", "毋", "反對", "反对", "拒絕",
    "拒绝", "否認", "否认",
];

/// Antonym pairs. A word ending in `*` matches every token it begins (`increas*`: increase,
/// increases, increasing); other words match whole tokens; Chinese words match as substrings.
const ANTONYMS: &[(&str, &str)] = &[
    // English
    ("support*", "oppos*"),
    ("increas*", "decreas*"),
    ("increas*", "reduc*"),
    ("rais*", "lower*"),
    ("rise", "fall"),
    ("rises", "falls"),
    ("rising", "falling"),
    ("more", "less"),
    ("more", "fewer"),
    ("higher", "lower"),
    ("good", "bad"),
    ("better", "worse"),
    ("positive", "negative"),
    ("benefit*", "harm"),
    ("beneficial", "harmful"),
    ("safe", "dangerous"),
    ("safer", "dangerous"),
    ("accept*", "reject*"),
    ("allow*", "ban*"),
    ("allow*", "forbid*"),
    ("allow*", "prohibit*"),
    ("success*", "fail*"),
    ("win", "lose"),
    ("strengthen*", "weaken*"),
    ("improv*", "worsen*"),
    ("right", "wrong"),
    ("true", "false"),
    ("welcom*", "condemn*"),
    ("prais*", "critici*"),
    ("expand*", "shrink*"),
    ("peace", "war"),
    ("always", "never"),
    // French
    ("soutien*", "oppos*"),
    ("augment*", "diminu*"),
    ("hausse", "baisse"),
    ("accepter", "refuser"),
    ("renforc*", "affaibl*"),
    ("pour", "contre"),
    ("bon", "mauvais"),
    ("succès", "échec"),
    ("positif", "négatif"),
    // German
    ("unterstütz*", "ablehn*"),
    ("erhöh*", "senk*"),
    ("steigen", "sinken"),
    ("mehr", "weniger"),
    ("gut", "schlecht"),
    ("stärk*", "schwäch*"),
    ("dafür", "dagegen"),
    ("zustimm*", "ablehn*"),
    ("sicher", "gefährlich"),
    ("erfolg", "misserfolg"),
    // Chinese (traditional and simplified)
    ("支持", "反對"),
    ("支持", "反对"),
    ("贊成", "反對"),
    ("赞成", "反对"),
    ("同意", "反對"),
    ("同意", "反对"),
    ("增加", "減少"),
    ("增加", "减少"),
    ("提高", "降低"),
    ("上升", "下降"),
    ("擴大", "縮小"),
    ("扩大", "缩小"),
    ("加強", "削弱"),
    ("加强", "削弱"),
    ("成功", "失敗"),
    ("成功", "失败"),
    ("合法", "違法"),
    ("合法", "违法"),
    ("正面", "負面"),
    ("正面", "负面"),
    ("積極", "消極"),
    ("积极", "消极"),
    ("安全", "危險"),
    ("安全", "危险"),
    ("歡迎", "譴責"),
    ("欢迎", "谴责"),
    ("讚揚", "批評"),
    ("赞扬", "批评"),
    ("肯定", "否定"),
    ("接受", "拒絕"),
    ("接受", "拒绝"),
    ("保留", "廢除"),
    ("保留", "废除"),
    ("維持", "改變"),
    ("维持", "改变"),
    ("和平", "戰爭"),
    ("和平", "战争"),
    ("好", "壞"),
    ("好", "坏"),
    ("贏", "輸"),
    ("赢", "输"),
    ("有利", "有害"),
];

/// Negating prefixes of the prefix rule (fair/unfair, legal/illegal, agree/disagree).
const NEGATING_PREFIXES: &[&str] = &["un", "in", "im", "il", "ir", "dis", "non"];

fn polarity_count(normalised: &str, words: &[String]) -> usize {
    let word_markers = words
        .iter()
        .filter(|w| POLARITY_WORDS.contains(&w.as_str()))
        .count();
    let chinese_markers: usize = CHINESE_POLARITY
        .iter()
        .map(|m| normalised.matches(m).count())
        .sum();
    word_markers + chinese_markers
}

fn has_stem(normalised: &str, words: &[String], stem: &str) -> bool {
    if stem.chars().any(is_cjk) {
        return normalised.contains(stem);
    }
    match stem.strip_suffix('*') {
        Some(prefix) => words.iter().any(|w| w.starts_with(prefix)),
        None => words.iter().any(|w| w == stem),
    }
}

/// Whether RS opposes S, and why; see the [module docs](self).
pub fn opposition(statement: &str, reverse: &str, params: &ValidationParams) -> Opposition {
    let (s_norm, rs_norm) = (normalise(statement), normalise(reverse));
    let (s_words, rs_words) = (tokens(&s_norm), tokens(&rs_norm));
    let s_set: BTreeSet<&str> = s_words.iter().map(String::as_str).collect();
    let rs_set: BTreeSet<&str> = rs_words.iter().map(String::as_str).collect();
    let shared = overlap(&s_set, &rs_set);
    if shared < params.min_overlap {
        return Opposition::Unclear { overlap: shared };
    }
    let (s_markers, rs_markers) = (
        polarity_count(&s_norm, &s_words),
        polarity_count(&rs_norm, &rs_words),
    );
    if s_markers != rs_markers {
        return Opposition::Negation {
            statement: s_markers,
            reverse: rs_markers,
        };
    }
    let s_has = |stem: &str| has_stem(&s_norm, &s_words, stem);
    let rs_has = |stem: &str| has_stem(&rs_norm, &rs_words, stem);
    for &(a, b) in ANTONYMS {
        for (from, to) in [(a, b), (b, a)] {
            if s_has(from) && !s_has(to) && rs_has(to) && !rs_has(from) {
                return Opposition::Antonym {
                    from: from.trim_end_matches('*').to_string(),
                    to: to.trim_end_matches('*').to_string(),
                };
            }
        }
    }
    // Prefix negation: a word of one side is a word of the other with a negating prefix.
    for (from_words, to_set, s_to_rs) in [(&s_words, &rs_set, true), (&rs_words, &s_set, false)] {
        let own_set = if s_to_rs { &s_set } else { &rs_set };
        for word in from_words.iter().filter(|w| w.chars().count() >= 4) {
            for prefix in NEGATING_PREFIXES {
                let negated = format!("{prefix}{word}");
                if to_set.contains(negated.as_str()) && !own_set.contains(negated.as_str()) {
                    let (from, to) = if s_to_rs {
                        (word.clone(), negated)
                    } else {
                        (negated, word.clone())
                    };
                    return Opposition::Antonym { from, to };
                }
            }
        }
    }
    Opposition::NotOpposed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_folds_case_width_and_punctuation() {
        assert_eq!(normalise("Ｈｅｌｌｏ，  World！"), "hello world");
        assert_eq!(normalise("「港獨」與「自決」。"), "港獨 與 自決");
        assert_eq!(normalise("Don't stop"), "dont stop");
        assert_eq!(normalise("n'est pas"), "n est pas");
        assert_eq!(tokens(&normalise("港獨 is bad")), ["港", "獨", "is", "bad"]);
    }

    #[test]
    fn questions_in_four_languages() {
        for q in [
            "Should the voting age be lowered to 16?",
            "Should the voting age be lowered to 16",
            "Is it fair.",
            "\"Do bike lanes help?\"",
            "中央和特區政府是否正在尋找減少福利的方法，包括退休金？",
            "政府應該增加福利嗎",
            "政府應該增加福利吗。",
            "政府是否應該增加福利",
            "Pourquoi le gouvernement a-t-il agi",
            "Est-ce que la réforme est juste",
            "Qu'en pense le ministre",
            "Warum handelt die Regierung",
            "Soll das Wahlalter gesenkt werden",
            "What should the council do?",
        ] {
            assert!(is_question(q), "{q:?}");
        }
        for s in [
            "The voting age should be lowered to 16.",
            "The government acted.",
            "引起外界猜測是否有超然力量推動其參選。",
            "政府應該增加福利。",
            "Le gouvernement a agi.",
            "Die Regierung handelt.",
            "",
        ] {
            assert!(!is_question(s), "{s:?}");
        }
    }

    fn opp(s: &str, rs: &str) -> Opposition {
        opposition(s, rs, &ValidationParams::default())
    }

    #[test]
    fn opposition_by_negation_antonym_and_prefix() {
        assert!(matches!(
            opp(
                "The voting age should be lowered to 16.",
                "The voting age should not be lowered to 16."
            ),
            Opposition::Negation {
                statement: 0,
                reverse: 1
            }
        ));
        assert!(matches!(
            opp(
                "湯家驊希望民主派下星期可開會。",
                "湯家驊希望民主派下星期不開會。"
            ),
            Opposition::Negation { .. }
        ));
        assert_eq!(
            opp(
                "The union supports the reform.",
                "The union opposes the reform."
            ),
            // "opposes" is also a refusal marker: the count differs first.
            Opposition::Negation {
                statement: 0,
                reverse: 1
            }
        );
        assert_eq!(
            opp(
                "Taxes will increase next year.",
                "Taxes will decrease next year."
            ),
            Opposition::Antonym {
                from: "increas".into(),
                to: "decreas".into()
            }
        );
        assert_eq!(
            opp("政府應該增加福利開支。", "政府應該減少福利開支。"),
            Opposition::Antonym {
                from: "增加".into(),
                to: "減少".into()
            }
        );
        assert_eq!(
            opp("The election was fair.", "The election was unfair."),
            Opposition::Antonym {
                from: "fair".into(),
                to: "unfair".into()
            }
        );
        assert_eq!(
            opp(
                "Die Regierung will die Steuern erhöhen.",
                "Die Regierung will die Steuern senken."
            ),
            Opposition::Antonym {
                from: "erhöh".into(),
                to: "senk".into()
            }
        );
    }

    #[test]
    fn similar_texts_without_a_flip_are_not_opposed() {
        assert_eq!(
            opp(
                "The voting age should be lowered to 16.",
                "The voting age should be lowered to sixteen."
            ),
            Opposition::NotOpposed
        );
        // A double negation keeps the marker count: no evidence either.
        assert_eq!(
            opp(
                "The minister is not against the plan.",
                "The minister is not against the plan at all."
            ),
            Opposition::NotOpposed
        );
    }

    #[test]
    fn low_overlap_is_unclear_not_a_pass() {
        match opp(
            "The transition is completed, and the governments want to cut pensions.",
            "中央和特區政府並沒有尋找減少福利的方法。",
        ) {
            Opposition::Unclear { overlap } => assert!(overlap < 0.5, "{overlap}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_min_overlap_is_refused() {
        for bad in [-0.1, 1.5, f64::NAN] {
            let params = ValidationParams {
                min_overlap: bad,
                ..ValidationParams::default()
            };
            assert!(params.check().is_err(), "{bad}");
        }
    }
}
