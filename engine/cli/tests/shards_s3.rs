//! A sharded run whose state store is S3-compatible object storage (`--state
//! s3://bucket/prefix`): moto's S3 server (`python -m moto.server`, from the test venv
//! `scripts/pyenv.sh` makes) on 127.0.0.1, one per test. `ferry plan`, three `ferry run
//! --shard I` processes and `ferry commit` load PostgreSQL → Parquet and PostgreSQL →
//! PostgreSQL exactly; a shard killed and started again leaves the load exact; a wrong
//! secret key is refused with an error that does not show it; `ferry abort` undoes what a
//! shard staged and a later shard refuses the aborted run.

// Test code: a failed unwrap / expect / panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{pg_dst_writer, pg_exact, pg_exec, pg_i64, prepared_of, src_dst_job, walk};

/// The credentials the tests give ferry (moto accepts any until auth is turned on).
const KEY_ID: &str = "AKIAFERRYTEST";
const SECRET: &str = "ferry-test-secret-0123456789";

/// `python -m moto.server` on a free port of 127.0.0.1, killed when dropped.
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    fn start() -> Moto {
        Moto::start_with(&[])
    }

    fn start_with(env: &[(&str, &str)]) -> Moto {
        let py = std::env::var("FERRY_TEST_PYTHON")
            .expect("set FERRY_TEST_PYTHON (scripts/pyenv.sh); run scripts/test");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut moto = Moto {
            child: Command::new(py)
                .args(["-m", "moto.server", "-H", "127.0.0.1", "-p"])
                .arg(port.to_string())
                .envs(env.iter().copied())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
            port,
        };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            // moto itself answering (its own API, which does not count against
            // INITIAL_NO_AUTH_ACTION_COUNT), not only something accepting on the port
            if matches!(
                moto.try_http("GET", "/moto-api/data.json", ""),
                Ok((200, _))
            ) {
                // a server that checks signatures gets its bucket from the test
                if env.is_empty() {
                    let (code, body) = moto.http("PUT", "/ferry", "");
                    assert_eq!(code, 200, "creating the bucket: {body}");
                }
                return moto;
            }
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto.server exited ({status}): is moto[server] in the venv (scripts/pyenv.sh)?");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("moto.server did not listen on {port}");
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One plain HTTP request (moto answers unsigned ones until auth is turned on).
    fn http(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        self.try_http(method, path, body).unwrap()
    }

    fn try_http(&self, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port))?;
        write!(
            s,
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\n\r\n{body}",
            self.port,
            body.len()
        )?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        let code = out
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = out
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Ok((code, body))
    }

    /// The object names under `prefix` in the bucket.
    fn keys(&self, prefix: &str) -> Vec<String> {
        let (code, body) = self.http("GET", &format!("/ferry?prefix={prefix}"), "");
        assert_eq!(code, 200, "{body}");
        body.split("<Key>")
            .skip(1)
            .filter_map(|k| k.split_once("</Key>").map(|(k, _)| k.to_string()))
            .collect()
    }

    /// An object's text (read with boto3: moto refuses unsigned reads of objects).
    fn get(&self, key: &str) -> String {
        let out = Command::new(std::env::var("FERRY_TEST_PYTHON").unwrap())
            .arg("-c")
            .arg(format!(
                "import boto3, sys; print(boto3.client('s3', endpoint_url='{}', \
                 region_name='us-east-1', aws_access_key_id='a', aws_secret_access_key='b')\
                 .get_object(Bucket='ferry', Key=sys.argv[1])['Body'].read().decode())",
                self.endpoint()
            ))
            .arg(key)
            .output()
            .unwrap();
        ok(out, key)
    }

    /// `ferry` with the S3 client's environment for this server.
    fn ferry(&self, secret: &str) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ferry"));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("AWS_") {
                c.env_remove(k);
            }
        }
        c.env("AWS_ACCESS_KEY_ID", KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_ENDPOINT", self.endpoint())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ALLOW_HTTP", "true");
        c
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(o: Output, what: &str) -> String {
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{what}: {t}");
    t
}

/// The run id `ferry plan` prints.
fn run_id_of(planned: Output) -> String {
    let id = String::from_utf8_lossy(&planned.stdout).trim().to_string();
    ok(planned, "ferry plan");
    id
}

fn table_job(dir: &Path, schema: &str, rows: u32, writer: &str) -> PathBuf {
    src_dst_job(dir, schema, rows, 4, "src", writer)
}

fn verify(job: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .arg("verify")
        .arg(job)
        .output()
        .unwrap();
    let t = ok(out, "ferry verify");
    assert!(t.contains("Verify                : ok"), "{t}");
}

