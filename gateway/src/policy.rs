//! Which commands each token may run, and which no token may.
//!
//! Two layers, checked for every command of `/`, path-style requests, `/pipeline` and
//! `/multi-exec` alike (the latter adds MULTI/EXEC itself, so a client's own are refused):
//!
//! 1. **Never forwarded**, whatever the token ([`Refusal::Unsupported`]). The gateway multiplexes
//!    many HTTP requests over a few shared Redis connections, so any command that changes a
//!    connection's state (SELECT, AUTH, HELLO, CLIENT, RESET, QUIT, SCRIPT DEBUG), parks it
//!    (blocking pops, WAIT, SUBSCRIBE, MONITOR, `XREAD … BLOCK`) or opens a transaction outside
//!    `/multi-exec` (MULTI, EXEC, DISCARD, WATCH, UNWATCH) would break every other request sharing
//!    the connection. Commands that reach beyond the one database the gateway serves (MOVE,
//!    SWAPDB, `COPY … DB`), beyond the Redis process (MIGRATE, replication) or change the process
//!    itself (SHUTDOWN, DEBUG, MODULE, FAILOVER) are refused too, even to the admin token.
//! 2. **An allow list per token** ([`Refusal::NoPerm`], Redis's ACL wording, as Upstash answers):
//!    every command the gateway knows needs an [`Access`] level, and a token runs the commands of
//!    its level and the levels below. A command missing from the table is refused to every token.
//!    - [`Access::ReadOnly`]: cheap reads, and scripts only as `EVALSHA_RO` of a script already in
//!      Redis's cache (loaded through another token; Redis answers `NOSCRIPT` otherwise). No
//!      script source (`EVAL_RO`, `SCRIPT LOAD`), no `SCAN`/`KEYS`.
//!    - [`Access::Full`]: what edgestock and the `@upstash/redis` client's data types need: reads
//!      and writes of strings, bitmaps, HyperLogLogs, hashes, lists, sets, sorted sets, streams,
//!      geo and JSON values, key operations (DEL, EXPIRE, RENAME, SCAN…), `EVAL`/`EVALSHA` and
//!      their `_RO` forms, `FCALL`, `SCRIPT LOAD`/`EXISTS`, `PUBLISH`.
//!    - [`Access::Admin`] (only with `GATEWAY_ADMIN_TOKEN`): administration on top, `FLUSHDB`,
//!      `FLUSHALL`, `KEYS`, `INFO`, `CONFIG`, `ACL`, `FUNCTION`, `SCRIPT FLUSH`/`KILL`, `SAVE`,
//!      `BGSAVE`, `BGREWRITEAOF`, `SLOWLOG`, `LATENCY`, `MEMORY`, `OBJECT`, `COMMAND`, `DUMP`,
//!      `RESTORE`…

/// What a token may do; a token runs every command whose level is at most its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Access {
    /// `GATEWAY_READONLY_TOKEN`.
    ReadOnly,
    /// `GATEWAY_TOKEN`.
    Full,
    /// `GATEWAY_ADMIN_TOKEN`.
    Admin,
}

/// Why a command was refused before reaching Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No token may run the command over REST.
    Unsupported {
        command: String,
        reason: &'static str,
    },
    /// This token may not run the command (Redis ACL wording, as Upstash answers).
    NoPerm { command: String },
}

impl Refusal {
    pub(crate) fn message(&self) -> String {
        match self {
            Refusal::Unsupported { command, reason } => {
                format!("ERR command '{command}' is not supported over REST: {reason}")
            }
            Refusal::NoPerm { command } => {
                format!("NOPERM this user has no permissions to run the '{command}' command")
            }
        }
    }
}

fn refused_reason(name: &str, args: &[Vec<u8>]) -> Option<&'static str> {
    Some(match name {
        "SELECT" | "SWAPDB" | "MOVE" => "the gateway serves one database",
        // COPY source destination [DB n] [REPLACE]: the options follow the two keys.
        "COPY" if args.iter().skip(2).any(|a| a.eq_ignore_ascii_case(b"DB")) => {
            "the gateway serves one database"
        }
        "AUTH" | "HELLO" | "RESET" | "QUIT" | "CLIENT" | "READONLY" | "READWRITE" => {
            "it would change the state of a shared connection"
        }
        "SCRIPT" if is_sub(args, b"DEBUG") => "it would change the state of a shared connection",
        "SUBSCRIBE" | "PSUBSCRIBE" | "SSUBSCRIBE" | "UNSUBSCRIBE" | "PUNSUBSCRIBE"
        | "SUNSUBSCRIBE" | "MONITOR" | "SYNC" | "PSYNC" | "REPLCONF" => {
            "it turns the connection into a stream"
        }
        "BLPOP" | "BRPOP" | "BRPOPLPUSH" | "BLMOVE" | "BLMPOP" | "BZPOPMIN" | "BZPOPMAX"
        | "BZMPOP" | "WAIT" | "WAITAOF" => "blocking commands would hold a shared connection",
        "XREAD" | "XREADGROUP" if has_block_option(args) => {
            "blocking commands would hold a shared connection"
        }
        "MULTI" | "EXEC" | "DISCARD" => "send the commands to /multi-exec instead",
        "WATCH" | "UNWATCH" => "optimistic locking is not available over REST",
        "MIGRATE" => "it would make Redis connect to another server",
        "MODULE" => "it loads code into the Redis process",
        "SHUTDOWN" | "DEBUG" | "FAILOVER" | "REPLICAOF" | "SLAVEOF" => {
            "server administration is not available over REST"
        }
        _ => return None,
    })
}

