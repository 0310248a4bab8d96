//! The server at the HTTP level (a tiny raw HTTP/1.1 client, no SDK): SQL DDL instances,
//! record/Arrow block PUTs with compression, commit refusal when a listed block is
//! missing, rowrange checks, signature checks, and the fault injection a client's retry
//! tests rely on.

// Test code: a failed unwrap / expect / panic is a failed test (clippy sees no test context here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{Field, Schema};
use ferry_odps::wire::arrow_frame::{decode_arrow_body, encode_arrow_body};
use ferry_odps::wire::record::{decode_all, encode_all, DecoderOptions};
use ferry_odps::wire::sign::{authorization_v2, parse_query, string_to_sign};
use ferry_odps::wire::{arrow_type, Compression, OdpsType};
use ferry_odps_server::{start, Auth, FaultInjection, RunningServer, ServeOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, k: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
}

/// One request on a fresh connection; `Err` when the server drops the connection.
async fn call(
    s: &RunningServer,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Reply> {
    let mut c = tokio::net::TcpStream::connect(s.addr).await?;
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        s.addr,
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    c.write_all(req.as_bytes()).await?;
    c.write_all(body).await?;
    let mut raw = Vec::new();
    c.read_to_end(&mut raw).await?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("connection closed without a reply"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
    {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let nl = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let n = usize::from_str_radix(std::str::from_utf8(&rest[..nl]).unwrap().trim(), 16)
                .unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&rest[nl + 2..nl + 2 + n]);
            rest = &rest[nl + 4 + n..];
        }
        body = out;
    }
    Ok(Reply {
        status,
        headers,
        body,
    })
}

async fn sql(s: &RunningServer, q: &str) -> Reply {
    let body = format!(
        "<Instance><Job><Priority>9</Priority><Tasks><SQL><Name>t1</Name><Query><![CDATA[{q}]]></Query></SQL></Tasks></Job></Instance>"
    );
    let r = call(
        s,
        "POST",
        "/api/projects/p1/instances",
        &[("Content-Type", "application/xml")],
        body.as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let loc = r.header("location").unwrap().to_string();
    let path = &loc[loc.find("/api/").unwrap()..];
    call(s, "GET", &format!("{path}?taskstatus"), &[], b"")
        .await
        .unwrap()
}

fn cols() -> Vec<(String, OdpsType)> {
    vec![
        ("id".into(), OdpsType::Bigint),
        ("name".into(), OdpsType::String),
    ]
}

fn batch(ids: std::ops::Range<i64>) -> RecordBatch {
    let c = cols();
    let schema = Arc::new(Schema::new(
        c.iter()
            .map(|(n, t)| Field::new(n, arrow_type(t), true))
            .collect::<Vec<_>>(),
    ));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(ids.clone())),
            Arc::new(StringArray::from_iter_values(ids.map(|i| format!("n{i}")))),
        ],
    )
    .unwrap()
}

async fn server(auth: Auth, fault: Option<FaultInjection>) -> (tempfile::TempDir, RunningServer) {
    let root = tempfile::tempdir().unwrap();
    let mut o = ServeOptions::new(root.path());
    o.auth = auth;
    o.fault = fault;
    let s = start(o).await.unwrap();
    (root, s)
}

