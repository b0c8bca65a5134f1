//! Redis Cluster behind the gateway: each command goes to its slot's primary, a `/pipeline` that
//! spans slots is split by slot and its replies put back in the request's order, and a
//! `/multi-exec` must stay in one slot.
//!
//! The `redis` crate's cluster connection follows `MOVED`/`ASK` and failovers and refreshes its
//! slot map by itself; it routes a keyless command by its own table (`SCRIPT LOAD` to every
//! primary, `PING` anywhere). Its pipeline must stay on one node, hence the split here: the
//! commands of one slot are one pipeline, in request order, and slots run concurrently (a
//! cluster gives no order between slots anyway).

use std::time::{Duration, Instant};

use futures::future::join_all;
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, SingleNodeRoutingInfo, Slot, SlotAddr};
use redis::{Pipeline, RedisError, ServerError, Value};
use tokio::sync::OnceCell;

use super::breaker::{Breaker, COOL_DOWN};
use super::slots::Placement;
use super::BackendError;

/// The nodes of a `redis+cluster://host:port,host:port` URL as `redis://` URLs (credentials,
/// if any, apply to every node).
pub(crate) fn nodes(url: &str) -> Option<Vec<String>> {
    let rest = url.strip_prefix("redis+cluster://")?;
    let (auth, hosts) = match rest.rsplit_once('@') {
        Some((auth, hosts)) => (format!("{auth}@"), hosts),
        None => (String::new(), rest),
    };
    let hosts = hosts.trim_end_matches('/');
    let out: Vec<String> = hosts
        .split(',')
        .filter(|h| !h.is_empty())
        .map(|h| format!("redis://{auth}{h}"))
        .collect();
    (!out.is_empty()).then_some(out)
}

pub(crate) struct Cluster {
    client: ClusterClient,
    conn: OnceCell<ClusterConnection>,
    timeout: Duration,
    breaker: Breaker,
}

/// A server error as a reply value (as a single node's pipeline gives it); anything else
/// (no connection, no answer) fails the request.
fn as_value(e: RedisError, timeout: Duration) -> Result<Value, BackendError> {
    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || slot_unserved(&e) {
        return Err(unavailable(&e, timeout));
    }
    match ServerError::try_from(e) {
        Ok(s) => Ok(Value::ServerError(s)),
        Err(e) => Err(unavailable(&e, timeout)),
    }
}

/// A redirect or cluster-state error that reached us: the client followed redirects and
/// refreshed the slot map and the slot is still not served (its primary is down and no replica
/// took over). That is the slot being unavailable, not a wrong command.
fn slot_unserved(e: &RedisError) -> bool {
    let text = e.to_string();
    ["MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN"]
        .iter()
        .any(|code| {
            e.code() == Some(code) || text.starts_with(code) || text.contains(&format!(": {code} "))
        })
}

fn unavailable(e: &RedisError, timeout: Duration) -> BackendError {
    if e.is_timeout() {
        BackendError::Unavailable(format!(
            "ERR redis unavailable: no reply within {} ms",
            timeout.as_millis()
        ))
    } else {
        BackendError::Unavailable(format!("ERR redis unavailable: {e}"))
    }
}

impl Cluster {
    pub(crate) fn new(nodes: Vec<String>, timeout: Duration) -> anyhow::Result<Self> {
        // Retries (after a refused connection, TRYAGAIN, a moved slot) wait 10 to 80 ms, not
        // the crate's default of at least 1.28 s each: a dead primary's slots fail in
        // milliseconds, and the breaker answers them for a moment without trying.
        let client = ClusterClientBuilder::new(nodes)
            .connection_timeout(timeout.min(Duration::from_secs(1)))
            .response_timeout(timeout)
            .retries(3)
            .min_retry_wait(10)
            .max_retry_wait(80)
            .retry_wait_formula(10, 2)
            .build()?;
        Ok(Self {
            client,
            conn: OnceCell::new(),
            timeout,
            breaker: Breaker::default(),
        })
    }

    /// The cluster connection, made on first use (and tried again after a failure).
    async fn conn(&self) -> Result<ClusterConnection, BackendError> {
        let made = self
            .conn
            .get_or_try_init(|| async {
                match tokio::time::timeout(self.timeout, self.client.get_async_connection()).await {
                    Ok(Ok(c)) => Ok(c),
                    Ok(Err(e)) => Err(unavailable(&e, self.timeout)),
                    Err(_) => Err(BackendError::Unavailable(format!(
                        "ERR redis unavailable: no cluster connection within {} ms",
                        self.timeout.as_millis()
                    ))),
                }
            })
            .await?;
        Ok(made.clone())
    }

