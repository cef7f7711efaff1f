//! Writing the dataset: the published NaVAB layout, and DPO preference pairs (prompt = Q,
//! chosen = S, rejected = RS) with a seeded train/test split in the LLaMA-Factory and TRL
//! formats.
//!
//! ```
//! use navab_core::{Nation, StatementSet, Triple};
//! use navab_triples::{write_dpo_dataset, write_navab, SplitParams};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let triples: Vec<Triple> = (0..10)
//!     .map(|i| Triple {
//!         id: Triple::navab_id(&Nation::UnitedKingdom, StatementSet::Official, i),
//!         nation: Nation::UnitedKingdom,
//!         set: StatementSet::Official,
//!         question: format!("Should rule {i} stay?"),
//!         statement: format!("Rule {i} should stay."),
//!         reverse_statement: format!("Rule {i} should not stay."),
//!         source: None,
//!         raw_news: None,
//!     })
//!     .collect();
//! let out = tempfile::tempdir()?;
//! write_navab(out.path().join("navab"), &triples)?; // navab/UK/official_statement_result.json
//! let split = write_dpo_dataset(out.path().join("dpo"), &triples, &SplitParams::default())?;
//! assert_eq!((split.train.len(), split.test.len()), (8, 2));
//! assert!(out.path().join("dpo/navab_dpo_train.json").is_file());
//! assert!(out.path().join("dpo/trl_test.jsonl").is_file());
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use navab_core::hash::fnv1a;
use navab_core::{PreferenceItem, Triple};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde_json::{json, Value};

use crate::error::{io_error, Error, Result};

/// Writes triples in the published NaVAB layout, `<dir>/<nation folder>/{human,official}_
/// statement_result.json`, with the published field names (via
/// [`navab_core::write_navab_dir`]), so that tools written for the published dataset, and
/// [`navab_core::read_navab_dir`], read it unchanged. Triples with ids from
/// [`Triple::navab_id`] (as [`build_triples`](crate::build_triples) makes them) read back equal.
///
/// # Errors
/// [`Error::Core`] if a nation's folder name is unusable or a file cannot be written.
pub fn write_navab(dir: impl AsRef<Path>, triples: &[Triple]) -> Result<()> {
    navab_core::write_navab_dir(dir, triples)?;
    Ok(())
}

/// The DPO pairs of triples: prompt = Q, chosen = S, rejected = RS, with `nation` and `set` in
/// the metadata ([`Triple::to_preference`]).
pub fn dpo_pairs(triples: &[Triple]) -> Vec<PreferenceItem> {
    triples.iter().map(Triple::to_preference).collect()
}

/// Settings of the train/test split.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitParams {
    /// Share of each stratum that goes to the test set, rounded to the nearest item (default
    /// 0.2, the authors' 80/20; in `[0, 1]`).
    pub test_fraction: f64,
    /// Seed of the shuffle (default 42).
    pub seed: u64,
    /// Split each nation × set group on its own (default `true`), so that every group keeps
    /// its share in both parts. Groups come from the `nation` and `set` metadata.
    pub stratify: bool,
}

impl Default for SplitParams {
    fn default() -> Self {
        Self {
            test_fraction: 0.2,
            seed: 42,
            stratify: true,
        }
    }
}

impl SplitParams {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] if `test_fraction` is not in `[0, 1]`.
    pub fn check(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.test_fraction) {
            return Err(Error::InvalidParam {
                name: "test_fraction",
                value: format!("{:?}", self.test_fraction),
                reason: "must be in [0, 1]",
            });
        }
        Ok(())
    }
}

/// A train/test split, each part in input order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split<T> {
    /// The training part.
    pub train: Vec<T>,
    /// The test part.
    pub test: Vec<T>,
}

/// Splits preference items into train and test, deterministically.
///
/// Within each group (nation × set with [`SplitParams::stratify`], else one group), items are
/// ordered by id (ties in input order), shuffled with a `StdRng` seeded from `seed` and the
/// group's name, and the first `round(n · test_fraction)` go to test. The result does not
/// depend on the input order of distinct ids, nor on the other groups; each part keeps input
/// order. Bit-for-bit the same for the same input, seed and `rand` version.
///
/// # Complexity
/// `O(n log n)`.
///
/// # Errors
/// [`Error::InvalidParam`] for bad `params`.
pub fn split_train_test(
    items: &[PreferenceItem],
    params: &SplitParams,
) -> Result<Split<PreferenceItem>> {
    params.check()?;
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (index, item) in items.iter().enumerate() {
        let key = if params.stratify {
            let get = |k: &str| item.metadata.get(k).map_or("", String::as_str);
            format!("{}/{}", get("nation"), get("set"))
        } else {
            String::new()
        };
        groups.entry(key).or_default().push(index);
    }
    let mut is_test = vec![false; items.len()];
    for (key, mut members) in groups {
        members.sort_by(|&a, &b| items[a].id.cmp(&items[b].id));
        let mut rng = StdRng::seed_from_u64(params.seed ^ fnv1a(key.as_bytes()));
        members.shuffle(&mut rng);
        let n_test = (members.len() as f64 * params.test_fraction).round() as usize;
        for &index in members.iter().take(n_test) {
            is_test[index] = true;
        }
    }
    let mut split = Split {
        train: Vec::new(),
        test: Vec::new(),
    };
    for (item, test) in items.iter().zip(is_test) {
        if test {
            split.test.push(item.clone());
        } else {
            split.train.push(item.clone());
        }
    }
    Ok(split)
}

