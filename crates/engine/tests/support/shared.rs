//! Finds third-party test data in `../shared` beside the repository. Absent data skips the test
//! with a loud message, except under `CI=true`, where it fails. Included by test crates with
//! `#[path = …] mod shared;`.

use std::path::PathBuf;

/// `../shared/{relative}` from the repository root, or `None` (after saying so) to skip.
pub fn shared_dir(relative: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(relative);
    if dir.exists() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{} is missing, and CI=true requires it",
        dir.display()
    );
    eprintln!(
        "SKIPPED: {} not found (put ../shared beside the repository)",
        dir.display()
    );
    None
}
