//! The gateway against a real Redis (REDIS_URL, default 127.0.0.1:6379), driven by our own typed
//! client and by raw HTTP where the wire format itself is the point.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use edgestock_gateway::{spawn, Config, Running};
use serde_json::{json, Value as Json};
use upstash_rest::{cmd, Client, Error, ReqwestTransport, Script, Value};

const TOKEN: &str = "test-token";
const RO_TOKEN: &str = "read-only-token";

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

async fn start_with(redis: &str, tweak: impl FnOnce(&mut Config)) -> Running {
    let mut config = Config::new(redis, TOKEN);
    config.listen = "127.0.0.1:0".into();
    config.readonly_token = Some(RO_TOKEN.into());
    tweak(&mut config);
    spawn(config).await.expect("gateway starts")
}

async fn start() -> Running {
    start_with(&redis_url(), |_| {}).await
}

fn client(gw: &Running, token: &str) -> Client<ReqwestTransport> {
    Client::new(ReqwestTransport::default(), &gw.url(), token).with_timeout(Duration::from_secs(5))
}

/// A key prefix no other test run uses.
fn prefix() -> String {
    format!("gwtest:{:x}:", rand::random::<u64>())
}

async fn raw(
    gw: &Running,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, reqwest::header::HeaderMap, Json) {
    let mut rb = reqwest::Client::new()
        .post(format!("{}{path}", gw.url()))
        .header("upstash-encoding", "base64")
        .body(body.to_owned());
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    let res = rb.send().await.expect("request");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body: Json = res.json().await.expect("every answer is JSON");
    (status, headers, body)
}

/// A private redis-server on a free port, killed on drop, with its working directory in a
/// fresh temporary folder (nothing it might write lands in the repository). Tests that could
/// wreck a Redis if the gateway let a command through use one, never the shared REDIS_URL.
struct PrivateRedis {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl PrivateRedis {
    fn start(port: u16) -> Self {
        let dir = std::env::temp_dir().join(format!("gwtest-redis-{:x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
            ])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/test.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "private redis did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port, dir }
    }

    /// On any free port.
    fn start_any() -> Self {
        Self::start(free_port())
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `redis-cli` straight to this Redis, bypassing the gateway.
    fn cli(&self, args: &[&str]) -> String {
        Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    }

    /// Commands Redis has executed (`INFO commandstats`, lower-case names, `info` itself left
    /// out): a command missing here never reached Redis.
    fn commands_seen(&self) -> Vec<String> {
        self.cli(&["INFO", "commandstats"])
            .lines()
            .filter_map(|l| Some(l.strip_prefix("cmdstat_")?.split_once(':')?.0.to_owned()))
            .filter(|name| name != "info")
            .collect()
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

mod access;
mod admin;
mod availability;
mod cluster;
mod data;
mod readonly;
