//! Running the real `sofa` binary from the root integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_sofa");
/// The repository root: relative paths in the tests' arguments start here.
pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// `sofa ARGS`, run from the repository root.
pub fn sofa(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(ROOT)
        .output()
        .expect("the sofa binary runs")
}

/// `sofa ARGS`, which must succeed.
pub fn ok(args: &[&str]) -> Output {
    let out = sofa(args);
    assert!(
        out.status.success(),
        "sofa {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// An empty scratch directory of its own for test file `file`'s `name`.
pub fn scratch(file: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sofa-{file}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A path as an argument.
pub fn s(p: &Path) -> String {
    p.display().to_string()
}
