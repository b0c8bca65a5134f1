//! Redis side: a few multiplexed connections, a deadline on every round trip, and the script
//! alias translation.
//!
//! Every request becomes one packed RESP write on one connection, so a pipeline is a real
//! pipeline and a transaction's `MULTI … EXEC` frame can never interleave with another request's
//! commands (the failure mode of gateways that send MULTI and EXEC as separate calls on a shared
//! connection). `ConnectionManager` reconnects by itself after Redis comes back.
//!
//! With a `redis+cluster://host:port,host:port` URL the gateway speaks Redis Cluster instead
//! ([`cluster`]): each command goes to its slot's primary, and a pipeline spanning slots is
//! split and put back together in order.

mod breaker;
mod cluster;
mod slots;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Pipeline, Value};

use crate::protocol::{server_error_text, Command};
use crate::scripts::{strip_upstash_flags, Aliases};
use slots::Placement;

/// Why a round trip produced no usable reply.
#[derive(Debug)]
pub(crate) enum BackendError {
    /// Redis answered with an error for the request as a whole (for example EXECABORT).
    Server(String),
    /// Redis could not be reached or did not answer in time.
    Unavailable(String),
}

/// One command ready for Redis.
#[derive(Debug)]
pub(crate) struct Outgoing {
    cmd: redis::Cmd,
    /// The reply to give instead of Redis's bulk string: SCRIPT LOAD of a rewritten script
    /// answers the client's own SHA1.
    fixup: Option<String>,
    /// Where it runs on a cluster.
    placement: Placement,
}

/// One Redis (a few multiplexed connections), or a cluster.
enum Target {
    Single(Single),
    Cluster(Box<cluster::Cluster>),
}

/// A few multiplexed connections to one Redis, used round robin.
struct Single {
    conns: Vec<ConnectionManager>,
    next: AtomicUsize,
}

impl Single {
    fn conn(&self) -> ConnectionManager {
        self.conns[self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len()].clone()
    }
}

pub(crate) struct Backend {
    target: Target,
    timeout: Duration,
    aliases: Aliases,
}

