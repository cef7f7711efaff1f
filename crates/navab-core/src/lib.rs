//! The NaVAB data model and its file formats.
//!
//! ```
//! use navab_core::{read_navab_dir, Nation, ReadOptions, StatementSet};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A tiny dataset in the published layout: <dataset>/<nation folder>/<set file>.
//! let dataset = tempfile::tempdir()?;
//! std::fs::create_dir(dataset.path().join("UK"))?;
//! std::fs::write(
//!     dataset.path().join("UK/human_statement_result.json"),
//!     r#"[{
//!         "raw_news": "The minister said on Monday that ...",
//!         "statement": " The minister said the voting age should be lowered to 16.",
//!         "source": " the minister",
//!         "generated Q": "Should the voting age be lowered to 16?",
//!         "generated reverse statement": "The minister said the voting age should stay at 18."
//!     }]"#,
//! )?;
//!
//! let loaded = read_navab_dir(dataset.path(), &ReadOptions::default())?;
//! for triple in &loaded.items {
//!     println!("[{} / {}] {}", triple.nation, triple.set, triple.question);
//!     println!("  S:  {}", triple.statement);
//!     println!("  RS: {}", triple.reverse_statement);
//! }
//! let triple = &loaded.items[0];
//! assert_eq!(triple.id, "UK/quoted/00000");
//! assert_eq!((&triple.nation, triple.set), (&Nation::UnitedKingdom, StatementSet::Quoted));
//! assert_eq!(triple.statement, "The minister said the voting age should be lowered to 16.");
//! assert_eq!(triple.source.as_deref(), Some("the minister"));
//! # Ok(()) }
//! ```
//!
//! NaVAB (national value alignment benchmark) evaluates whether a language model answers value
//! questions the way a nation's statements do. This crate holds its data, and depends on no ML
//! crate:
//!
//! - [`Triple`]: one `<Question, Statement, Reverse statement>` item of a [`Nation`] and a
//!   [`StatementSet`] (quoted: attributed to a person or organisation; official: the outlet's
//!   own view).
//! - [`PreferenceItem`]: a prompt with a chosen and a rejected response and free-form metadata
//!   (country, age, gender, ...): MVPBench-style data and DPO pairs. [`Triple::to_preference`]
//!   turns a triple into one.
//!
//! # Formats
//!
//! - **The published NaVAB layout** ([`navab`]): nation folders (`China/`, `US/`, `UK/`,
//!   `french/`, `german/`, any other name) holding `human_statement_result.json` (quoted) and
//!   `official_statement_result.json` (official), JSON arrays with fields `generated Q`,
//!   `statement`, `generated reverse statement`, `source`, `raw_news`, ...
//!   Read with [`read_navab_dir`] (a whole dataset, or one nation's folder),
//!   [`read_navab_nation_dir`] (one nation's folder, nation named by the caller) and
//!   [`read_navab_file`] (one file, nation and set named by the caller); write with
//!   [`write_navab_dir`], in a form Python tools for the published data read unchanged.
//! - **JSONL of triples** ([`jsonl`]): the serde form of [`Triple`], one per line;
//!   [`read_triples_jsonl`], [`write_triples_jsonl`].
//! - **Preference JSONL** ([`preference`]): MVPBench-style lines and the LLaMA-Factory DPO shape,
//!   mapped by [`PreferenceFields`]; [`read_preferences_jsonl`], [`write_preferences_jsonl`].
//! - **News corpora** ([`corpus`]): JSONL with a text field, read by [`CorpusReader`] into
//!   [`CorpusDoc`]s (optionally one per paragraph).
//!
//! Two small helpers live here so that every crate shares them: [`stats::wilson_interval`]
//! (the Wilson score interval of a rate) and [`hash::fnv1a`] (a hash stable across platforms).
//!
//! Every reader takes [`ReadOptions`]: [strict](ReadMode::Strict) (the default: the first bad
//! record is an [`Error::Record`] naming file, record, line for JSONL, and field) or
//! [lenient](ReadMode::Lenient) (bad records are skipped and listed in [`Loaded::skipped`]).
//! A file that is not JSON at all is an error in both modes. JSONL readers stream their input.
//! Every writer is deterministic (the same input gives the same bytes) and atomic: it writes a
//! temporary file beside the target and renames it into place, so a crash never leaves half a
//! file.

mod atomic;
pub mod corpus;
pub mod error;
pub mod hash;
pub mod jsonl;
pub mod navab;
pub mod preference;
pub mod read;
pub mod stats;
pub mod testing;
pub mod types;

pub use atomic::replace_file;
pub use corpus::{CorpusDoc, CorpusReader};
pub use error::{Error, Result};
pub use jsonl::{read_triples_jsonl, write_triples_jsonl};
pub use navab::{read_navab_dir, read_navab_file, read_navab_nation_dir, write_navab_dir};
pub use preference::{read_preferences_jsonl, write_preferences_jsonl, PreferenceFields};
pub use read::{Loaded, ReadMode, ReadOptions, Skipped};
pub use types::*;