/// `ferry run JOB --state STATE --shard I` in the background, in its own directory.
fn shard(moto: &Moto, dir: &Path, job: &Path, state: &str, i: usize, extra: &[&str]) -> Child {
    let wd = dir.join(format!("pod-{i}"));
    std::fs::create_dir_all(&wd).unwrap();
    moto.ferry(SECRET)
        .arg("run")
        .arg(job)
        .args(["--state", state, "--shard", &i.to_string()])
        .args(["--progress-secs", "0"])
        .args(extra)
        .current_dir(&wd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The run's status, from its `run.json` in the bucket.
fn status_of(moto: &Moto, prefix: &str) -> String {
    let run: serde_json::Value =
        serde_json::from_str(&moto.get(&format!("{prefix}/run.json"))).unwrap();
    run["status"].as_str().unwrap().to_string()
}

#[test]
fn plan_three_shards_and_commit_with_the_state_on_s3() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    for target in ["parquet", "pg"] {
        let wd = dir.path().join(target);
        std::fs::create_dir_all(&wd).unwrap();
        let schema = format!("s3_{target}");
        let writer = match target {
            "pg" => pg_dst_writer(&schema),
            _ => format!(
                r#"{{"name": "parquet", "parameter": {{"path": "{}", "writeMode": "truncate"}}}}"#,
                wd.join("out").display()
            ),
        };
        let job = table_job(&wd, &schema, 6000, &writer);
        let prefix = format!("runs/{target}");
        let state = format!("s3://ferry/{prefix}");
        let plan = || {
            moto.ferry(SECRET)
                .arg("plan")
                .arg(&job)
                .args(["--shards", "3", "--state", &state])
                .current_dir(&wd)
                .output()
                .unwrap()
        };
        let run_id = run_id_of(plan());
        // a second plan on the same state is refused: run.json is created only once
        let again = plan();
        assert_ne!(again.status.code(), Some(0));
        assert!(
            text(&again).contains("already holds a run's plan"),
            "{}",
            text(&again)
        );
        let shards: Vec<Child> = (0..3)
            .map(|i| shard(&moto, &wd, &job, &state, i, &[]))
            .collect();
        for (i, s) in shards.into_iter().enumerate() {
            ok(
                s.wait_with_output().unwrap(),
                &format!("{target} shard {i}"),
            );
        }
        let t = ok(
            moto.ferry(SECRET)
                .args(["commit", "--state", &state, "--timeout", "60"])
                .output()
                .unwrap(),
            "ferry commit",
        );
        assert!(t.contains("staged by 3 shards, in one commit"), "{t}");
        assert!(t.contains("Records written       : 6000"), "{t}");
        verify(&job);
        assert_eq!(status_of(&moto, &prefix), "committed");
        let keys = moto.keys(&prefix);
        for k in [
            "run.json",
            "planned",
            "shards/0000/0001.json",
            "shards/0002/0001.json",
        ] {
            assert!(keys.contains(&format!("{prefix}/{k}")), "{k} in {keys:?}");
        }
        assert!(
            keys.iter().filter(|k| k.contains("/receipts/")).count() >= 3,
            "{keys:?}"
        );
        if target == "pg" {
            pg_exact(&schema);
            assert_eq!(prepared_of(&run_id), 0);
        } else {
            let left: Vec<_> = walk(&wd.join("out"))
                .into_iter()
                .filter(|p| p.to_string_lossy().contains(".ferry-tmp-"))
                .collect();
            assert!(left.is_empty(), "temporary files left: {left:?}");
        }
        // a shard the scheduler starts again after the commit has nothing to do
        let late = ok(
            shard(&moto, &wd, &job, &state, 1, &[])
                .wait_with_output()
                .unwrap(),
            "late shard",
        );
        assert!(late.contains("is committed"), "{late}");
    }
}

#[test]
fn a_shard_killed_and_started_again_against_s3_state_leaves_the_load_exact() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let schema = "s3_kill";
    let job = table_job(dir.path(), schema, 12000, &pg_dst_writer(schema));
    let state = "s3://ferry/kill";
    let coord = moto
        .ferry(SECRET)
        .arg("coordinate")
        .arg(&job)
        .args(["--shards", "3", "--timeout", "120", "--state", state])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let s0 = shard(&moto, dir.path(), &job, state, 0, &[]);
    let s2 = shard(&moto, dir.path(), &job, state, 2, &[]);
    let mut s1 = shard(&moto, dir.path(), &job, state, 1, &[]);
    // wait until shard 1 began its attempt, then kill it without warning
    let start = Instant::now();
    while moto.keys("kill/shards/0001/").is_empty() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    s1.kill().unwrap();
    let killed = s1.wait_with_output().unwrap();
    assert_ne!(killed.status.code(), Some(0), "killed: {}", text(&killed));
    let again = ok(
        shard(
            &moto,
            dir.path(),
            &job,
            state,
            1,
            &["--shard-attempts", "3"],
        )
        .wait_with_output()
        .unwrap(),
        "shard 1 again",
    );
    assert!(again.contains("earlier attempt"), "{again}");
    for s in [s0, s2] {
        ok(s.wait_with_output().unwrap(), "shard");
    }
    let t = ok(coord.wait_with_output().unwrap(), "ferry coordinate");
    assert!(t.contains("Records written       : 12000"), "{t}");
    verify(&job);
    pg_exact(schema);
    // each attempt of shard 1 wrote its own object
    assert_eq!(
        moto.keys("kill/shards/0001/"),
        ["kill/shards/0001/0001.json", "kill/shards/0001/0002.json"]
    );
    let run: serde_json::Value = serde_json::from_str(&moto.get("kill/run.json")).unwrap();
    assert_eq!(run["status"], "committed");
    assert_eq!(prepared_of(run["run_id"].as_str().unwrap()), 0);
}