fn has_block_option(args: &[Vec<u8>]) -> bool {
    args.iter().any(|a| a.eq_ignore_ascii_case(b"BLOCK"))
}

fn is_sub(args: &[Vec<u8>], sub: &[u8]) -> bool {
    args.first().is_some_and(|a| a.eq_ignore_ascii_case(sub))
}

/// Commands whose refusal names the subcommand too (`config|set`), as Redis's ACL errors do.
fn has_subcommands(name: &str) -> bool {
    matches!(
        name,
        "SCRIPT"
            | "CONFIG"
            | "ACL"
            | "FUNCTION"
            | "OBJECT"
            | "MEMORY"
            | "LATENCY"
            | "SLOWLOG"
            | "COMMAND"
            | "XINFO"
            | "XGROUP"
            | "PUBSUB"
            | "CLUSTER"
    )
}

/// The level a command needs, or `None` when no token may run it.
fn required(name: &str, args: &[Vec<u8>]) -> Option<Access> {
    Some(match name {
        // Reads that stay cheap. SCAN and KEYS are left out on purpose (Upstash restricts them
        // too); a script only by the SHA1 of one already cached.
        "GET"
        | "MGET"
        | "STRLEN"
        | "GETRANGE"
        | "SUBSTR"
        | "LCS"
        | "EXISTS"
        | "TYPE"
        | "TTL"
        | "PTTL"
        | "EXPIRETIME"
        | "PEXPIRETIME"
        | "HGET"
        | "HMGET"
        | "HGETALL"
        | "HKEYS"
        | "HVALS"
        | "HLEN"
        | "HEXISTS"
        | "HSTRLEN"
        | "HRANDFIELD"
        | "LRANGE"
        | "LLEN"
        | "LINDEX"
        | "LPOS"
        | "SMEMBERS"
        | "SISMEMBER"
        | "SMISMEMBER"
        | "SCARD"
        | "SRANDMEMBER"
        | "SINTER"
        | "SUNION"
        | "SDIFF"
        | "SINTERCARD"
        | "ZRANGE"
        | "ZRANGEBYSCORE"
        | "ZREVRANGE"
        | "ZREVRANGEBYSCORE"
        | "ZRANGEBYLEX"
        | "ZREVRANGEBYLEX"
        | "ZSCORE"
        | "ZMSCORE"
        | "ZCARD"
        | "ZCOUNT"
        | "ZLEXCOUNT"
        | "ZRANK"
        | "ZREVRANK"
        | "ZRANDMEMBER"
        | "ZINTER"
        | "ZUNION"
        | "ZDIFF"
        | "ZINTERCARD"
        | "XRANGE"
        | "XREVRANGE"
        | "XLEN"
        | "XREAD"
        | "BITCOUNT"
        | "GETBIT"
        | "BITPOS"
        | "BITFIELD_RO"
        | "PFCOUNT"
        | "GEOPOS"
        | "GEODIST"
        | "GEOHASH"
        | "GEOSEARCH"
        | "GEORADIUS_RO"
        | "GEORADIUSBYMEMBER_RO"
        | "SORT_RO"
        | "JSON.GET"
        | "JSON.MGET"
        | "JSON.TYPE"
        | "JSON.STRLEN"
        | "JSON.OBJKEYS"
        | "JSON.OBJLEN"
        | "JSON.ARRLEN"
        | "JSON.ARRINDEX"
        | "JSON.RESP"
        | "EVALSHA_RO"
        | "PING"
        | "ECHO"
        | "TIME"
        | "DBSIZE" => Access::ReadOnly,

        // Writes of the data types, key operations, scripts by source.
        "SET" | "SETNX" | "SETEX" | "PSETEX" | "GETSET" | "GETDEL" | "GETEX" | "MSET"
        | "MSETNX" | "APPEND" | "SETRANGE" | "INCR" | "INCRBY" | "INCRBYFLOAT" | "DECR"
        | "DECRBY" | "SETBIT" | "BITOP" | "BITFIELD" | "PFADD" | "PFMERGE" | "HSET" | "HSETNX"
        | "HMSET" | "HDEL" | "HINCRBY" | "HINCRBYFLOAT" | "HSCAN" | "HEXPIRE" | "HPEXPIRE"
        | "HEXPIREAT" | "HPEXPIREAT" | "HTTL" | "HPTTL" | "HEXPIRETIME" | "HPEXPIRETIME"
        | "HPERSIST" | "LPUSH" | "RPUSH" | "LPUSHX" | "RPUSHX" | "LPOP" | "RPOP" | "LSET"
        | "LINSERT" | "LREM" | "LTRIM" | "LMOVE" | "RPOPLPUSH" | "LMPOP" | "SADD" | "SREM"
        | "SPOP" | "SMOVE" | "SINTERSTORE" | "SUNIONSTORE" | "SDIFFSTORE" | "SSCAN" | "ZADD"
        | "ZINCRBY" | "ZREM" | "ZRANGESTORE" | "ZPOPMIN" | "ZPOPMAX" | "ZMPOP"
        | "ZREMRANGEBYRANK" | "ZREMRANGEBYSCORE" | "ZREMRANGEBYLEX" | "ZINTERSTORE"
        | "ZUNIONSTORE" | "ZDIFFSTORE" | "ZSCAN" | "XADD" | "XTRIM" | "XDEL" | "XACK"
        | "XCLAIM" | "XAUTOCLAIM" | "XGROUP" | "XINFO" | "XPENDING" | "XREADGROUP" | "XSETID"
        | "GEOADD" | "GEOSEARCHSTORE" | "GEORADIUS" | "GEORADIUSBYMEMBER" | "JSON.SET"
        | "JSON.MSET" | "JSON.MERGE" | "JSON.DEL" | "JSON.FORGET" | "JSON.CLEAR"
        | "JSON.TOGGLE" | "JSON.NUMINCRBY" | "JSON.NUMMULTBY" | "JSON.STRAPPEND"
        | "JSON.ARRAPPEND" | "JSON.ARRINSERT" | "JSON.ARRPOP" | "JSON.ARRTRIM" | "DEL"
        | "UNLINK" | "EXPIRE" | "PEXPIRE" | "EXPIREAT" | "PEXPIREAT" | "PERSIST" | "RENAME"
        | "RENAMENX" | "COPY" | "TOUCH" | "SCAN" | "RANDOMKEY" | "SORT" | "EVAL" | "EVALSHA"
        | "EVAL_RO" | "FCALL" | "FCALL_RO" | "PUBLISH" | "SPUBLISH" => Access::Full,

        "SCRIPT" if is_sub(args, b"EXISTS") => Access::ReadOnly,
        "SCRIPT" if is_sub(args, b"LOAD") => Access::Full,
        "SCRIPT" if is_sub(args, b"FLUSH") || is_sub(args, b"KILL") => Access::Admin,

        // Administration.
        "FLUSHDB" | "FLUSHALL" | "KEYS" | "INFO" | "CONFIG" | "ACL" | "FUNCTION" | "SAVE"
        | "BGSAVE" | "BGREWRITEAOF" | "LASTSAVE" | "SLOWLOG" | "LATENCY" | "MEMORY" | "OBJECT"
        | "COMMAND" | "ROLE" | "PUBSUB" | "DUMP" | "RESTORE" => Access::Admin,

        _ => return None,
    })
}

/// The command as a refusal names it: lower case, with the subcommand where Redis names one.
fn display_name(name: &str, args: &[Vec<u8>]) -> String {
    let lower = name.to_ascii_lowercase();
    match args.first() {
        Some(sub) if has_subcommands(name) => {
            format!(
                "{lower}|{}",
                String::from_utf8_lossy(sub).to_ascii_lowercase()
            )
        }
        _ => lower,
    }
}

/// Decides whether `name` (upper-cased) with `args` may run for a token with `access`.
pub(crate) fn check(name: &str, args: &[Vec<u8>], access: Access) -> Result<(), Refusal> {
    if let Some(reason) = refused_reason(name, args) {
        return Err(Refusal::Unsupported {
            command: name.to_ascii_lowercase(),
            reason,
        });
    }
    match required(name, args) {
        Some(level) if level <= access => Ok(()),
        _ => Err(Refusal::NoPerm {
            command: display_name(name, args),
        }),
    }
}

#[cfg(test)]
mod tests;
