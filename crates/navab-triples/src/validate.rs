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
//! 2. A negation or refusal marker was added, removed or moved: the markers, each with the
//!    token after it (`not be`, `不會`), differ as multisets. Markers: `not`, `no`, `never`,
//!    `n't`, `ne`, `pas`, `nicht`, `kein`, 不, 沒, 無, 非, 未, 勿, ..., and refusal verbs
//!    `oppose`, `against`, `reject`, 反對, 拒絕, `contre`, `gegen`, ... (非常, 未來, 不斷 and
//!    the like are not negations): [`Opposition::Negation`]. A double negation or an unchanged
//!    one is no sign.
//! 3. A known antonym replaces its opposite (S has more of one side of a pair than RS, RS more
//!    of the other), or the two sides of a pair swap places ("supports A, criticises B" →
//!    "criticises A, supports B"): support/oppose, increase/decrease, 支持/反對, 支持/批評,
//!    增加/減少, 正確/錯誤, augmenter/diminuer, erhöhen/senken, ...; or prefix negation:
//!    fair/unfair, legal/illegal, agree/disagree: [`Opposition::Antonym`].
//! 4. No sign of a flip. If RS is a near-copy of S (token Jaccard at least
//!    [`ValidationParams::same_stance_similarity`], 0.6): [`Opposition::NotOpposed`],
//!    reported as the error [`Issue::ReverseNotOpposed`]. Otherwise the heuristic cannot tell
//!    (a reworded RS): [`Opposition::Unclear`], a warning.
//!
//! The heuristic cannot see meaning: "X is rising" against "X is falling" passes through its
//! antonym list, "X is rising" against "X is stalling" is unclear. Its errors aim at the obvious
//! generation failures (RS = S, RS = S with a word changed that flips nothing); it is a filter,
//! not a judge. On the 75 real triples of the HK sample see `docs/benchmarks.md`.

use std::collections::{BTreeMap, BTreeSet};

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
    /// A negation or refusal marker was added, removed or moved to another word.
    Negation {
        /// The marker with the token after it, e.g. `not be` or `不會`.
        context: String,
        /// Whether RS has it and S not (else S has it and RS not).
        added: bool,
    },
    /// An antonym replaces its opposite, or a pair of antonyms swaps places (`a … b` → `b … a`).
    Antonym {
        /// The word of S.
        from: String,
        /// The word of RS.
        to: String,
    },
    /// S and RS share too few tokens to compare, or differ more than a near-copy without any
    /// sign of a flip.
    Unclear {
        /// Share of the smaller token set found in the other.
        overlap: f64,
    },
    /// RS is a near-copy of S and nothing flips the stance.
    NotOpposed {
        /// Jaccard similarity of the token sets.
        similarity: f64,
    },
}

/// Settings of the checks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValidationParams {
    /// Below this token overlap (share of the smaller token set found in the other),
    /// opposition is [`Opposition::Unclear`] (default 0.5; in `[0, 1]`).
    pub min_overlap: f64,
    /// With no sign of a flip, RS at least this similar to S (Jaccard of the token sets) is
    /// [`Opposition::NotOpposed`], an error; below, [`Opposition::Unclear`] (default 0.6; in
    /// `[0, 1]`).
    pub same_stance_similarity: f64,
    /// Also exclude triples whose opposition is unclear (default `false`: they are kept and
    /// counted).
    pub exclude_unclear: bool,
}

impl Default for ValidationParams {
    fn default() -> Self {
        Self {
            min_overlap: 0.5,
            same_stance_similarity: 0.6,
            exclude_unclear: false,
        }
    }
}

