//! `migration/README.md` stays true: its table lists every migration (and
//! nothing else), and every file it names exists.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic in a test is a failed test with a message"
)]

use std::collections::BTreeSet;
use std::path::Path;

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

/// Backticked words in the text that look like `m<date>_<n>_<name>`.
fn migrations_named(text: &str) -> BTreeSet<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| {
            w.len() > 17
                && w.starts_with('m')
                && w[1..9].bytes().all(|b| b.is_ascii_digit())
                && w.as_bytes()[9] == b'_'
                && !w.contains(['/', '.', '*', ' '])
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_table_lists_every_migration_and_only_those() {
    let text = readme();
    let table: BTreeSet<String> = text
        .lines()
        .filter(|l| l.starts_with("| `m"))
        .flat_map(migrations_named)
        .collect();
    let ours: BTreeSet<String> = curatore_migration::migration_names().into_iter().collect();
    let missing: Vec<_> = ours.difference(&table).collect();
    let unknown: Vec<_> = migrations_named(&text).difference(&ours).cloned().collect();
    assert!(missing.is_empty(), "README.md has no row for {missing:?}");
    assert!(
        unknown.is_empty(),
        "README.md names migrations that do not exist: {unknown:?}"
    );
    assert_eq!(table.len(), ours.len());
}

#[test]
fn every_file_it_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = readme();
    let mut checked = 0;
    for word in text.split('`').skip(1).step_by(2) {
        let word = word.split_whitespace().next().unwrap_or_default();
        if (word.starts_with("src/") || word.starts_with("tests/"))
            && word.ends_with(".rs")
            && !word.contains(['*', '…'])
            && !word.contains("YYYY")
        {
            assert!(
                root.join(word).exists(),
                "README.md names {word}, which does not exist"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 5,
        "only {checked} file names found: has the README changed shape?"
    );
}
