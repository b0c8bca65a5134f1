//! Dev-only fixtures shared by the black-box tests (`tests/`) and the benchmarks (`bench/`):
//! nothing in production depends on this crate.
//!
//! # Layout
//! - this module: [`repo_root`], the built worker in Miniflare ([`Worker`]), and the reservation
//!   token as the edge computes it ([`reservation_token`]);
//! - the shared Redis, unique key prefixes, a closed port and a gateway in front of any Redis
//!   (no edgestock dependency, so every crate's tests can use them);
//! - the running stacks (edge, full) live in `testkit-stack`, which depends on core and the origin.

pub mod cluster;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

/// How long Miniflare may take to print `READY <url>`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The repository root (the parent of this crate's manifest directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent directory")
        .to_path_buf()
}

/// The built worker served by Miniflare (`node tests/support/miniflare.mjs`).
///
/// Dropping it closes Miniflare's stdin (the script then disposes workerd), waits briefly for a
/// clean exit, and otherwise kills the node process (`kill_on_drop`).
#[derive(Debug)]
pub struct Worker {
    base_url: String,
    child: Child,
    stdin: Option<ChildStdin>,
    logged: Arc<Mutex<VecDeque<String>>>,
}

/// How the worker's per-request log lines start.
const REQUEST_LINE: &str = "{\"msg\":\"request\"";
/// Per-request log lines kept.
const LOG_LINES: usize = 1000;

impl Worker {
    /// Starts Miniflare with no extra bindings.
    pub async fn start() -> Self {
        Self::start_with_bindings(&serde_json::json!({})).await
    }

    /// Starts Miniflare with `bindings` (a JSON object of vars and secrets).
    pub async fn start_with_bindings(bindings: &serde_json::Value) -> Self {
        Self::start_with(bindings, None).await
    }

    /// Starts Miniflare with `bindings`; with `analytics_sink`, the worker's `ANALYTICS` dataset
    /// POSTs every data point there as JSON.
    pub async fn start_with(bindings: &serde_json::Value, analytics_sink: Option<&str>) -> Self {
        let root = repo_root();
        let script = root.join("edge/build/index.js");
        assert!(
            script.is_file(),
            "{} is missing: the worker has not been built. Run `scripts/test.sh` \
             (it builds the worker with worker-build before the tests), or build it alone with \
             `cd edge && worker-build --release`.",
            script.display()
        );

        let mut child = Command::new("node")
            .arg("tests/support/miniflare.mjs")
            .current_dir(&root)
            .env("MF_PORT", "0")
            .env("MF_BINDINGS", bindings.to_string())
            .env("MF_ANALYTICS_SINK", analytics_sink.unwrap_or(""))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn `node tests/support/miniflare.mjs`: {e}"));

        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();

        let ready = tokio::time::timeout(READY_TIMEOUT, async {
            while let Some(line) = lines.next_line().await.expect("read miniflare stdout") {
                if let Some(url) = line.strip_prefix("READY ") {
                    return Some(url.trim().trim_end_matches('/').to_owned());
                }
                eprintln!("[miniflare] {line}");
            }
            None
        })
        .await;

        let base_url = match ready {
            Ok(Some(url)) => url,
            Ok(None) => {
                let status = child.wait().await;
                panic!("miniflare exited before printing READY ({status:?}); see its stderr above")
            }
            Err(_) => panic!("miniflare did not print READY within {READY_TIMEOUT:?}"),
        };

        // Keep draining stdout so the worker's console output never blocks on a full pipe; the
        // worker's per-request JSON lines are kept (the latest LOG_LINES) rather than echoed.
        let logged = Arc::new(Mutex::new(VecDeque::new()));
        let keep = logged.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.starts_with(REQUEST_LINE) {
                    let mut k = keep.lock().expect("log lines");
                    if k.len() == LOG_LINES {
                        k.pop_front();
                    }
                    k.push_back(line);
                } else {
                    eprintln!("[miniflare] {line}");
                }
            }
        });

        Self {
            base_url,
            child,
            stdin,
            logged,
        }
    }

    /// The worker's latest per-request JSON log lines, oldest first.
    pub fn request_log(&self) -> Vec<String> {
        self.logged
            .lock()
            .expect("log lines")
            .iter()
            .cloned()
            .collect()
    }

    /// The base URL, e.g. `http://127.0.0.1:41234` (no trailing slash).
    #[allow(dead_code)]
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `path` (starting with `/`) resolved against the base URL.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing stdin asks the script to dispose Miniflare (and its workerd) cleanly; a plain
        // SIGKILL of node would leave workerd orphaned.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        // Still running: `kill_on_drop` sends SIGKILL when `child` is dropped right after this.
        let _ = self.child.start_kill();
    }
}

