//! Which commands the gateway forwards, refuses, or allows to the read-only token.
//!
//! The gateway multiplexes many HTTP requests over a few shared Redis connections, so any command
//! that changes a connection's state (SELECT, AUTH, HELLO, CLIENT, RESET, QUIT), parks it
//! (blocking pops, WAIT, SUBSCRIBE, MONITOR) or opens a transaction outside `/multi-exec` (MULTI,
//! EXEC, DISCARD, WATCH, UNWATCH) would break every other request sharing the connection. Those
//! are refused with a clear error before anything reaches Redis.

/// Why a command was refused before reaching Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The command would poison or block a shared connection.
    Unsupported {
        command: String,
        reason: &'static str,
    },
    /// The read-only token may not run this command (Redis ACL wording, as Upstash answers).
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
        "SELECT" | "SWAPDB" => "the gateway serves one database",
        "AUTH" | "HELLO" | "RESET" | "QUIT" | "CLIENT" | "READONLY" | "READWRITE" => {
            "it would change the state of a shared connection"
        }
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
        "SHUTDOWN" | "DEBUG" | "FAILOVER" | "REPLICAOF" | "SLAVEOF" => {
            "server administration is not available over REST"
        }
        _ => return None,
    })
}

fn has_block_option(args: &[Vec<u8>]) -> bool {
    args.iter().any(|a| a.eq_ignore_ascii_case(b"BLOCK"))
}

/// Commands the read-only token may run: reads that stay cheap. SCAN and KEYS are left out on
/// purpose (Upstash restricts them too), as is everything that writes.
fn is_read_only(name: &str, args: &[Vec<u8>]) -> bool {
    match name {
        "GET" | "MGET" | "STRLEN" | "GETRANGE" | "SUBSTR" | "EXISTS" | "TYPE" | "TTL" | "PTTL"
        | "EXPIRETIME" | "PEXPIRETIME" | "HGET" | "HMGET" | "HGETALL" | "HKEYS" | "HVALS"
        | "HLEN" | "HEXISTS" | "HSTRLEN" | "HRANDFIELD" | "LRANGE" | "LLEN" | "LINDEX" | "LPOS"
        | "SMEMBERS" | "SISMEMBER" | "SMISMEMBER" | "SCARD" | "SRANDMEMBER" | "SINTER"
        | "SUNION" | "SDIFF" | "SINTERCARD" | "ZRANGE" | "ZRANGEBYSCORE" | "ZREVRANGE"
        | "ZREVRANGEBYSCORE" | "ZRANGEBYLEX" | "ZREVRANGEBYLEX" | "ZSCORE" | "ZMSCORE"
        | "ZCARD" | "ZCOUNT" | "ZLEXCOUNT" | "ZRANK" | "ZREVRANK" | "ZRANDMEMBER" | "ZINTER"
        | "ZUNION" | "ZDIFF" | "ZINTERCARD" | "XRANGE" | "XREVRANGE" | "XLEN" | "XREAD"
        | "BITCOUNT" | "GETBIT" | "BITPOS" | "PFCOUNT" | "GEOPOS" | "GEODIST" | "GEOHASH"
        | "GEOSEARCH" | "SORT_RO" | "EVAL_RO" | "EVALSHA_RO" | "FCALL_RO" | "PING" | "ECHO"
        | "TIME" | "DBSIZE" | "LCS" => true,
        "SCRIPT" => args
            .first()
            .is_some_and(|sub| sub.eq_ignore_ascii_case(b"EXISTS")),
        _ => false,
    }
}

/// Decides whether `name` (upper-cased) with `args` may run, for a token that is read-only or
/// not. The same rules hold in `/`, `/pipeline` and `/multi-exec`: the latter adds MULTI/EXEC
/// itself, so a client's own MULTI/EXEC/WATCH is refused everywhere.
pub(crate) fn check(name: &str, args: &[Vec<u8>], read_only: bool) -> Result<(), Refusal> {
    if let Some(reason) = refused_reason(name, args) {
        return Err(Refusal::Unsupported {
            command: name.to_ascii_lowercase(),
            reason,
        });
    }
    if read_only && !is_read_only(name, args) {
        return Err(Refusal::NoPerm {
            command: name.to_ascii_lowercase(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<Vec<u8>> {
        a.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn connection_poisoning_commands_are_refused() {
        for name in [
            "SELECT",
            "AUTH",
            "HELLO",
            "CLIENT",
            "BLPOP",
            "SUBSCRIBE",
            "MONITOR",
            "MULTI",
            "EXEC",
            "WATCH",
        ] {
            let err = check(name, &[], false).unwrap_err();
            assert!(
                err.message().starts_with("ERR command '"),
                "{name}: {}",
                err.message()
            );
        }
        assert!(check("XREAD", &args(&["BLOCK", "0", "STREAMS", "s", "$"]), false).is_err());
        assert!(check("XREAD", &args(&["STREAMS", "s", "0"]), false).is_ok());
        assert!(check("EVALSHA", &[], false).is_ok());
    }

    #[test]
    fn read_only_token_gets_noperm_for_writes() {
        let err = check("EVALSHA", &[], true).unwrap_err();
        assert_eq!(
            err.message(),
            "NOPERM this user has no permissions to run the 'evalsha' command"
        );
        assert!(check("EVALSHA_RO", &[], true).is_ok());
        assert!(check("SCRIPT", &args(&["exists", "abc"]), true).is_ok());
        assert!(check("SCRIPT", &args(&["load", "return 1"]), true).is_err());
        assert!(check("KEYS", &args(&["*"]), true).is_err());
    }
}