#[test]
fn a_wrong_secret_key_is_refused_without_being_shown() {
    // moto checks every request's signature after the first four: the bucket, then a user
    // whose key may do anything
    let moto = Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "4")]);
    let dir = tempfile::tempdir().unwrap();
    let py = std::env::var("FERRY_TEST_PYTHON").unwrap();
    let setup = Command::new(py)
        .arg("-c")
        .arg(format!(
            r#"
import boto3, json
boto3.client("s3", endpoint_url="{ep}", region_name="us-east-1",
             aws_access_key_id="x", aws_secret_access_key="x").create_bucket(Bucket="ferry")
iam = boto3.client("iam", endpoint_url="{ep}", region_name="us-east-1",
                   aws_access_key_id="x", aws_secret_access_key="x")
iam.create_user(UserName="ferry")
iam.put_user_policy(UserName="ferry", PolicyName="all", PolicyDocument=json.dumps(
    {{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": "*", "Resource": "*"}}]}}))
k = iam.create_access_key(UserName="ferry")["AccessKey"]
print(k["AccessKeyId"], k["SecretAccessKey"])
"#,
            ep = moto.endpoint()
        ))
        .output()
        .unwrap();
    let t = ok(setup, "the IAM user");
    let mut words = t.split_whitespace();
    let (key_id, secret) = (words.next().unwrap(), words.next().unwrap());
    let writer = format!(
        r#"{{"name": "parquet", "parameter": {{"path": "{}", "writeMode": "truncate"}}}}"#,
        dir.path().join("out").display()
    );
    let job = table_job(dir.path(), "s3_secret", 100, &writer);
    let plan = |secret: &str, prefix: &str| {
        moto.ferry(secret)
            .env("AWS_ACCESS_KEY_ID", key_id)
            .arg("plan")
            .arg(&job)
            .args(["--shards", "2", "--state", &format!("s3://ferry/{prefix}")])
            .output()
            .unwrap()
    };
    let wrong = "Wr0ngSecretKeyThatMustNotBePrinted";
    let out = plan(wrong, "bad");
    let t = text(&out);
    assert_ne!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains("s3://ferry/bad"),
        "the error names the store: {t}"
    );
    assert!(
        t.contains("403") || t.contains("Forbidden") || t.contains("Signature"),
        "the error says the request was refused: {t}"
    );
    assert!(!t.contains(wrong), "the secret is printed: {t}");
    assert!(!t.contains(secret), "{t}");
    // the right secret is accepted by the same server
    let out = plan(secret, "good");
    let t = ok(out, "ferry plan with the right secret");
    assert!(!t.contains(secret), "{t}");
}

#[test]
fn abort_against_s3_state_undoes_what_a_shard_staged() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let schema = "s3_abort";
    let job = table_job(dir.path(), schema, 4000, &pg_dst_writer(schema));
    pg_exec(&format!("INSERT INTO {schema}.dst VALUES (-1, 'old')"));
    let state = "s3://ferry/abort";
    let run_id = run_id_of(
        moto.ferry(SECRET)
            .arg("plan")
            .arg(&job)
            .args(["--shards", "2", "--state", state])
            .current_dir(dir.path())
            .output()
            .unwrap(),
    );
    ok(
        shard(&moto, dir.path(), &job, state, 0, &[])
            .wait_with_output()
            .unwrap(),
        "shard 0",
    );
    assert!(prepared_of(&run_id) > 0, "shard 0 prepared its splits");
    let t = ok(
        moto.ferry(SECRET)
            .args(["abort", "--state", state])
            .current_dir(dir.path())
            .output()
            .unwrap(),
        "ferry abort",
    );
    assert!(t.contains("aborted run"), "{t}");
    assert_eq!(status_of(&moto, "abort"), "aborted");
    assert_eq!(prepared_of(&run_id), 0, "no prepared transaction is left");
    assert_eq!(pg_i64(&format!("SELECT count(*) FROM {schema}.dst")), 1);
    // a shard started after the abort refuses to work on it
    let late = shard(&moto, dir.path(), &job, state, 1, &[])
        .wait_with_output()
        .unwrap();
    assert_ne!(late.status.code(), Some(0));
    assert!(text(&late).contains("was aborted"), "{}", text(&late));
    // the state went to the bucket, not to a local folder named after the URL
    let local: Vec<_> = walk(dir.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("s3:"))
        .collect();
    assert!(local.is_empty(), "{local:?}");
}