/// The token of the test gateways.
pub const GATEWAY_TOKEN: &str = "e2e-gateway-token";

/// The shared Redis of the test run.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A key prefix no other test uses: `<tag>:<random>:`. Test runs remove the keys of their
/// own tags first (`scripts/lib.sh`), so pick one of those.
pub fn prefix(tag: &str) -> String {
    format!("{tag}:{:016x}:", rand::random::<u64>())
}

/// A port nothing listens on, reserved for the rest of the process.
pub fn closed_port() -> u16 {
    // Bound and never listening: a connection is refused, and no server of any test (a receiver,
    // a worker, a Redis) can be given this port while the process runs.
    static HELD: Mutex<Vec<tokio::net::TcpSocket>> = Mutex::new(Vec::new());
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("bind");
    let port = socket.local_addr().expect("addr").port();
    HELD.lock().expect("held ports").push(socket);
    port
}

/// A port free right now, for a server about to bind it.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Starts a gateway in front of `redis`.
pub async fn gateway(
    redis: &str,
    tweak: impl FnOnce(&mut edgestock_gateway::Config),
) -> edgestock_gateway::Running {
    let mut c = edgestock_gateway::Config::new(redis, GATEWAY_TOKEN);
    c.listen = "127.0.0.1:0".into();
    tweak(&mut c);
    edgestock_gateway::spawn(c).await.expect("gateway starts")
}

/// The reservation token of `id` expiring at `exp_secs` (unix seconds) under `secret`, computed
/// as the edge does: `<exp_secs>.` followed by `base64url(HMAC-SHA256(secret, "rsv:" + id + "." +
/// exp_secs))` without padding.
pub fn reservation_token(secret: &str, id: &str, exp_secs: i64) -> String {
    use base64::Engine as _;
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("rsv:{id}.{exp_secs}").as_bytes());
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{exp_secs}.{sig}")
}

/// The hash a reservation bound to a customer carries: the first 32 hex characters of
/// SHA-256(`iss + "\n" + sub`) of the customer JWT.
pub fn customer_hash(iss: &str, sub: &str) -> String {
    use sha2::Digest as _;
    let mut h = hex::encode(sha2::Sha256::digest(format!("{iss}\n{sub}").as_bytes()));
    h.truncate(32);
    h
}

/// The token the edge issues for reservation `id` bound to the customer of hash `customer`
/// ([`customer_hash`]): `<exp>.<customer>.` + base64url(HMAC-SHA256(secret,
/// `"rsv:" + id + "." + exp + "." + customer`)).
pub fn bound_reservation_token(secret: &str, id: &str, exp_secs: i64, customer: &str) -> String {
    use base64::Engine as _;
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("rsv:{id}.{exp_secs}.{customer}").as_bytes());
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{exp_secs}.{customer}.{sig}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known answers for the bound form (Python: `hashlib.sha256(b"https://shop.example\nuser-42")`
    /// then `hmac.new(b"secret", b"rsv:<id>.1700001860.<hash>", sha256)`, base64url unpadded).
    #[test]
    fn bound_reservation_token_known_answer() {
        let customer = customer_hash("https://shop.example", "user-42");
        assert_eq!(customer, "119ffe9adb6ac1e9147ec92db46732d6");
        assert_eq!(
            bound_reservation_token(
                "secret",
                "0123456789abcdef0123456789abcdef",
                1_700_001_860,
                &customer
            ),
            "1700001860.119ffe9adb6ac1e9147ec92db46732d6.aN1bDqolffeY6tK5CV0fvTvV5wdRKCWdxShFgAWP_x8"
        );
    }

    /// A known answer (from Python's `hmac`, `hashlib` and `base64`), so the helper cannot drift
    /// from the edge's scheme unnoticed.
    #[test]
    fn reservation_token_known_answer() {
        assert_eq!(
            reservation_token("secret", "0123456789abcdef0123456789abcdef", 1_700_001_860),
            "1700001860.RTYmX6d39tknMU8SVgv-gwD_F45NDVqROL6MC6XpWQo"
        );
    }
}
