//! The data model: nations, statement sets, triples and preference items.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A nation whose values a statement set represents.
///
/// The paper's five nations have their own variants; any other nation is kept by name in
/// [`Nation::Other`]. Parsing accepts the folder names of the published dataset (`China`, `US`,
/// `UK`, `french`, `german`) and common aliases, case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Nation {
    /// China (mainland and Hong Kong SAR sources).
    China,
    /// The United States.
    UnitedStates,
    /// The United Kingdom.
    UnitedKingdom,
    /// France.
    France,
    /// Germany.
    Germany,
    /// Any other nation, by the name the data gives it.
    Other(String),
}

impl Nation {
    /// The paper's five nations, in the column order of its Table 2.
    pub const PAPER: [Nation; 5] = [
        Nation::China,
        Nation::UnitedStates,
        Nation::UnitedKingdom,
        Nation::France,
        Nation::Germany,
    ];

    /// Short display name, as in the paper's tables (`China`, `US`, `UK`, `France`, `Germany`).
    pub fn name(&self) -> &str {
        match self {
            Nation::China => "China",
            Nation::UnitedStates => "US",
            Nation::UnitedKingdom => "UK",
            Nation::France => "France",
            Nation::Germany => "Germany",
            Nation::Other(name) => name,
        }
    }

    /// Folder name in the published NaVAB dataset (`China`, `US`, `UK`, `french`, `german`).
    pub fn dataset_folder(&self) -> &str {
        match self {
            Nation::France => "french",
            Nation::Germany => "german",
            other => other.name(),
        }
    }
}

impl fmt::Display for Nation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Nation {
    type Err = std::convert::Infallible;

    /// Never fails: an unknown name becomes [`Nation::Other`].
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let trimmed = s.trim();
        let key = trimmed.to_ascii_lowercase().replace(['_', '-', '.'], " ");
        Ok(match key.as_str() {
            "china" | "cn" | "zh" | "prc" | "hong kong" | "hk" | "chinese" => Nation::China,
            "us"
            | "usa"
            | "united states"
            | "united states of america"
            | "america"
            | "american" => Nation::UnitedStates,
            "uk" | "gb" | "united kingdom" | "britain" | "great britain" | "british" => {
                Nation::UnitedKingdom
            }
            "france" | "fr" | "french" => Nation::France,
            "germany" | "de" | "german" | "deutschland" => Nation::Germany,
            _ => Nation::Other(trimmed.to_string()),
        })
    }
}

impl Serialize for Nation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Nation {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(s.parse().unwrap_or_else(|never| match never {}))
    }
}

/// Which of the paper's two statement sets a triple belongs to (Section 3.4, Step III).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum StatementSet {
    /// Opinions attributed to a named person or organisation (file `human_statement_result.json`).
    Quoted,
    /// Views of the media outlet itself (file `official_statement_result.json`).
    Official,
}

impl StatementSet {
    /// Both sets, in the order of the paper's Table 2.
    pub const ALL: [StatementSet; 2] = [StatementSet::Quoted, StatementSet::Official];

    /// File name of this set in the published NaVAB layout.
    pub fn file_name(self) -> &'static str {
        match self {
            StatementSet::Quoted => "human_statement_result.json",
            StatementSet::Official => "official_statement_result.json",
        }
    }

    /// Display name (`Quoted`, `Official`).
    pub fn name(self) -> &'static str {
        match self {
            StatementSet::Quoted => "Quoted",
            StatementSet::Official => "Official",
        }
    }

    /// Lower-case name, as in ids and the serde form (`quoted`, `official`).
    pub fn slug(self) -> &'static str {
        match self {
            StatementSet::Quoted => "quoted",
            StatementSet::Official => "official",
        }
    }
}

impl fmt::Display for StatementSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for StatementSet {
    type Err = crate::Error;

    fn from_str(s: &str) -> crate::Result<Self> {
        let trimmed = s.trim();
        match trimmed.to_ascii_lowercase().as_str() {
            "quoted" | "human" | "human_statement_result.json" => Ok(StatementSet::Quoted),
            "official" | "official_statement_result.json" => Ok(StatementSet::Official),
            _ => Err(crate::Error::UnknownStatementSet(trimmed.to_string())),
        }
    }
}

/// One NaVAB evaluation item: a question, the statement that holds the nation's stance, and its
/// reverse (Section 3.4, Step IV).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Triple {
    /// Stable identifier, unique within a dataset (e.g. `China/official/00007`, see
    /// [`Triple::navab_id`]).
    pub id: String,
    /// The nation whose values the statement represents.
    pub nation: Nation,
    /// Quoted or official statement set.
    pub set: StatementSet,
    /// Q: a value question derived from the statement.
    pub question: String,
    /// S: the statement, the answer aligned with the nation's values.
    pub statement: String,
    /// RS: the reverse statement, the opposed stance.
    pub reverse_statement: String,
    /// Who said it (quoted set), or `None` for the outlet itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The news text the statement was extracted from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_news: Option<String>,
}

impl Triple {
    /// The id the NaVAB readers give the record at 0-based `index` of a nation's set file:
    /// `<nation folder>/<set>/<index, 5 digits>`, e.g. `China/official/00007`.
    pub fn navab_id(nation: &Nation, set: StatementSet, index: usize) -> String {
        format!("{}/{}/{index:05}", nation.dataset_folder(), set.slug())
    }