impl Backend {
    pub(crate) fn new(url: &str, connections: usize, timeout: Duration) -> anyhow::Result<Self> {
        if url.starts_with("redis+cluster:") {
            let nodes = cluster::nodes(url).ok_or_else(|| {
                anyhow::anyhow!("REDIS_URL redis+cluster:// names no node (host:port,host:port)")
            })?;
            return Ok(Self {
                target: Target::Cluster(Box::new(cluster::Cluster::new(nodes, timeout)?)),
                timeout,
                aliases: Aliases::default(),
            });
        }
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout.min(Duration::from_secs(1))))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_millis(500));
        let conns = (0..connections)
            .map(|_| ConnectionManager::new_lazy_with_config(client.clone(), config.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            target: Target::Single(Single {
                conns,
                next: AtomicUsize::new(0),
            }),
            timeout,
            aliases: Aliases::default(),
        })
    }

    /// Applies the script shebang translation and builds the RESP command.
    pub(crate) fn translate(&self, command: Command) -> Outgoing {
        let Command { name, mut words } = command;
        let mut fixup = None;
        match name.as_str() {
            "EVAL" | "EVAL_RO" => {
                if let Some(fwd) = words.get(1).and_then(|s| strip_upstash_flags(s)) {
                    self.aliases.remember(&words[1], &fwd);
                    words[1] = fwd;
                }
            }
            "EVALSHA" | "EVALSHA_RO" => {
                if let Some(fwd) = words.get(1).and_then(|s| self.aliases.resolve(s)) {
                    words[1] = fwd;
                }
            }
            "SCRIPT" => {
                let sub = words.get(1).map(|s| s.to_ascii_uppercase());
                match sub.as_deref() {
                    Some(b"LOAD") => {
                        if let Some(fwd) = words.get(2).and_then(|s| strip_upstash_flags(s)) {
                            let (original, _) = self.aliases.remember(&words[2], &fwd);
                            words[2] = fwd;
                            fixup = Some(original);
                        }
                    }
                    Some(b"EXISTS") => {
                        for w in words.iter_mut().skip(2) {
                            if let Some(fwd) = self.aliases.resolve(w) {
                                *w = fwd;
                            }
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        let mut cmd = redis::Cmd::new();
        for w in &words {
            cmd.arg(&w[..]);
        }
        let placement = match self.target {
            Target::Cluster(_) => slots::placement(&slots::keys(&name, &words)),
            Target::Single(_) => Placement::Keyless,
        };
        Outgoing {
            cmd,
            fixup,
            placement,
        }
    }

    async fn send(
        &self,
        mut conn: ConnectionManager,
        pipe: &Pipeline,
        count: usize,
    ) -> Result<Vec<Value>, BackendError> {
        match tokio::time::timeout(self.timeout, conn.req_packed_commands(pipe, 0, count)).await {
            Ok(Ok(values)) if values.len() == count => Ok(values),
            Ok(Ok(values)) => Err(BackendError::Unavailable(format!(
                "ERR redis answered {} replies for {count} commands",
                values.len()
            ))),
            Ok(Err(e)) => Err(match e.code() {
                Some(_) if !e.is_io_error() && !e.is_timeout() => {
                    BackendError::Server(e.to_string())
                }
                _ => BackendError::Unavailable(format!("ERR redis unavailable: {e}")),
            }),
            Err(_) => Err(BackendError::Unavailable(format!(
                "ERR redis unavailable: no reply within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }

    /// Runs the commands as one RESP pipeline; one reply per command, errors as values.
    pub(crate) async fn run(&self, cmds: Vec<Outgoing>) -> Result<Vec<Value>, BackendError> {
        let fixups: Vec<Option<String>> = cmds.iter().map(|o| o.fixup.clone()).collect();
        let values = match &self.target {
            Target::Cluster(c) => {
                c.run(cmds.into_iter().map(|o| (o.placement, o.cmd)).collect())
                    .await?
            }
            Target::Single(single) => {
                let mut pipe = Pipeline::with_capacity(cmds.len());
                for o in cmds {
                    pipe.add_command(o.cmd);
                }
                self.send(single.conn(), &pipe, fixups.len()).await?
            }
        };
        Ok(values
            .into_iter()
            .zip(fixups)
            .map(|(v, f)| apply(v, f))
            .collect())
    }

    /// Runs the commands inside `MULTI … EXEC`, written as one frame.
    pub(crate) async fn transaction(
        &self,
        cmds: Vec<Outgoing>,
    ) -> Result<Vec<Value>, BackendError> {
        let n = cmds.len();
        let fixups: Vec<Option<String>> = cmds.iter().map(|o| o.fixup.clone()).collect();
        let (values, exec) = match &self.target {
            Target::Cluster(c) => {
                c.transaction(cmds.into_iter().map(|o| (o.placement, o.cmd)).collect())
                    .await?
            }
            Target::Single(single) => {
                let mut pipe = Pipeline::with_capacity(n + 2);
                pipe.add_command(redis::cmd("MULTI"));
                for o in cmds {
                    pipe.add_command(o.cmd);
                }
                pipe.add_command(redis::cmd("EXEC"));
                let mut values = self.send(single.conn(), &pipe, n + 2).await?;
                let exec = values.pop().unwrap_or(Value::Nil);
                (values, exec)
            }
        };
        match exec {
            Value::Array(items) if items.len() == n => Ok(items
                .into_iter()
                .zip(fixups)
                .map(|(v, f)| apply(v, f))
                .collect()),
            Value::ServerError(e) => {
                // EXECABORT: say which queued command Redis refused.
                let first = values
                    .iter()
                    .enumerate()
                    .skip(1)
                    .find_map(|(i, v)| match v {
                        Value::ServerError(q) => {
                            Some(format!(" (command {i}: {})", server_error_text(q)))
                        }
                        _ => None,
                    });
                Err(BackendError::Server(format!(
                    "{}{}",
                    server_error_text(&e),
                    first.unwrap_or_default()
                )))
            }
            other => Err(BackendError::Server(format!(
                "ERR transaction was not executed (EXEC answered {other:?})"
            ))),
        }
    }
}

fn apply(v: Value, fixup: Option<String>) -> Value {
    match (fixup, v) {
        (Some(sha), Value::BulkString(_)) => Value::BulkString(sha.into_bytes()),
        (_, v) => v,
    }
}