    async fn one(
        &self,
        mut conn: ClusterConnection,
        cmd: &redis::Cmd,
    ) -> Result<Value, BackendError> {
        match tokio::time::timeout(self.timeout, cmd.query_async::<Value>(&mut conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => as_value(e, self.timeout),
            Err(_) => Err(BackendError::Unavailable(format!(
                "ERR redis unavailable: no reply within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }

    /// The commands of one slot on its primary, unless that node failed a moment ago (see
    /// [`Breaker`]); a failure for want of the node starts its cool-down.
    async fn slot_pipeline(
        &self,
        conn: ClusterConnection,
        slot: Slot,
        cmds: Vec<redis::Cmd>,
    ) -> Result<Vec<Value>, BackendError> {
        if let Some(left) = self.breaker.cooling(slot, Instant::now()) {
            return Err(BackendError::Unavailable(format!(
                "ERR redis unavailable: the node serving this slot failed less than {} ms ago \
                 (tried again in {} ms)",
                COOL_DOWN.as_millis(),
                left.as_millis().max(1)
            )));
        }
        let out = self.slot_pipeline_on_node(conn, slot, cmds).await;
        match &out {
            Err(BackendError::Unavailable(_)) => self.breaker.trip(slot, Instant::now()),
            _ => self.breaker.close(slot),
        }
        out
    }

    async fn slot_pipeline_on_node(
        &self,
        mut conn: ClusterConnection,
        slot: Slot,
        cmds: Vec<redis::Cmd>,
    ) -> Result<Vec<Value>, BackendError> {
        let n = cmds.len();
        let mut pipe = Pipeline::with_capacity(n);
        for c in cmds {
            pipe.add_command(c);
        }
        let route = SingleNodeRoutingInfo::SpecificNode(Route::with_slot(slot, SlotAddr::Master));
        match tokio::time::timeout(self.timeout, conn.route_pipeline(pipe, 0, n, route)).await {
            Ok(Ok(values)) if values.len() == n => Ok(values),
            Ok(Ok(values)) => Err(BackendError::Unavailable(format!(
                "ERR redis answered {} replies for {n} commands",
                values.len()
            ))),
            // The crate fails the whole pipeline on an error it cannot hand back per command:
            // every command of the slot answers that error (nothing tells which one ran).
            Ok(Err(e)) => {
                let v = as_value(e, self.timeout)?;
                Ok(vec![v; n])
            }
            Err(_) => Err(BackendError::Unavailable(format!(
                "ERR redis unavailable: no reply within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }

    /// Runs the commands, one reply per command in their order, errors as values.
    pub(crate) async fn run(
        &self,
        cmds: Vec<(Placement, redis::Cmd)>,
    ) -> Result<Vec<Value>, BackendError> {
        let conn = self.conn().await?;
        // Group the keyed commands by slot (remembering each one's position); the others run
        // one by one, routed by the cluster connection.
        let mut groups: Vec<(Slot, Vec<usize>, Vec<redis::Cmd>)> = Vec::new();
        let mut singles: Vec<(usize, redis::Cmd)> = Vec::new();
        for (i, (placement, cmd)) in cmds.into_iter().enumerate() {
            match placement {
                Placement::Slot(slot) => match groups.iter_mut().find(|g| g.0 == slot) {
                    Some(g) => {
                        g.1.push(i);
                        g.2.push(cmd);
                    }
                    None => groups.push((slot, vec![i], vec![cmd])),
                },
                Placement::Keyless | Placement::Spread => singles.push((i, cmd)),
            }
        }
        let total = groups.iter().map(|g| g.1.len()).sum::<usize>() + singles.len();
        let mut out: Vec<Option<Value>> = vec![None; total];
        let grouped = join_all(groups.into_iter().map(|(slot, at, cmds)| {
            let conn = conn.clone();
            async move { (at, self.slot_pipeline(conn, slot, cmds).await) }
        }));
        let single = join_all(singles.into_iter().map(|(i, cmd)| {
            let conn = conn.clone();
            async move { (i, self.one(conn, &cmd).await) }
        }));
        let (grouped, single) = futures::join!(grouped, single);
        for (at, values) in grouped {
            for (i, v) in at.into_iter().zip(values?) {
                out[i] = Some(v);
            }
        }
        for (i, v) in single {
            out[i] = Some(v?);
        }
        Ok(out.into_iter().map(|v| v.unwrap_or(Value::Nil)).collect())
    }

    /// Runs `MULTI … EXEC` on the node of the commands' one slot.
    ///
    /// # Errors
    /// `CROSSSLOT` when the commands' keys are in more than one slot (or none has a key).
    pub(crate) async fn transaction(
        &self,
        cmds: Vec<(Placement, redis::Cmd)>,
    ) -> Result<(Vec<Value>, Value), BackendError> {
        let mut slot = None;
        for (p, _) in &cmds {
            match (p, slot) {
                (Placement::Keyless, _) => {}
                (Placement::Slot(s), None) => slot = Some(*s),
                (Placement::Slot(s), Some(at)) if *s == at => {}
                _ => return Err(crossslot()),
            }
        }
        let slot = slot.ok_or_else(|| {
            BackendError::Server(
                "ERR a transaction on Redis Cluster needs at least one key (to pick its node)"
                    .to_owned(),
            )
        })?;
        let n = cmds.len();
        let mut all = vec![redis::cmd("MULTI")];
        all.extend(cmds.into_iter().map(|(_, c)| c));
        all.push(redis::cmd("EXEC"));
        let mut values = self.slot_pipeline(self.conn().await?, slot, all).await?;
        debug_assert_eq!(values.len(), n + 2);
        let exec = values.pop().unwrap_or(Value::Nil);
        Ok((values, exec))
    }
}

fn crossslot() -> BackendError {
    BackendError::Server(
        "CROSSSLOT Keys in request don't hash to the same slot (a transaction on Redis Cluster \
         must keep all its keys in one slot: give them one hash tag)"
            .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_url_names_every_node() {
        assert_eq!(
            nodes("redis+cluster://127.0.0.1:7000,127.0.0.1:7001/").unwrap(),
            ["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"]
        );
        assert_eq!(
            nodes("redis+cluster://:pw@h1:1,h2:2").unwrap(),
            ["redis://:pw@h1:1", "redis://:pw@h2:2"]
        );
        assert_eq!(nodes("redis://127.0.0.1:6379"), None);
        assert_eq!(nodes("redis+cluster://"), None);
    }
}
