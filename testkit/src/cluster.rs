//! A local Redis Cluster of three primaries on loopback ports (Debian's `redis-server` and
//! `redis-cli --cluster create`), no persistence, `cluster-require-full-coverage no` so a dead
//! primary stops only its own slots. Killed (and its files removed) on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::free_port;

/// Three primaries, slots split evenly.
#[derive(Debug)]
pub struct PrivateCluster {
    /// The primaries' ports, in the order given to `--cluster create`.
    pub ports: Vec<u16>,
    buses: Vec<u16>,
    children: Vec<Child>,
    dir: PathBuf,
}

/// `redis-cli -p <port> <args>`'s output, trimmed (empty when it cannot run).
pub fn cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// One `field:value` of a node's `INFO replication` (empty when absent).
pub fn replication_field(port: u16, field: &str) -> String {
    cli(port, &["INFO", "replication"])
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix(field)?
                .strip_prefix(':')
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

/// One cluster node on `port` (cluster bus on `bus`), its files in `dir`.
fn spawn_node(dir: &std::path::Path, port: u16, bus: u16) -> Child {
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args([
            "--cluster-enabled",
            "yes",
            "--cluster-port",
            &bus.to_string(),
        ])
        .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
        .args(["--cluster-node-timeout", "2000"])
        .args(["--cluster-require-full-coverage", "no"])
        .args(["--save", "", "--appendonly", "no"])
        // Tests stall a replica (`DEBUG SLEEP`) to make it miss writes; loopback only.
        .args(["--enable-debug-command", "local"])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn redis-server (Debian's redis-server)")
}

impl PrivateCluster {
    /// Kills the primary on `port`: its slots stop answering (the others keep serving).
    pub fn kill(&mut self, port: u16) {
        let i = self.index(port);
        let _ = self.children[i].kill();
        let _ = self.children[i].wait();
    }

    /// Starts the primary on `port` again, empty (no persistence): it rejoins with its slots
    /// from its cluster config file, and no data. Waits until it answers.
    pub fn restart_empty(&mut self, port: u16) {
        let i = self.index(port);
        self.children[i] = spawn_node(&self.dir, port, self.buses[i]);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cli(port, &["CLUSTER", "INFO"]).contains("cluster_state:ok") {
            assert!(Instant::now() < deadline, "node {port} did not come back");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Adds a replica of the primary on `port` and waits until it has the primary's data;
    /// answers the replica's port. It is killed with the cluster.
    pub fn add_replica(&mut self, primary: u16) -> u16 {
        let (port, bus) = (free_port(), free_port());
        self.children.push(spawn_node(&self.dir, port, bus));
        let deadline = Instant::now() + Duration::from_secs(30);
        while cli(port, &["PING"]).trim() != "PONG" {
            assert!(Instant::now() < deadline, "replica {port} did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        let id = cli(primary, &["CLUSTER", "MYID"]).trim().to_owned();
        let out = Command::new("redis-cli")
            .args(["--cluster", "add-node"])
            .arg(format!("127.0.0.1:{port}"))
            .arg(format!("127.0.0.1:{primary}"))
            .args(["--cluster-slave", "--cluster-master-id", &id])
            .output()
            .expect("redis-cli --cluster add-node");
        assert!(
            out.status.success(),
            "add-node: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        loop {
            let up = replication_field(port, "master_link_status") == "up";
            let same = replication_field(port, "slave_repl_offset")
                == replication_field(primary, "master_repl_offset");
            if up && same {
                break;
            }
            assert!(Instant::now() < deadline, "replica {port} never caught up");
            std::thread::sleep(Duration::from_millis(50));
        }
        port
    }

    /// Promotes the replica on `port` without its primary's agreement (`CLUSTER FAILOVER
    /// TAKEOVER`), as after its primary died; waits until it serves the slots.
    pub fn promote(&mut self, replica: u16) {
        assert!(cli(replica, &["CLUSTER", "FAILOVER", "TAKEOVER"]).contains("OK"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cli(replica, &["INFO", "replication"]).contains("role:master") {
            assert!(Instant::now() < deadline, "{replica} was not promoted");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `redis-cli` on the primary that serves `key`; its output, trimmed.
    pub fn on_primary_of(&self, key: &str, args: &[&str]) -> String {
        cli(self.primary_of(key), args)
    }

    fn index(&self, port: u16) -> usize {
        self.ports
            .iter()
            .position(|p| *p == port)
            .expect("a primary of this cluster")
    }

    /// Starts three primaries and forms the cluster; panics (the test's failure) when it does
    /// not come up within 30 s.
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "edgestock-cluster-{}-{:x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).expect("cluster dir");
        let mut ports = Vec::new();
        let mut buses = Vec::new();
        let mut children = Vec::new();
        for _ in 0..3 {
            let (port, bus) = (free_port(), free_port());
            ports.push(port);
            buses.push(bus);
            children.push(spawn_node(&dir, port, bus));
        }
        let me = Self {
            ports,
            buses,
            children,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        for &p in &me.ports {
            while cli(p, &["PING"]).trim() != "PONG" {
                assert!(Instant::now() < deadline, "cluster node {p} did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let nodes: Vec<String> = me.ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli --cluster create");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        for &p in &me.ports {
            while !cli(p, &["CLUSTER", "INFO"]).contains("cluster_state:ok") {
                assert!(
                    Instant::now() < deadline,
                    "cluster node {p} never saw the cluster ok"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        me
    }

    /// `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3`, the gateway's `REDIS_URL`.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+cluster://{}", hosts.join(","))
    }

    /// `(start, end, port)` of every slot range, from `CLUSTER SLOTS`.
    fn ranges(&self) -> Vec<(u16, u16, u16)> {
        ranges(self.ports[0])
    }

    /// The port of the primary that serves `key`'s slot.
    pub fn primary_of(&self, key: &str) -> u16 {
        let slot = key_slot(key.as_bytes());
        self.ranges()
            .into_iter()
            .find(|(start, end, _)| (*start..=*end).contains(&slot))
            .map(|(_, _, port)| port)
            .unwrap_or_else(|| panic!("no node serves slot {slot}"))
    }

    /// For every primary, one key (`<prefix>{t<n>}`) whose slot it serves.
    pub fn key_per_primary(&self, prefix: &str) -> Vec<String> {
        let ranges = self.ranges();
        let port_of = |k: &str| {
            let slot = key_slot(k.as_bytes());
            ranges
                .iter()
                .find(|(s, e, _)| (*s..=*e).contains(&slot))
                .map(|r| r.2)
        };
        self.ports
            .iter()
            .map(|&p| {
                (0..100_000)
                    .map(|i| format!("{prefix}{{t{i}}}"))
                    .find(|k| port_of(k) == Some(p))
                    .expect("a key for every primary")
            })
            .collect()
    }
}

/// `(start, end, primary port)` of every slot range of the cluster `port` belongs to, from its
/// `CLUSTER SLOTS` (loopback nodes only).
pub fn ranges(port: u16) -> Vec<(u16, u16, u16)> {
    let out = cli(port, &["CLUSTER", "SLOTS"]);
    let words: Vec<&str> = out.lines().map(str::trim).collect();
    let mut ranges = Vec::new();
    // Per range: start, end, then host, port, id for each node (the primary first).
    let mut i = 0;
    while i + 3 < words.len() {
        match (
            words[i].parse::<u16>(),
            words[i + 1].parse::<u16>(),
            words[i + 3].parse::<u16>(),
        ) {
            (Ok(start), Ok(end), Ok(p)) if words[i + 2] == "127.0.0.1" => {
                ranges.push((start, end, p));
                i += 4;
            }
            _ => i += 1,
        }
    }
    ranges
}

/// The `redis://` URL of the primary that serves `key` in the cluster of `url`
/// (`redis+cluster://127.0.0.1:p,…`, as `scripts/lib.sh start_cluster` prints it).
pub fn primary_url(url: &str, key: &str) -> String {
    let first: u16 = url
        .trim_start_matches("redis+cluster://")
        .split(',')
        .next()
        .and_then(|h| h.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .expect("a redis+cluster://127.0.0.1:port,… URL");
    let slot = key_slot(key.as_bytes());
    let port = ranges(first)
        .into_iter()
        .find(|(s, e, _)| (*s..=*e).contains(&slot))
        .map(|r| r.2)
        .unwrap_or_else(|| panic!("no node serves slot {slot}"));
    format!("redis://127.0.0.1:{port}")
}

/// Redis Cluster's slot of a key: CRC16 (XMODEM) of its hash tag (or the whole key) mod 16384.
pub fn key_slot(key: &[u8]) -> u16 {
    let tagged = key
        .iter()
        .position(|b| *b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            let close = rest.iter().position(|b| *b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(key);
    let mut crc: u16 = 0;
    for &b in tagged {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16384
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::key_slot;

    #[test]
    fn key_slots_match_redis() {
        // Values from `CLUSTER KEYSLOT`.
        assert_eq!(key_slot(b"a"), 15495);
        assert_eq!(key_slot(b"b"), 3300);
        assert_eq!(key_slot(b"stock:{A}"), key_slot(b"A"));
        assert_eq!(key_slot(b"{}x"), key_slot(b"{}x"));
        assert_ne!(
            key_slot(b"{}a"),
            key_slot(b"a"),
            "an empty tag hashes the whole key"
        );
    }
}
