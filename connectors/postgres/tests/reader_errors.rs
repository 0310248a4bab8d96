//! Bad input gives one clear line: missing table, unknown column, bad where, wrong
//! password, unreachable server — never the password, never driver noise.

// Test code: a failed unwrap / expect / panic is a failed test (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod reader_support;

use ferry_core::plugin::ReadOptions;
use ferry_core::Error;
use reader_support::*;
use serde_json::json;

async fn build_err(params: serde_json::Value) -> Error {
    match build(params).await {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn missing_table_and_unknown_column() {
    exec("DROP TABLE IF EXISTS re_t; CREATE TABLE re_t (id int, name text);").await;
    let e = build_err(datax_params(
        json!({"table": ["re_nope"], "column": ["id"]}),
    ))
    .await;
    assert!(matches!(e, Error::Schema(_)), "{e:?}");
    assert!(
        e.to_string().contains("re_nope") && e.to_string().contains("does not exist"),
        "{e}"
    );
    let e = build_err(datax_params(
        json!({"table": ["re_t"], "column": ["id", "nmae"]}),
    ))
    .await;
    assert!(matches!(e, Error::Schema(_)), "{e:?}");
    assert!(
        e.to_string().contains("re_t") && e.to_string().contains("\"nmae\" does not exist"),
        "{e}"
    );
    let e = build_err(datax_params(
        json!({"table": ["re_t"], "column": ["id"], "splitPk": "idd"}),
    ))
    .await;
    assert!(e.to_string().contains("splitPk \"idd\""), "{e}");
    assert!(!e.to_string().contains('\n'), "{e}");
}

#[tokio::test]
async fn bad_where_fails_at_plan_with_the_server_message() {
    exec("DROP TABLE IF EXISTS re_w; CREATE TABLE re_w (id int); INSERT INTO re_w VALUES (1);")
        .await;
    let r = build(datax_params(
        json!({"table": ["re_w"], "column": ["id"], "where": "id >>> 1"}),
    ))
    .await
    .unwrap();
    let e = read_all(&r, 1, ReadOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("operator does not exist") || e.contains("syntax error"),
        "{e}"
    );
    assert!(!e.contains('\n') && !e.contains("db error"), "{e}");
}

#[tokio::test]
async fn wrong_password_and_missing_database() {
    let ep = endpoint();
    let mut p = datax_params(json!({"table": ["re_t"], "column": ["id"]}));
    p["password"] = json!("not-the-password");
    let e = build_err(p).await;
    let msg = e.to_string();
    assert!(matches!(e, Error::Connect(_)), "{e:?}");
    assert_eq!(
        msg,
        format!(
            "cannot connect to {}@{}:{}/{}: password authentication failed for user \"{}\"",
            ep.user, ep.host, ep.port, ep.dbname, ep.user
        )
    );
    assert!(!msg.contains("not-the-password"));

    let mut p = datax_params(json!({"table": ["re_t"], "column": ["id"]}));
    p["connection"][0]["jdbcUrl"] = json!([format!(
        "jdbc:postgresql://{}:{}/re_no_such_db",
        ep.host, ep.port
    )]);
    let e = build_err(p).await;
    assert!(
        e.to_string()
            .contains("database \"re_no_such_db\" does not exist"),
        "{e}"
    );
}

#[tokio::test]
async fn first_jdbc_url_that_connects_wins() {
    exec(
        "DROP TABLE IF EXISTS re_f; CREATE TABLE re_f (id int); INSERT INTO re_f VALUES (1), (2);",
    )
    .await;
    let ep = endpoint();
    // A closed port first (connection refused, retried briefly), then the real server.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut p = datax_params(json!({"table": ["re_f"], "column": ["id"]}));
    p["connection"][0]["jdbcUrl"] = json!([
        format!(
            "jdbc:postgresql://127.0.0.1:{closed}/{}?connectTimeout=2",
            ep.dbname
        ),
        jdbc_url()
    ]);
    let r = build(p).await.unwrap();
    let (_, b) = read_all(&r, 1, ReadOptions::default()).await.unwrap();
    assert_eq!(rows(&b), ["1", "2"]);
}
