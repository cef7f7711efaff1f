#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod atomic;
pub mod corpus;
pub mod error;
pub mod hash;
mod items;
pub mod jsonl;
pub mod navab;
pub mod preference;
pub mod read;
pub mod stats;
pub mod testing;
pub mod types;

pub use atomic::replace_file;
pub use corpus::{CorpusDoc, CorpusFormat, CorpusReader};
pub use error::{Error, Result};
pub use items::{read_items, resolve_format, DataFormat};
pub use jsonl::{read_triples_jsonl, write_triples_jsonl};
pub use navab::{read_navab_dir, read_navab_file, read_navab_nation_dir, write_navab_dir};
pub use preference::{
    read_preferences_json, read_preferences_jsonl, write_preferences_jsonl, PreferenceFields,
};
pub use read::{Loaded, ReadMode, ReadOptions, Skipped};
pub use types::*;
