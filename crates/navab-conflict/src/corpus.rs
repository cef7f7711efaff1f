//! The input: news articles and the value statements extracted from them.

use std::collections::BTreeMap;

use crate::{Error, Result};

/// A news article: the places it names (in its text or dateline).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Article {
    /// Unique among articles.
    pub id: String,
    /// Place names; compared after trimming and lower-casing. Order and repeats do not matter.
    pub places: Vec<String>,
}

impl Article {
    /// An article naming no place.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            places: Vec::new(),
        }
    }

    /// Sets the places the article names.
    pub fn with_places<I, S>(mut self, places: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.places = places.into_iter().map(Into::into).collect();
        self
    }
}

/// A value statement extracted from an article.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    /// Unique among statements.
    pub id: String,
    /// The statement, as the judge will read it.
    pub text: String,
    /// The article it was extracted from, by [`Article::id`]; `None` for a statement that is its
    /// own article (no geographic links).
    pub article: Option<String>,
    /// The persons or organisations who made it (empty for an outlet's own view); compared after
    /// trimming and lower-casing.
    pub speakers: Vec<String>,
    /// How much the statement counts towards its side's stance, e.g. the number of articles
    /// that repeat it. Finite and > 0; 1 by default.
    pub support: f64,
}

impl Statement {
    /// A statement with support 1, no article and no speaker.
    pub fn new(id: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            text: text.into(),
            article: None,
            speakers: Vec::new(),
            support: 1.0,
        }
    }

    /// Sets the article it comes from.
    pub fn with_article(mut self, article: impl Into<String>) -> Self {
        self.article = Some(article.into());
        self
    }

    /// Sets its speakers.
    pub fn with_speakers<I, S>(mut self, speakers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.speakers = speakers.into_iter().map(Into::into).collect();
        self
    }

    /// Sets its support.
    pub fn with_support(mut self, support: f64) -> Self {
        self.support = support;
        self
    }
}

/// Articles and statements. Statement `i` goes with row `i` of the embeddings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Corpus {
    /// The articles.
    pub articles: Vec<Article>,
    /// The statements.
    pub statements: Vec<Statement>,
}

impl Corpus {
    /// Checks ids, article references and supports, and returns, per statement, the index of its
    /// article.
    ///
    /// # Errors
    /// [`Error::DuplicateId`], [`Error::UnknownArticle`], [`Error::InvalidSupport`].
    pub fn validate(&self) -> Result<Vec<Option<usize>>> {
        let mut articles = BTreeMap::new();
        for (i, a) in self.articles.iter().enumerate() {
            if articles.insert(a.id.as_str(), i).is_some() {
                return Err(Error::DuplicateId {
                    kind: "article",
                    id: a.id.clone(),
                });
            }
        }
        let mut seen = BTreeMap::new();
        let mut article_of = Vec::with_capacity(self.statements.len());
        for s in &self.statements {
            if seen.insert(s.id.as_str(), ()).is_some() {
                return Err(Error::DuplicateId {
                    kind: "statement",
                    id: s.id.clone(),
                });
            }
            if !(s.support.is_finite() && s.support > 0.0) {
                return Err(Error::InvalidSupport {
                    statement: s.id.clone(),
                    support: s.support,
                });
            }
            article_of.push(match &s.article {
                None => None,
                Some(a) => {
                    Some(
                        *articles
                            .get(a.as_str())
                            .ok_or_else(|| Error::UnknownArticle {
                                statement: s.id.clone(),
                                article: a.clone(),
                            })?,
                    )
                }
            });
        }
        Ok(article_of)
    }

    /// The statements' ids, in order.
    pub fn statement_ids(&self) -> Vec<&str> {
        self.statements.iter().map(|s| s.id.as_str()).collect()
    }
}

/// Trimmed, lower-cased, sorted, deduplicated names.
pub(crate) fn name_set(names: &[String]) -> Vec<String> {
    let mut v: Vec<String> = names
        .iter()
        .map(|n| n.trim().to_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_and_unknown_ids_are_errors() {
        let mut c = Corpus {
            articles: vec![Article::new("a")],
            statements: vec![
                Statement::new("s", "x").with_article("a"),
                Statement::new("s", "y"),
            ],
        };
        assert!(matches!(
            c.validate(),
            Err(Error::DuplicateId {
                kind: "statement",
                ..
            })
        ));
        c.statements[1].id = "t".into();
        c.statements[1].article = Some("b".into());
        assert!(matches!(c.validate(), Err(Error::UnknownArticle { .. })));
        c.statements[1].article = None;
        c.statements[1].support = f64::NAN;
        assert!(matches!(c.validate(), Err(Error::InvalidSupport { .. })));
        c.statements[1].support = 2.0;
        assert_eq!(c.validate().unwrap(), vec![Some(0), None]);
        c.articles.push(Article::new("a"));
        assert!(matches!(
            c.validate(),
            Err(Error::DuplicateId {
                kind: "article",
                ..
            })
        ));
    }

    #[test]
    fn names_are_normalised() {
        let names = vec![
            " Kowloon".to_string(),
            "kowloon".into(),
            "".into(),
            "Central".into(),
        ];
        assert_eq!(name_set(&names), vec!["central", "kowloon"]);
    }
}
