//! Shared helpers for reading messy replies.
//!
//! They locate labels and answers but return slices of the reply's own text, so content keeps
//! its full-width punctuation (`：`, `「」`) and case.

use std::sync::LazyLock;

use regex::Regex;

/// Drops code-fence lines and markdown bold, normalises line ends, trims.
pub(crate) fn clean(raw: &str) -> String {
    let text = raw.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.replace("**", "").trim().to_string()
}

/// Collapses every run of whitespace to nothing; for comparing texts "up to whitespace".
pub fn squash_whitespace(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

const WRAPPERS: [(char, char); 9] = [
    ('"', '"'),
    ('\'', '\''),
    ('“', '”'),
    ('‘', '’'),
    ('「', '」'),
    ('『', '』'),
    ('[', ']'),
    ('【', '】'),
    ('`', '`'),
];

/// Trims whitespace, markdown emphasis, and one wrapping pair of quotes or brackets when the
/// pair encloses the whole text and does not occur inside it.
pub(crate) fn strip_wrapping(s: &str) -> &str {
    let mut s = s.trim().trim_matches('*').trim();
    for _ in 0..2 {
        let mut changed = false;
        for (open, close) in WRAPPERS {
            if let Some(inner) = s.strip_prefix(open).and_then(|r| r.strip_suffix(close)) {
                if !inner.contains(open) && !inner.contains(close) {
                    s = inner.trim();
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    s
}

/// Trims trailing sentence punctuation (ASCII and full-width).
pub(crate) fn trim_end_punct(s: &str) -> &str {
    s.trim_end_matches(|c: char| ".。!！,，;；:：".contains(c) || c.is_whitespace())
}

/// The text after the last `##`, if any; else after a lone ` # ` written inline after other
/// text on its line (small models drop one `#`: `A public opinion. # no`), never a Markdown
/// heading at the start of a line.
pub(crate) fn after_last_hashes(text: &str) -> Option<&str> {
    if let Some(i) = text.rfind("##") {
        return Some(text[i + 2..].trim_start_matches('#'));
    }
    let i = text.rfind(" # ")?;
    let line_start = text[..i].rfind('\n').map_or(0, |p| p + 1);
    (!text[line_start..i].trim().is_empty()).then(|| &text[i + 3..])
}

/// The first non-empty line.
pub(crate) fn first_line(s: &str) -> &str {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

/// The last non-empty line.
pub(crate) fn last_line(s: &str) -> &str {
    s.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

/// Leading markup that may precede an answer token: bullets, quotes, brackets, colons.
fn skip_markup(s: &str) -> &str {
    s.trim_start_matches(|c: char| c.is_whitespace() || "*#\"'“”‘’「『([【<>:：-–—•`_".contains(c))
}

/// The leading word: letters only (any script but CJK, which has no spaces).
fn leading_word(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_alphabetic() && !is_cjk(*c))
        .collect::<String>()
        .to_lowercase()
}

pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF)
}

static YES_NO_BOTH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\W*(yes|no)\s*(/|\bor\b)\s*(yes|no)\b").expect("valid regex")
});

/// Reads a yes/no token at the start of a decisive segment: English, Chinese, French, German,
/// Spanish, Russian. `None` when the segment starts with neither, or with a `yes/no` echo.
pub(crate) fn yes_no(segment: &str) -> Option<bool> {
    let s = skip_markup(segment);
    if YES_NO_BOTH.is_match(s) {
        return None;
    }
    for (prefix, value) in [
        ("不是", false),
        ("否", false),
        ("沒有", false),
        ("没有", false),
        ("不", false),
        ("是", true),
        ("對", true),
        ("对", true),
        ("はい", true),
        ("いいえ", false),
    ] {
        if let Some(rest) = s.strip_prefix(prefix) {
            // `是否…` or `不少…` start a sentence, not an answer.
            match rest.chars().next() {
                Some(c) if is_cjk(c) && !(prefix == "是" && c == '的') => {}
                _ => return Some(value),
            }
        }
    }
    match leading_word(s).as_str() {
        "yes" | "y" | "yeah" | "yep" | "true" | "oui" | "ja" | "si" | "sí" | "да" => Some(true),
        "no" | "n" | "nope" | "false" | "non" | "nein" | "нет" => Some(false),
        _ => None,
    }
}

static ANSWER_LABEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?im)(?:^|[\s*#])(?:final answer|answer|response|verdict|judg(?:e)?ment|decision|conclusion|label|result|output|答案|回答|答覆|答复|結論|结论|判斷|判断|réponse|reponse|verdict final|antwort|urteil|ergebnis)\s*[:：]\s*(.*)$",
    )
    .expect("valid regex")
});

