//! `docs/postgresql.md`'s type mapping table and `types::TYPE_MAPPING` list the same types
//! with the same Arrow types.

// Test code: a failed unwrap / expect / panic is a failed test (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferry_postgres::types::TYPE_MAPPING;

#[test]
fn doc_type_table_matches_the_code() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/postgresql.md"
    ))
    .expect("docs/postgresql.md");
    let section = doc
        .split("## Type mapping")
        .nth(1)
        .expect("a '## Type mapping' section")
        .split("\n## ")
        .next()
        .unwrap();
    let mut documented = Vec::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let pg = cells[1].trim_matches('`').to_string();
        documented.push((pg, cells[2].to_string()));
    }
    let code: Vec<(String, String)> = TYPE_MAPPING
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    for d in &documented {
        assert!(code.contains(d), "documented but not in types.rs: {d:?}");
    }
    for c in &code {
        assert!(
            documented.contains(c),
            "in types.rs but not documented: {c:?}"
        );
    }
}
