//! Where tests, benchmarks and examples find real data and fetched models: one place for the
//! whole project.
//!
//! - **Real data** (news corpora, the authors' pipeline files) lives outside the repository, in
//!   `$NAVAB_DATA_DIR` or, when that is unset, `../shared/data` beside the workspace root. A test
//!   that needs it calls [`real_data!`](crate::real_data): with the data absent the test prints
//!   why it skipped and returns; with `NAVAB_REQUIRE_REAL_DATA=1` (CI sets it) a missing data set
//!   fails the test instead, so CI always runs them.
//! - **Models** fetched by `scripts/fetch-models.sh` live in `$NAVAB_MODELS_DIR` or `models/` at
//!   the workspace root: [`models_dir`].
//!
//! ```
//! # fn main() {
//! // In a test: the BBC corpus, or a clear skip.
//! let _bbc = navab_core::real_data!("bbc-news.jsonl");
//! # }
//! ```

use std::path::{Path, PathBuf};

/// The environment variable naming the real-data directory.
pub const DATA_DIR_VAR: &str = "NAVAB_DATA_DIR";
/// When set to `1`, missing real data fails instead of skipping.
pub const REQUIRE_VAR: &str = "NAVAB_REQUIRE_REAL_DATA";
/// The environment variable naming the models directory.
pub const MODELS_DIR_VAR: &str = "NAVAB_MODELS_DIR";

/// The workspace root above `manifest_dir`: the nearest ancestor holding `Cargo.lock`, or
/// `manifest_dir` itself when none does (a crate built alone).
pub fn workspace_root(manifest_dir: &Path) -> PathBuf {
    manifest_dir
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .unwrap_or(manifest_dir)
        .to_path_buf()
}

/// The real-data directory: `$NAVAB_DATA_DIR`, else `../shared/data` beside the workspace root.
pub fn data_dir(manifest_dir: &Path) -> PathBuf {
    match std::env::var_os(DATA_DIR_VAR) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_root(manifest_dir).join("../shared/data"),
    }
}

/// The models directory: `$NAVAB_MODELS_DIR`, else `models/` at the workspace root.
pub fn models_dir(manifest_dir: &Path) -> PathBuf {
    match std::env::var_os(MODELS_DIR_VAR) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_root(manifest_dir).join("models"),
    }
}

/// Whether missing real data must fail (`NAVAB_REQUIRE_REAL_DATA=1`).
pub fn real_data_required() -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// What became of a request for real data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RealData {
    /// The file or directory exists here.
    Found(PathBuf),
    /// It is absent and not required: the caller should skip, saying this message.
    Skip(String),
    /// It is absent and `NAVAB_REQUIRE_REAL_DATA=1`: the caller should fail with this message.
    Missing(String),
}

/// Locates `relative` (e.g. `"bbc-news.jsonl"`) in the real-data directory.
pub fn locate_real_data(manifest_dir: &Path, relative: &str) -> RealData {
    let path = data_dir(manifest_dir).join(relative);
    if path.exists() {
        return RealData::Found(path);
    }
    let why = format!(
        "real data {relative} not found at {} (set {DATA_DIR_VAR} to the directory that holds it)",
        path.display()
    );
    if real_data_required() {
        RealData::Missing(format!("{why}; {REQUIRE_VAR}=1 requires it"))
    } else {
        RealData::Skip(why)
    }
}

/// The path of a real data set, or `None` after printing to stderr why the caller skips; panics
/// (fails the test) when it is missing and `NAVAB_REQUIRE_REAL_DATA=1`.
pub fn real_data_or_skip(manifest_dir: &Path, relative: &str) -> Option<PathBuf> {
    match locate_real_data(manifest_dir, relative) {
        RealData::Found(path) => Some(path),
        RealData::Skip(why) => {
            // Straight to the process's stderr: the test harness captures `eprintln!` of
            // passing tests, and a skip must be seen.
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "skipped: {why}");
            None
        }
        RealData::Missing(why) => panic!("{why}"),
    }
}

/// The path of a real data set for a test, or an early return that says why the test skipped.
///
/// `real_data!("bbc-news.jsonl")` returns from a test function that returns `()`;
/// `real_data!("bbc-news.jsonl", else Ok(()))` from one that returns a `Result`. Under
/// `NAVAB_REQUIRE_REAL_DATA=1` a missing data set panics (the test fails) instead.
#[macro_export]
macro_rules! real_data {
    ($relative:expr) => {
        $crate::real_data!($relative, else ())
    };
    ($relative:expr, else $ret:expr) => {
        match $crate::testing::real_data_or_skip(
            ::std::path::Path::new(env!("CARGO_MANIFEST_DIR")),
            $relative,
        ) {
            Some(path) => path,
            None => return $ret,
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_root_is_the_ancestor_with_the_lock_file() {
        let dir = tempfile::tempdir().unwrap();
        let crate_dir = dir.path().join("crates/x");
        std::fs::create_dir_all(&crate_dir).unwrap();
        assert_eq!(workspace_root(&crate_dir), crate_dir);
        std::fs::write(dir.path().join("Cargo.lock"), "").unwrap();
        assert_eq!(workspace_root(&crate_dir), dir.path());
    }

    #[test]
    fn absent_data_is_a_skip_or_a_failure_and_never_found() {
        let dir = tempfile::tempdir().unwrap();
        match locate_real_data(dir.path(), "no-such-corpus-7f3a.jsonl") {
            RealData::Found(path) => panic!("found {}", path.display()),
            RealData::Skip(why) => {
                assert!(!real_data_required());
                assert!(why.contains("no-such-corpus-7f3a.jsonl"), "{why}");
            }
            RealData::Missing(why) => {
                assert!(real_data_required());
                assert!(why.contains(REQUIRE_VAR), "{why}");
            }
        }
    }
}
