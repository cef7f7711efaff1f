//! The crate's error type.

/// Everything that can go wrong building the graph or reducing conflicts.
///
/// Variants about one statement or article name it by id (or by `#index` where no id is known
/// yet, as for [`Embeddings`](crate::Embeddings) built on their own).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter is out of range; see [`ConflictParams::check`](crate::ConflictParams::check).
    #[error("invalid parameter {name} = {value}: {reason}")]
    InvalidParam {
        /// The field of [`ConflictParams`](crate::ConflictParams).
        name: &'static str,
        /// Its value, as written by `Debug`.
        value: String,
        /// The accepted range.
        reason: &'static str,
    },
    /// Two articles or two statements share an id.
    #[error("duplicate {kind} id {id:?}")]
    DuplicateId {
        /// `"article"` or `"statement"`.
        kind: &'static str,
        /// The id.
        id: String,
    },
    /// A statement names an article that is not in the corpus.
    #[error("statement {statement:?}: unknown article {article:?}")]
    UnknownArticle {
        /// The statement's id.
        statement: String,
        /// The article id it names.
        article: String,
    },
    /// A statement's support is not a finite number > 0.
    #[error("statement {statement:?}: support {support} must be finite and > 0")]
    InvalidSupport {
        /// The statement's id.
        statement: String,
        /// The value given.
        support: f64,
    },
    /// One statement's embedding is unusable: wrong length, NaN or infinite, or all zeros.
    #[error("embedding of statement {statement}: {reason}")]
    Embedding {
        /// Row of the embedding (= index of the statement).
        index: usize,
        /// The statement's id, or `#index` when only the row is known.
        statement: String,
        /// What is wrong.
        reason: String,
    },
    /// Embeddings or neighbour lists do not match the corpus, e.g. 10 rows for 12 statements,
    /// or a neighbour index out of range.
    #[error("{0}")]
    Shape(String),
    /// A judge could not decide one pair. Kept in the report; it never aborts a run.
    #[error("judge: {0}")]
    Judge(String),
}

impl Error {
    /// A judge failure with a message, for [`RelationJudge`](crate::RelationJudge)
    /// implementations.
    pub fn judge(reason: impl std::fmt::Display) -> Self {
        Error::Judge(reason.to_string())
    }

    /// Replaces a `#index` statement name with the statement's id.
    pub(crate) fn with_statement_ids(self, ids: &[impl AsRef<str>]) -> Self {
        match self {
            Error::Embedding { index, reason, .. } if index < ids.len() => Error::Embedding {
                index,
                statement: format!("{:?}", ids[index].as_ref()),
                reason,
            },
            other => other,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