#[tokio::test]
async fn ddl_upload_commit_download() {
    let (root, s) = server(Auth::None, None).await;
    let r = sql(
        &s,
        "CREATE TABLE p1.`t` (`id` BIGINT, `name` STRING) PARTITIONED BY (`pt` STRING)",
    )
    .await;
    assert!(
        r.text().contains("<Status>Success</Status>"),
        "{}",
        r.text()
    );
    let r = sql(&s, "SELECT 1").await;
    assert!(r.text().contains("<Status>Failed</Status>"), "{}", r.text());
    let r = sql(&s, "ALTER TABLE t ADD IF NOT EXISTS  PARTITION (pt='x')").await;
    assert!(r.text().contains("Success"));
    assert!(root.path().join("p1/t/_meta.json").is_file());
    assert!(root.path().join("p1/t/pt=x").is_dir());

    let r = call(
        &s,
        "GET",
        "/api/projects/p1/tables/t?partition=pt%3D%27x%27",
        &[],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    let r = call(&s, "GET", "/api/projects/p1/tables/nope", &[], b"")
        .await
        .unwrap();
    assert_eq!(r.status, 404);
    assert!(r.text().contains("<Code>NoSuchTable</Code>"));
    assert!(r.header("x-odps-request-id").is_some());

    // partition required on a partitioned table
    let r = call(&s, "POST", "/projects/p1/tables/t?uploads", &[], b"")
        .await
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.json()["Code"].is_string());

    let r = call(
        &s,
        "POST",
        "/projects/p1/tables/t?uploads&partition=pt%3Dx",
        &[],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let up = r.json()["UploadID"].as_str().unwrap().to_string();
    assert_eq!(r.json()["MaxFieldSize"], 8388608);

    // block 1: record format, zstd; block 2: Arrow, lz4
    let rec = Compression::Zstd
        .compress(&encode_all(&cols(), &[batch(0..100)]).unwrap())
        .unwrap();
    let r = call(
        &s,
        "PUT",
        &format!("/projects/p1/tables/t?uploadid={up}&blockid=1&partition=pt%3Dx"),
        &[("Content-Encoding", "zstd")],
        &rec,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let b2 = batch(100..150);
    let arrow = Compression::OdpsLz4Frame
        .compress(&encode_arrow_body(&b2.schema(), std::slice::from_ref(&b2), 65536).unwrap())
        .unwrap();
    let r = call(
        &s,
        "PUT",
        &format!("/projects/p1/tables/t?uploadid={up}&blockid=2&partition=pt%3Dx&arrow"),
        &[("Content-Encoding", "x-odps-lz4-frame")],
        &arrow,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    // a corrupt block is refused with the record number
    let mut bad = encode_all(&cols(), &[batch(0..3)]).unwrap();
    bad[4] ^= 1; // a byte of the first string value
    let r = call(
        &s,
        "PUT",
        &format!("/projects/p1/tables/t?uploadid={up}&blockid=3&partition=pt%3Dx"),
        &[],
        &bad,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("record 1: checksum mismatch"),
        "{}",
        r.text()
    );
    let r = call(
        &s,
        "PUT",
        &format!("/projects/p1/tables/t?uploadid={up}&blockid=20000&partition=pt%3Dx"),
        &[],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 400);

    let r = call(
        &s,
        "GET",
        &format!("/projects/p1/tables/t?uploadid={up}&partition=pt%3Dx"),
        &[],
        b"",
    )
    .await
    .unwrap();
    let ids: Vec<i64> = r.json()["UploadedBlockList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["BlockID"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![1, 2]);

    // commit naming a block that was never written: refused, nothing visible
    let r = call(
        &s,
        "POST",
        &format!("/projects/p1/tables/t?uploadid={up}&partition=pt%3Dx"),
        &[],
        b"1,2,3",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("[3]"), "{}", r.text());
    let r = call(
        &s,
        "POST",
        "/projects/p1/tables/t?downloads&partition=pt%3Dx",
        &[],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(r.json()["RecordCount"], 0);

    let r = call(
        &s,
        "POST",
        &format!("/projects/p1/tables/t?uploadid={up}&partition=pt%3Dx"),
        &[],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["Status"], "closed");

    let r = call(
        &s,
        "POST",
        "/projects/p1/tables/t?downloads&partition=pt%3Dx",
        &[],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(r.json()["RecordCount"], 150);
    let down = r.json()["DownloadID"].as_str().unwrap().to_string();
    // columns projection: field numbers follow the requested list; deflate reply
    let r = call(
        &s,
        "GET",
        &format!("/projects/p1/tables/t?data&downloadid={down}&rowrange=%2898%2C4%29&columns=name,id&partition=pt%3Dx"),
        &[("Accept-Encoding", "deflate")],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-encoding"), Some("deflate"));
    let body = Compression::Deflate.decompress(&r.body).unwrap();
    let proj = vec![
        ("name".to_string(), OdpsType::String),
        ("id".to_string(), OdpsType::Bigint),
    ];
    let got = decode_all(
        &proj,
        &body,
        DecoderOptions {
            require_footer: true,
            ..Default::default()
        },
    )
    .unwrap();
    let ids = got[0]
        .column(1)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    assert_eq!(ids.values().to_vec(), vec![98, 99, 100, 101]);
    // Arrow reply
    let r = call(
        &s,
        "GET",
        &format!(
            "/projects/p1/tables/t?data&downloadid={down}&rowrange=(0,150)&arrow&partition=pt%3Dx"
        ),
        &[],
        b"",
    )
    .await
    .unwrap();
    let got = decode_arrow_body(b2.schema(), &r.body).unwrap();
    assert_eq!(got.iter().map(|b| b.num_rows()).sum::<usize>(), 150);
    // beyond RecordCount
    let r = call(
        &s,
        "GET",
        &format!("/projects/p1/tables/t?data&downloadid={down}&rowrange=(100,51)&partition=pt%3Dx"),
        &[],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 400);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn signatures_are_verified() {
    let (_root, s) = server(
        Auth::Keys {
            access_id: "ak".into(),
            access_key: "sk".into(),
        },
        None,
    )
    .await;
    let date = "Mon, 23 Nov 2026 19:12:11 GMT";
    let target = "/api/projects/p1/tables/t?curr_project=p1";
    let sts = string_to_sign(
        "GET",
        "/projects/p1/tables/t",
        &parse_query("curr_project=p1"),
        &[("Date".to_string(), date.to_string())],
    );
    let good = authorization_v2("ak", "sk", &sts);
    let r = call(
        &s,
        "GET",
        target,
        &[("Date", date), ("Authorization", &good)],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(
        r.status,
        404,
        "signed request reaches the handler: {}",
        r.text()
    );
    let wrong = authorization_v2("ak", "not-sk", &sts);
    let r = call(
        &s,
        "GET",
        target,
        &[("Date", date), ("Authorization", &wrong)],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 403);
    assert!(r.text().contains("SignatureNotMatch"));
    assert!(!r.text().contains("sk\""), "never echo the key");
    let r = call(&s, "GET", target, &[("Date", date)], b"")
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn fault_injection_drops_block_puts_then_recovers() {
    let (_root, s) = server(
        Auth::None,
        Some(FaultInjection {
            drop_block_put_after_bytes: Some(10),
            times: 2,
        }),
    )
    .await;
    sql(&s, "CREATE TABLE t (id BIGINT, name STRING)").await;
    let r = call(&s, "POST", "/projects/p1/tables/t?uploads", &[], b"")
        .await
        .unwrap();
    let up = r.json()["UploadID"].as_str().unwrap().to_string();
    let body = encode_all(&cols(), &[batch(0..1000)]).unwrap();
    let target = format!("/projects/p1/tables/t?uploadid={up}&blockid=0");
    for _ in 0..2 {
        assert!(call(&s, "PUT", &target, &[], &body).await.is_err());
    }
    let r = call(&s, "PUT", &target, &[], &body).await.unwrap();
    assert_eq!(r.status, 200);
    let r = call(
        &s,
        "POST",
        &format!("/projects/p1/tables/t?uploadid={up}"),
        &[],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let r = call(&s, "POST", "/projects/p1/tables/t?downloads", &[], b"")
        .await
        .unwrap();
    assert_eq!(r.json()["RecordCount"], 1000);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn arrow_downloads_come_in_batches_a_client_decodes_whole() {
    // A client holds one Arrow message while it decodes it: the server sends at most 8,192
    // rows per record batch, however it stores them.
    let (_root, s) = server(Auth::None, None).await;
    let r = sql(&s, "CREATE TABLE p1.`big` (`id` BIGINT, `name` STRING)").await;
    assert!(r.text().contains("Success"), "{}", r.text());
    let r = call(&s, "POST", "/projects/p1/tables/big?uploads", &[], b"")
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let up = r.json()["UploadID"].as_str().unwrap().to_string();
    let b = batch(0..20_000);
    let body = encode_arrow_body(&b.schema(), std::slice::from_ref(&b), 65536).unwrap();
    let path = format!("/projects/p1/tables/big?uploadid={up}&blockid=1&arrow");
    let r = call(&s, "PUT", &path, &[], &body).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let path = format!("/projects/p1/tables/big?uploadid={up}");
    let r = call(&s, "POST", &path, &[], b"").await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let r = call(&s, "POST", "/projects/p1/tables/big?downloads", &[], b"")
        .await
        .unwrap();
    assert_eq!(r.json()["RecordCount"], 20_000);
    let down = r.json()["DownloadID"].as_str().unwrap().to_string();
    let path = format!("/projects/p1/tables/big?data&downloadid={down}&rowrange=(0,20000)&arrow");
    let r = call(&s, "GET", &path, &[], b"").await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let got = decode_arrow_body(b.schema(), &r.body).unwrap();
    let sizes: Vec<usize> = got.iter().map(|b| b.num_rows()).collect();
    assert_eq!(sizes, vec![8192, 8192, 3616], "rows per Arrow batch");
    assert_eq!(
        arrow::compute::concat_batches(&b.schema(), &got).unwrap(),
        b
    );
    s.shutdown().await.unwrap();
}