    /// The triple as a preference item: prompt = Q, chosen = S, rejected = RS, with `nation`
    /// and `set` in the metadata.
    pub fn to_preference(&self) -> PreferenceItem {
        let mut metadata = BTreeMap::new();
        metadata.insert("nation".to_string(), self.nation.name().to_string());
        metadata.insert("set".to_string(), self.set.name().to_string());
        PreferenceItem {
            id: self.id.clone(),
            prompt: self.question.clone(),
            chosen: self.statement.clone(),
            rejected: self.reverse_statement.clone(),
            metadata,
        }
    }
}

/// A generic preference item: a prompt, the preferred response and the dispreferred one, plus
/// free-form metadata (MVPBench: `country`, `age`, `gender`, `education`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreferenceItem {
    /// Stable identifier, unique within a dataset.
    pub id: String,
    /// The question or instruction.
    pub prompt: String,
    /// The response aligned with the target values.
    pub chosen: String,
    /// The response that is not.
    pub rejected: String,
    /// Grouping fields, such as country or demographic group. Sorted, so output is stable.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nation(name: &str) -> Nation {
        name.parse().unwrap_or_else(|never| match never {})
    }

    #[test]
    fn published_folder_names_parse_and_write_back() {
        for (folder, expected) in [
            ("China", Nation::China),
            ("US", Nation::UnitedStates),
            ("UK", Nation::UnitedKingdom),
            ("french", Nation::France),
            ("german", Nation::Germany),
        ] {
            assert_eq!(nation(folder), expected, "{folder}");
            assert_eq!(expected.dataset_folder(), folder);
        }
    }

    #[test]
    fn aliases_are_case_and_separator_insensitive() {
        for (alias, expected) in [
            ("  usa ", Nation::UnitedStates),
            ("United_States", Nation::UnitedStates),
            ("united-kingdom", Nation::UnitedKingdom),
            ("Great Britain", Nation::UnitedKingdom),
            ("FRANCE", Nation::France),
            ("Deutschland", Nation::Germany),
            ("hong-kong", Nation::China),
            ("HK", Nation::China),
        ] {
            assert_eq!(nation(alias), expected, "{alias}");
        }
    }

    #[test]
    fn other_nations_keep_their_name() {
        assert_eq!(nation(" Kenya "), Nation::Other("Kenya".into()));
        assert_eq!(nation("Kenya").name(), "Kenya");
        assert_eq!(nation("Kenya").dataset_folder(), "Kenya");
        assert_eq!(
            nation("navab-hk-sample"),
            Nation::Other("navab-hk-sample".into())
        );
        assert_eq!(Nation::France.to_string(), "France");
    }

    #[test]
    fn nations_serialize_by_display_name() {
        let json = serde_json::to_string(&Nation::PAPER).unwrap();
        assert_eq!(json, r#"["China","US","UK","France","Germany"]"#);
        let back: Vec<Nation> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Nation::PAPER);
        let other: Nation = serde_json::from_str(r#""Kenya""#).unwrap();
        assert_eq!(other, Nation::Other("Kenya".into()));
    }

    #[test]
    fn statement_sets_parse_from_names_and_file_names() {
        for (name, expected) in [
            ("quoted", StatementSet::Quoted),
            ("Human", StatementSet::Quoted),
            ("human_statement_result.json", StatementSet::Quoted),
            (" OFFICIAL ", StatementSet::Official),
            ("official_statement_result.json", StatementSet::Official),
        ] {
            assert_eq!(name.parse::<StatementSet>().unwrap(), expected, "{name}");
        }
        for set in StatementSet::ALL {
            assert_eq!(set.file_name().parse::<StatementSet>().unwrap(), set);
            assert_eq!(set.slug().parse::<StatementSet>().unwrap(), set);
            assert_eq!(
                serde_json::to_string(&set).unwrap(),
                format!("\"{}\"", set.slug())
            );
        }
        let err = "Opinion".parse::<StatementSet>().unwrap_err();
        assert!(matches!(&err, crate::Error::UnknownStatementSet(s) if s == "Opinion"));
        assert!(err.to_string().contains("`Opinion`"), "{err}");
    }

    #[test]
    fn navab_ids_use_the_folder_and_the_set() {
        assert_eq!(
            Triple::navab_id(&Nation::France, StatementSet::Quoted, 7),
            "french/quoted/00007"
        );
        assert_eq!(
            Triple::navab_id(&Nation::China, StatementSet::Official, 123_456),
            "China/official/123456"
        );
    }

    #[test]
    fn a_triple_becomes_a_preference_item() {
        let triple = Triple {
            id: "UK/quoted/00000".into(),
            nation: Nation::UnitedKingdom,
            set: StatementSet::Quoted,
            question: "Q".into(),
            statement: "S".into(),
            reverse_statement: "RS".into(),
            source: None,
            raw_news: None,
        };
        let item = triple.to_preference();
        assert_eq!(
            (
                item.prompt.as_str(),
                item.chosen.as_str(),
                item.rejected.as_str()
            ),
            ("Q", "S", "RS")
        );
        assert_eq!(item.metadata["nation"], "UK");
        assert_eq!(item.metadata["set"], "Quoted");
    }
}
