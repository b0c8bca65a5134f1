//! Shared helpers for the black-box tests.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

/// How long Miniflare may take to print `READY <url>`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The repository root (the parent of this crate's manifest directory).
pub(crate) fn repo_root() -> PathBuf {
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
pub(crate) struct Worker {
    base_url: String,
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Worker {
    /// Starts Miniflare with no extra bindings.
    pub(crate) async fn start() -> Self {
        Self::start_with_bindings(&serde_json::json!({})).await
    }

    /// Starts Miniflare with `bindings` (a JSON object of vars and secrets).
    pub(crate) async fn start_with_bindings(bindings: &serde_json::Value) -> Self {
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

        // Keep draining stdout so the worker's console output never blocks on a full pipe.
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("[miniflare] {line}");
            }
        });

        Self {
            base_url,
            child,
            stdin,
        }
    }

    /// The base URL, e.g. `http://127.0.0.1:41234` (no trailing slash).
    #[allow(dead_code)]
    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `path` (starting with `/`) resolved against the base URL.
    pub(crate) fn url(&self, path: &str) -> String {
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

pub(crate) mod full;
pub(crate) mod stack;