/// Replaces `path` with `bytes` atomically (navab-core's writer).
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    navab_core::replace_file(path, bytes).map_err(io_error(path))
}

pub(crate) fn write_jsonl_values(
    path: &Path,
    values: impl IntoIterator<Item = Value>,
) -> Result<()> {
    let mut out = Vec::new();
    for value in values {
        out.extend_from_slice(value.to_string().as_bytes());
        out.push(b'\n');
    }
    write_file(path, &out)
}

pub(crate) fn write_text(path: &Path, text: &str) -> Result<()> {
    write_file(path, text.as_bytes())
}

fn pretty(value: &Value) -> String {
    // Values built here hold only strings, numbers and booleans: printing cannot fail.
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// Writes DPO pairs in LLaMA-Factory's preference format, as the authors do: a JSON array of
/// `{"instruction": Q, "input": "", "chosen": S, "rejected": RS}`, UTF-8 unescaped. See
/// [`llama_factory_dataset_info`] for its `dataset_info.json` entry.
///
/// # Errors
/// [`Error::Io`] if the file cannot be written.
pub fn write_llama_factory(path: impl AsRef<Path>, items: &[PreferenceItem]) -> Result<()> {
    let records: Vec<Value> = items
        .iter()
        .map(|item| {
            json!({
                "instruction": item.prompt,
                "input": "",
                "chosen": item.chosen,
                "rejected": item.rejected,
            })
        })
        .collect();
    write_text(path.as_ref(), &pretty(&Value::Array(records)))
}

/// The `dataset_info.json` entry that registers a file written by [`write_llama_factory`] as
/// a LLaMA-Factory preference (`ranking`) dataset named `name`:
///
/// ```json
/// {"<name>": {"file_name": "<file_name>", "ranking": true,
///   "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected"}}}
/// ```
pub fn llama_factory_dataset_info(name: &str, file_name: &str) -> Value {
    let entry = json!({
        "file_name": file_name,
        "ranking": true,
        "columns": {
            "prompt": "instruction",
            "query": "input",
            "chosen": "chosen",
            "rejected": "rejected",
        },
    });
    let mut info = serde_json::Map::new();
    info.insert(name.to_string(), entry);
    Value::Object(info)
}

/// The shape of TRL preference records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TrlStyle {
    /// `{"prompt": Q, "chosen": S, "rejected": RS}` (the default).
    #[default]
    Standard,
    /// `{"prompt": [{"role": "user", "content": Q}], "chosen": [{"role": "assistant",
    /// "content": S}], "rejected": [{"role": "assistant", "content": RS}]}`: TRL applies the
    /// model's chat template.
    Conversational,
}

/// Writes DPO pairs as TRL preference JSONL, one record per line, in `style`.
///
/// # Errors
/// [`Error::Io`] if the file cannot be written.
pub fn write_trl(path: impl AsRef<Path>, items: &[PreferenceItem], style: TrlStyle) -> Result<()> {
    let turn = |role: &str, content: &str| json!([{"role": role, "content": content}]);
    write_jsonl_values(
        path.as_ref(),
        items.iter().map(|item| match style {
            TrlStyle::Conversational => json!({
                "prompt": turn("user", &item.prompt),
                "chosen": turn("assistant", &item.chosen),
                "rejected": turn("assistant", &item.rejected),
            }),
            TrlStyle::Standard => json!({
                "prompt": item.prompt,
                "chosen": item.chosen,
                "rejected": item.rejected,
            }),
        }),
    )
}

/// Writes the DPO dataset of `triples` into `dir`: splits their pairs ([`dpo_pairs`],
/// [`split_train_test`]) and writes
///
/// - `navab_dpo_train.json`, `navab_dpo_test.json`: LLaMA-Factory ([`write_llama_factory`]);
/// - `dataset_info.json`: their LLaMA-Factory entries `navab_dpo_train`, `navab_dpo_test`;
/// - `trl_train.jsonl`, `trl_test.jsonl`: TRL, standard style ([`write_trl`]);
/// - `split.json`: the settings and the ids of each part, so the split can be audited.
///
/// Returns the split.
///
/// # Errors
/// [`Error::InvalidParam`] for bad `params`, [`Error::Io`] if a file cannot be written.
pub fn write_dpo_dataset(
    dir: impl AsRef<Path>,
    triples: &[Triple],
    params: &SplitParams,
) -> Result<Split<PreferenceItem>> {
    let dir = dir.as_ref();
    let split = split_train_test(&dpo_pairs(triples), params)?;
    let mut info = serde_json::Map::new();
    for (part, items) in [("train", &split.train), ("test", &split.test)] {
        let name = format!("navab_dpo_{part}");
        let file = format!("{name}.json");
        write_llama_factory(dir.join(&file), items)?;
        if let Value::Object(entry) = llama_factory_dataset_info(&name, &file) {
            info.extend(entry);
        }
        write_trl(
            dir.join(format!("trl_{part}.jsonl")),
            items,
            TrlStyle::Standard,
        )?;
    }
    write_text(
        &dir.join("dataset_info.json"),
        &pretty(&Value::Object(info)),
    )?;
    let ids = |items: &[PreferenceItem]| items.iter().map(|i| i.id.clone()).collect::<Vec<_>>();
    let manifest = json!({
        "seed": params.seed,
        "test_fraction": params.test_fraction,
        "stratify": params.stratify,
        "train": ids(&split.train),
        "test": ids(&split.test),
    });
    write_text(&dir.join("split.json"), &pretty(&manifest))?;
    Ok(split)
}
