//! The README's table of error codes is the `ErrorCode` enum, no more, no less.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic in a test is a failed test with a message"
)]

use curatore_web::ErrorCode;
use std::collections::BTreeMap;

#[test]
fn the_readme_lists_every_error_code_with_its_status() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let start = readme
        .find("<!-- error-codes:start -->")
        .expect("start marker");
    let end = readme.find("<!-- error-codes:end -->").expect("end marker");
    let documented: BTreeMap<String, u16> = readme[start..end]
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let code = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((code.to_owned(), cells.get(2)?.parse().ok()?))
        })
        .collect();
    let actual: BTreeMap<String, u16> = ErrorCode::ALL
        .iter()
        .map(|c| (c.as_str().to_owned(), c.status()))
        .collect();
    assert_eq!(
        documented, actual,
        "README.md error-code table vs ErrorCode"
    );
}
