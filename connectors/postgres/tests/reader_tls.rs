//! The reader's own connection path (socket, TLS negotiation, the COPY tap under the
//! driver) against the test server, which scripts/test starts with TLS on and a
//! self-signed certificate in `FERRY_TEST_PG_CA`: every sslmode reads the same rows, the
//! connection is encrypted when asked, and a certificate that does not verify is one
//! clear line.

// Test code: a failed unwrap / expect / panic is a failed test (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod reader_support;

use ferry_core::plugin::ReadOptions;
use ferry_postgres::PgEndpoint;
use reader_support::*;
use serde_json::json;

fn ca() -> String {
    std::env::var("FERRY_TEST_PG_CA").expect("set FERRY_TEST_PG_CA; run scripts/test")
}

fn url_with(query: &str) -> String {
    format!("{}?{query}", jdbc_url())
}

fn tapped_endpoint(query: &str) -> PgEndpoint {
    let base = endpoint();
    PgEndpoint::parse(&url_with(query), Some(&base.user), base.password()).unwrap()
}

#[tokio::test]
async fn every_sslmode_reads_the_same_rows_through_the_tap() {
    // ~3 MiB of COPY data: more than the tap holds before it stops reading the socket,
    // rows of every length, NULLs, and a second split.
    exec(
        "DROP TABLE IF EXISTS tls_t; CREATE TABLE tls_t (id int PRIMARY KEY, s text, n bigint);
         INSERT INTO tls_t SELECT g, CASE WHEN g % 97 = 0 THEN NULL ELSE repeat('x', g % 301) END,
                                  g * 7 FROM generate_series(1, 20000) g;",
    )
    .await;
    let mut expected = None;
    for (mode, extra) in [
        ("disable", String::new()),
        ("prefer", String::new()),
        ("require", String::new()),
        ("verify-ca", format!("&sslrootcert={}", ca())),
        ("verify-full", format!("&sslrootcert={}", ca())),
    ] {
        let mut p = datax_params(json!({
            "table": ["tls_t"], "column": ["id", "s", "n"], "splitPk": "id"
        }));
        p["connection"][0]["jdbcUrl"] = json!([url_with(&format!("sslmode={mode}{extra}"))]);
        let r = build(p).await.unwrap();
        let (splits, batches) = read_all(&r, 2, ReadOptions::default()).await.unwrap();
        assert!(splits.len() >= 2, "{mode}: {splits:?}");
        let got = rows(&batches);
        assert_eq!(got.len(), 20000, "{mode}");
        match &expected {
            None => expected = Some(got),
            Some(e) => assert!(e == &got, "{mode}: rows differ from sslmode=disable"),
        }
    }
}

#[tokio::test]
async fn tapped_connections_are_encrypted_unless_disabled() {
    for (mode, encrypted) in [("disable", false), ("prefer", true), ("require", true)] {
        let ep = tapped_endpoint(&format!("sslmode={mode}"));
        let (client, _tap) = ep.connect_tapped().await.unwrap();
        let row = client
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .unwrap();
        let ssl: bool = row.get(0);
        assert_eq!(ssl, encrypted, "{mode}");
    }
}

#[tokio::test]
async fn an_untrusted_certificate_is_one_clear_line() {
    // verify-full against the web roots: the self-signed certificate is not trusted.
    let ep = tapped_endpoint("sslmode=verify-full");
    let e = ep.connect_tapped().await.err().expect("must not connect");
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!(
            "cannot connect to {}: TLS handshake: ",
            ep.display()
        )),
        "{msg}"
    );
    assert!(msg.contains("certificate"), "{msg}");
    assert!(!msg.contains('\n'), "{msg}");
    // The same through a job: the reader fails at plan with the same line.
    let mut p = datax_params(json!({"table": ["pg_class"], "column": ["oid"]}));
    p["connection"][0]["jdbcUrl"] = json!([url_with("sslmode=verify-full")]);
    let r = build(p).await;
    let e = match r {
        Ok(r) => read_all(&r, 1, ReadOptions::default()).await.err(),
        Err(e) => Some(e),
    }
    .expect("must fail");
    assert!(e.to_string().contains("certificate"), "{e}");
}