impl ValidationParams {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] if `min_overlap` or `same_stance_similarity` is not in `[0, 1]`.
    pub fn check(&self) -> Result<()> {
        for (name, value) in [
            ("min_overlap", self.min_overlap),
            ("same_stance_similarity", self.same_stance_similarity),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(Error::InvalidParam {
                    name,
                    value: format!("{value:?}"),
                    reason: "must be in [0, 1]",
                });
            }
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
        Opposition::NotOpposed { .. } => issues.push(Issue::ReverseNotOpposed),
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

/// Chinese negation and refusal markers, matched as substrings.
const CHINESE_POLARITY: &[&str] = &[
    "反對", "反对", "拒絕", "拒绝", "否認", "否认", "不", "沒", "没", "無", "无", "非", "未", "別",
    "别", "莫", "勿", "毋",
];

/// Words that begin with a Chinese negation character but negate nothing ("very", "future",
/// "constantly", "but", ...): their marker is not counted.
const CHINESE_NOT_NEGATIONS: &[&str] = &[
    "非常",
    "未來",
    "未来",
    "不斷",
    "不断",
    "不少",
    "不過",
    "不过",
    "不僅",
    "不仅",
    "無論",
    "无论",
    "別人",
    "别人",
    "莫斯科",
    "無數",
    "无数",
];

/// Antonym pairs. A word ending in `*` matches every token it begins (`increas*`: increase,
/// increases, increasing); other words match whole tokens; Chinese words match as substrings.
const ANTONYMS: &[(&str, &str)] = &[
    // English
    ("support*", "oppos*"),
    ("support*", "criticis*"),
    ("support*", "criticiz*"),
    ("support*", "condemn*"),
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
    ("correct", "wrong"),
    ("true", "false"),
    ("welcom*", "condemn*"),
    ("prais*", "critici*"),
    ("prais*", "condemn*"),
    ("expand*", "shrink*"),
    ("peace", "war"),
    ("always", "never"),
    ("honour*", "humiliat*"),
    ("honor*", "humiliat*"),
    ("cooperat*", "confront*"),
    ("unit*", "divid*"),
    ("progress*", "regress*"),
    ("democra*", "dictator*"),
    ("legal", "illegal"),
    // French
    ("soutien*", "oppos*"),
    ("soutien*", "critiqu*"),
    ("augment*", "diminu*"),
    ("hausse", "baisse"),
    ("accepter", "refuser"),
    ("renforc*", "affaibl*"),
    ("pour", "contre"),
    ("bon", "mauvais"),
    ("succès", "échec"),
    ("positif", "négatif"),
    ("favorable", "défavorable"),
    // German
    ("unterstütz*", "ablehn*"),
    ("unterstütz*", "kritisier*"),
    ("erhöh*", "senk*"),
    ("steigen", "sinken"),
    ("mehr", "weniger"),
    ("gut", "schlecht"),
    ("stärk*", "schwäch*"),
    ("dafür", "dagegen"),
    ("zustimm*", "ablehn*"),
    ("sicher", "gefährlich"),
    ("erfolg", "misserfolg"),
    ("richtig", "falsch"),
    // Chinese (traditional and simplified)
    ("支持", "反對"),
    ("支持", "反对"),
    ("支持", "批評"),
    ("支持", "批评"),
    ("支持", "抨擊"),
    ("支持", "抨击"),
    ("支持", "譴責"),
    ("支持", "谴责"),
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
    ("讚賞", "批評"),
    ("赞赏", "批评"),
    ("肯定", "否定"),
    ("接受", "拒絕"),
    ("接受", "拒绝"),
    ("保留", "廢除"),
    ("保留", "废除"),
    ("維持", "改變"),
    ("维持", "改变"),
    ("和平", "戰爭"),
    ("和平", "战争"),
    ("正確", "錯誤"),
    ("正确", "错误"),
    ("誤解", "正確"),
    ("误解", "正确"),
    ("羞辱", "榮譽"),
    ("羞辱", "荣誉"),
    ("惡劣", "良好"),
    ("恶劣", "良好"),
    ("合作", "對抗"),
    ("合作", "对抗"),
    ("團結", "分裂"),
    ("团结", "分裂"),
    ("穩定", "動盪"),
    ("稳定", "动荡"),
    ("進步", "倒退"),
    ("进步", "倒退"),
    ("共存", "對立"),
    ("共存", "对立"),
    ("好", "壞"),
    ("好", "坏"),
    ("好", "差"),
    ("贏", "輸"),
    ("赢", "输"),
    ("有利", "有害"),
];

/// Negating prefixes of the prefix rule (fair/unfair, legal/illegal, agree/disagree).
const NEGATING_PREFIXES: &[&str] = &["un", "in", "im", "il", "ir", "dis", "non"];

/// A tokenised text, for the opposition checks.
struct Text {
    /// Normalised, with spaces.
    normalised: String,
    /// Tokens (words, CJK characters).
    tokens: Vec<String>,
}

impl Text {
    fn new(raw: &str) -> Self {
        let normalised = normalise(raw);
        let tokens = tokens(&normalised);
        Self { normalised, tokens }
    }

    fn set(&self) -> BTreeSet<&str> {
        self.tokens.iter().map(String::as_str).collect()
    }

    /// Positions of a stem: byte offsets for Chinese words, token indices for others.
    fn positions(&self, stem: &str) -> Vec<usize> {
        if stem.chars().any(is_cjk) {
            return self
                .normalised
                .match_indices(stem)
                .map(|(at, _)| at)
                .collect();
        }
        let matches = |w: &String| match stem.strip_suffix('*') {
            Some(prefix) => w.starts_with(prefix),
            None => w == stem,
        };
        self.tokens
            .iter()
            .enumerate()
            .filter(|(_, w)| matches(w))
            .map(|(i, _)| i)
            .collect()
    }

    /// Each negation or refusal marker with the token after it (`not be`, `不會`), counted.
    fn negation_contexts(&self) -> BTreeMap<String, usize> {
        let mut contexts = BTreeMap::new();
        for (i, token) in self.tokens.iter().enumerate() {
            if POLARITY_WORDS.contains(&token.as_str()) {
                let next = self.tokens.get(i + 1).map_or("", String::as_str);
                *contexts.entry(format!("{token} {next}")).or_default() += 1;
            }
        }
        let squashed: String = self.normalised.chars().filter(|c| *c != ' ').collect();
        let mut at = 0;
        while at < squashed.len() {
            let rest = &squashed[at..];
            let step = rest.chars().next().map_or(1, char::len_utf8);
            if CHINESE_NOT_NEGATIONS.iter().any(|w| rest.starts_with(w)) {
                at += step;
                continue;
            }
            if let Some(marker) = CHINESE_POLARITY.iter().find(|m| rest.starts_with(*m)) {
                let next: String = rest[marker.len()..].chars().take(1).collect();
                *contexts.entry(format!("{marker}{next}")).or_default() += 1;
                at += marker.len();
                continue;
            }
            at += step;
        }
        contexts
    }
}

/// Share of the smaller token set found in the other, and the Jaccard similarity.
fn similarity(a: &BTreeSet<&str>, b: &BTreeSet<&str>) -> (f64, f64) {
    let shared = a.intersection(b).count() as f64;
    let smaller = a.len().min(b.len());
    let union = a.len() + b.len() - shared as usize;
    let overlap = if smaller == 0 {
        0.0
    } else {
        shared / smaller as f64
    };
    let jaccard = if union == 0 {
        1.0
    } else {
        shared / union as f64
    };
    (overlap, jaccard)
}

/// Whether RS opposes S, and why; see the [module docs](self).
pub fn opposition(statement: &str, reverse: &str, params: &ValidationParams) -> Opposition {
    let (s, rs) = (Text::new(statement), Text::new(reverse));
    let (s_set, rs_set) = (s.set(), rs.set());
    let (overlap, jaccard) = similarity(&s_set, &rs_set);
    if overlap < params.min_overlap {
        return Opposition::Unclear { overlap };
    }
    // 1. A negation added, removed or moved to another word.
    let (s_neg, rs_neg) = (s.negation_contexts(), rs.negation_contexts());
    if s_neg != rs_neg {
        let added = rs_neg
            .iter()
            .find(|(k, n)| s_neg.get(*k).copied().unwrap_or(0) < **n);
        let (context, added) = match added {
            Some((k, _)) => (k.clone(), true),
            None => {
                let removed = s_neg
                    .iter()
                    .find(|(k, n)| rs_neg.get(*k).copied().unwrap_or(0) < **n);
                (removed.map(|(k, _)| k.clone()).unwrap_or_default(), false)
            }
        };
        return Opposition::Negation {
            context: context.trim().to_string(),
            added,
        };
    }
    // 2. An antonym replaces its opposite, or a pair of antonyms swaps places.
    for &(a, b) in ANTONYMS {
        let (sa, sb, ra, rb) = (
            s.positions(a),
            s.positions(b),
            rs.positions(a),
            rs.positions(b),
        );
        let word = |w: &str| w.trim_end_matches('*').to_string();
        if sa.len() > ra.len() && rb.len() > sb.len() {
            return Opposition::Antonym {
                from: word(a),
                to: word(b),
            };
        }
        if sb.len() > rb.len() && ra.len() > sa.len() {
            return Opposition::Antonym {
                from: word(b),
                to: word(a),
            };
        }
        if let (Some(sa), Some(sb), Some(ra), Some(rb)) =
            (sa.first(), sb.first(), ra.first(), rb.first())
        {
            if (sa < sb) != (ra < rb) {
                let (first, second) = if sa < sb { (a, b) } else { (b, a) };
                return Opposition::Antonym {
                    from: format!("{} … {}", word(first), word(second)),
                    to: format!("{} … {}", word(second), word(first)),
                };
            }
        }
    }
    // 3. Prefix negation: a word of one side is a word of the other with a negating prefix.
    for (from, to_set, own_set, s_to_rs) in [
        (&s.tokens, &rs_set, &s_set, true),
        (&rs.tokens, &s_set, &rs_set, false),
    ] {
        for word in from.iter().filter(|w| w.chars().count() >= 4) {
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
    // 4. No sign of a flip: near-copies are not opposed; the rest cannot be told.
    if jaccard >= params.same_stance_similarity {
        Opposition::NotOpposed {
            similarity: jaccard,
        }
    } else {
        Opposition::Unclear { overlap }
    }
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

    fn negation(context: &str, added: bool) -> Opposition {
        Opposition::Negation {
            context: context.into(),
            added,
        }
    }

    fn antonym(from: &str, to: &str) -> Opposition {
        Opposition::Antonym {
            from: from.into(),
            to: to.into(),
        }
    }

    #[test]
    fn opposition_by_negation() {
        assert_eq!(
            opp(
                "The voting age should be lowered to 16.",
                "The voting age should not be lowered to 16."
            ),
            negation("not be", true)
        );
        // Dropping 可 ("can") flips nothing: 13 of 14 characters shared.
        assert_eq!(
            opp(
                "湯家驊希望民主派下星期可開會。",
                "湯家驊希望民主派下星期開會。"
            ),
            Opposition::NotOpposed {
                similarity: 13.0 / 14.0
            }
        );
        assert_eq!(
            opp(
                "湯家驊希望民主派下星期開會。",
                "湯家驊希望民主派下星期不開會。"
            ),
            negation("不開", true)
        );
        // The negation moves from one verb to another (real sample, official 17).
        assert_eq!(
            opp(
                "曾鈺成可能不會自己參選，將支持其他候選人。",
                "曾鈺成一定會自己參選，將不支持其他候選人。"
            ),
            negation("不支", true)
        );
        // "opposes" is a refusal marker.
        assert_eq!(
            opp(
                "The union supports the reform.",
                "The union opposes the reform."
            ),
            negation("opposes the", true)
        );
        assert_eq!(
            opp("Le projet n'est pas juste.", "Le projet est juste."),
            negation("n est", false)
        );
        // 非常 is "very", not a negation.
        assert_eq!(
            opp("公文管理非常惡劣。", "公文管理非常良好。"),
            antonym("惡劣", "良好")
        );
    }

    #[test]
    fn opposition_by_antonyms() {
        assert_eq!(
            opp(
                "Taxes will increase next year.",
                "Taxes will decrease next year."
            ),
            antonym("increas", "decreas")
        );
        assert_eq!(
            opp("政府應該增加福利開支。", "政府應該減少福利開支。"),
            antonym("增加", "減少")
        );
        assert_eq!(
            opp("The election was fair.", "The election was unfair."),
            antonym("fair", "unfair")
        );
        assert_eq!(
            opp(
                "Die Regierung will die Steuern erhöhen.",
                "Die Regierung will die Steuern senken."
            ),
            antonym("erhöh", "senk")
        );
        // Both sides of the pair in both texts, swapped (real sample, quoted 23).
        assert_eq!(
            opp(
                "戈爾公開支持奧巴馬，抨擊布殊八年來的政策失誤。",
                "戈爾公開抨擊奧巴馬，支持布殊八年來的政策。"
            ),
            antonym("支持 … 抨擊", "抨擊 … 支持")
        );
    }

    #[test]
    fn near_copies_without_a_flip_are_not_opposed() {
        assert!(matches!(
            opp(
                "The voting age should be lowered to 16.",
                "The voting age should be lowered to sixteen."
            ),
            Opposition::NotOpposed { .. }
        ));
        // A negation kept as it is is no sign.
        assert!(matches!(
            opp(
                "The minister is not against the plan.",
                "The minister is not against the plan at all."
            ),
            Opposition::NotOpposed { .. }
        ));
    }

    #[test]
    fn rewordings_and_other_languages_are_unclear_not_a_pass() {
        match opp(
            "The transition is completed, and the governments want to cut pensions.",
            "中央和特區政府並沒有尋找減少福利的方法。",
        ) {
            Opposition::Unclear { overlap } => assert!(overlap < 0.5, "{overlap}"),
            other => panic!("{other:?}"),
        }
        // Shared words, but RS rewrites the claim with words outside the lists.
        assert!(matches!(
            opp(
                "The council will finish the new bridge by spring.",
                "The council will abandon the new bridge project and keep the ferry."
            ),
            Opposition::Unclear { .. }
        ));
    }

    #[test]
    fn bad_min_overlap_is_refused() {
        for bad in [-0.1, 1.5, f64::NAN] {
            let params = ValidationParams {
                min_overlap: bad,
                ..ValidationParams::default()
            };
            assert!(params.check().is_err(), "{bad}");
            let params = ValidationParams {
                same_stance_similarity: bad,
                ..ValidationParams::default()
            };
            assert!(params.check().is_err(), "{bad}");
        }
    }
}
