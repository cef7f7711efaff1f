//! The `evaluate` binary refuses bad input before it reads data or loads a model: zero counts,
//! a method listed twice, an `--out` it cannot write, a JSONL file whose format it cannot tell.
//! Runs the example that `cargo test` builds next to this test.

use std::path::PathBuf;
use std::process::Command;

/// `target/<profile>/examples/evaluate`, beside this test's `deps/` folder.
fn evaluate() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("examples/evaluate");
    path.is_file().then_some(path)
}

/// Stderr of a run that must fail.
fn fails(args: &[&str]) -> String {
    let Some(bin) = evaluate() else {
        panic!("the evaluate example is not built (cargo test builds it with the tests)");
    };
    let out = Command::new(bin).args(args).output().unwrap();
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_arguments_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("items.jsonl");
    std::fs::write(&data, "{\"prompt\": \"Q?\", \"answer\": \"a\"}\n").unwrap();
    let data = data.to_str().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();

    for flag in ["--batch-size", "--workers", "--limit", "--min-group-size"] {
        let err = fails(&["--data", data, "--out", out, flag, "0"]);
        assert!(err.contains("at least 1"), "{flag}: {err}");
    }
    let err = fails(&["--data", data, "--out", out, "--methods", "paper,acc,paper"]);
    assert!(err.contains("lists paper twice"), "{err}");

    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "").unwrap();
    let unwritable = blocker.join("out");
    let err = fails(&["--data", data, "--out", unwritable.to_str().unwrap()]);
    assert!(err.contains("is not writable"), "{err}");

    // The first record has neither triple nor preference fields: its fields are named.
    let err = fails(&["--data", data, "--out", out]);
    assert!(
        err.contains("cannot tell the format") && err.contains("answer"),
        "{err}"
    );
}