/// The candidate answer segments of a reply, most decisive first: after the last `##`, after
/// each answer label (last label first), then, marked `false` (not labelled), the whole reply
/// and its last line.
pub(crate) fn decisive_segments(text: &str) -> Vec<(&str, bool)> {
    let mut out = Vec::new();
    if let Some(after) = after_last_hashes(text) {
        out.push((after, true));
    }
    let labelled: Vec<&str> = ANSWER_LABEL
        .captures_iter(text)
        .filter_map(|c| c.get(1))
        .map(|m| m.as_str())
        .collect();
    out.extend(labelled.into_iter().rev().map(|s| (s, true)));
    out.push((text, false));
    out.push((last_line(text), false));
    out
}

/// Converts single-quoted JSON-ish strings to double-quoted ones, leaving apostrophes inside
/// words alone (a `'` closes a string only before `,` `:` `]` `}` or the end).
fn single_to_double_quotes(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut in_double = false;
    let mut in_single = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if in_double {
            out.push(c);
            if c == '\\' && i + 1 < chars.len() {
                out.push(chars[i + 1]);
                i += 1;
            } else if c == '"' {
                in_double = false;
            }
        } else if in_single {
            if c == '\'' {
                let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
                if matches!(next, None | Some(',' | ':' | ']' | '}')) {
                    out.push('"');
                    in_single = false;
                } else {
                    out.push('\'');
                }
            } else if c == '"' {
                out.push_str("\\\"");
            } else {
                out.push(c);
            }
        } else {
            match c {
                '"' => {
                    in_double = true;
                    out.push('"');
                }
                '\'' => {
                    in_single = true;
                    out.push('"');
                }
                _ => out.push(c),
            }
        }
        i += 1;
    }
    out
}

static TRAILING_COMMA: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r",(\s*[\]}])").expect("valid regex"));

/// Repairs the usual JSON slips: curly quotes, single quotes, trailing commas.
pub(crate) fn repair_json(s: &str) -> String {
    let s = s.replace(['“', '”'], "\"").replace(['‘', '’'], "'");
    let s = single_to_double_quotes(&s);
    TRAILING_COMMA.replace_all(&s, "$1").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yes_no_tokens() {
        for (s, want) in [
            ("yes", Some(true)),
            (" **Yes**.", Some(true)),
            ("[No]", Some(false)),
            ("是", Some(true)),
            ("不是。", Some(false)),
            ("否", Some(false)),
            ("是的，這是政治議題", Some(true)),
            ("是否相關很難說", None),
            ("Oui, c'est politique", Some(true)),
            ("nein", Some(false)),
            ("Yes/No", None),
            ("not sure", None),
            ("know", None),
            ("", None),
        ] {
            assert_eq!(yes_no(s), want, "{s:?}");
        }
    }

    #[test]
    fn json_repair() {
        let fixed = repair_json("[{'tag': 'Hong Kong', 'explanation': \"it's a city\",},]");
        let v: serde_json::Value = serde_json::from_str(&fixed).unwrap();
        assert_eq!(v[0]["tag"], "Hong Kong");
        let fixed = repair_json("[{'tag': 'Women's rights', 'explanation': 'x'}]");
        let v: serde_json::Value = serde_json::from_str(&fixed).unwrap();
        assert_eq!(v[0]["tag"], "Women's rights");
    }

    #[test]
    fn wrapping() {
        assert_eq!(
            strip_wrapping(" \"Abortion Restriction\" "),
            "Abortion Restriction"
        );
        assert_eq!(strip_wrapping("[Unknown]"), "Unknown");
        assert_eq!(strip_wrapping("「港獨」與「自決」"), "「港獨」與「自決」");
    }
}
