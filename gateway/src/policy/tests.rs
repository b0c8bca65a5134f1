use super::*;
use Access::{Admin, Full, ReadOnly};

fn words(line: &str) -> (String, Vec<Vec<u8>>) {
    let mut it = line.split_whitespace();
    let name = it.next().unwrap().to_ascii_uppercase();
    (name, it.map(|s| s.as_bytes().to_vec()).collect())
}

fn allowed(line: &str, access: Access) -> bool {
    let (name, args) = words(line);
    check(&name, &args, access).is_ok()
}

/// The lowest token that may run `line`, or `None` when none may.
fn lowest(line: &str) -> Option<Access> {
    [ReadOnly, Full, Admin]
        .into_iter()
        .find(|a| allowed(line, *a))
}

#[test]
fn the_table_per_token() {
    let table: &[(&str, Option<Access>)] = &[
        // Reads, and scripts by SHA1 only.
        ("GET k", Some(ReadOnly)),
        ("HGETALL k", Some(ReadOnly)),
        ("XRANGE s - +", Some(ReadOnly)),
        ("EVALSHA_RO abc 0", Some(ReadOnly)),
        ("SCRIPT EXISTS abc", Some(ReadOnly)),
        ("script exists abc", Some(ReadOnly)),
        ("PING", Some(ReadOnly)),
        // Writes, script source, SCAN.
        ("SET k v", Some(Full)),
        ("EVAL_RO src 0", Some(Full)),
        ("EVAL src 0", Some(Full)),
        ("EVALSHA abc 0", Some(Full)),
        ("SCRIPT LOAD src", Some(Full)),
        ("FCALL_RO f 0", Some(Full)),
        ("SCAN 0", Some(Full)),
        ("DEL k", Some(Full)),
        ("XADD s * f v", Some(Full)),
        ("COPY a b REPLACE", Some(Full)),
        // Administration.
        ("FLUSHALL", Some(Admin)),
        ("FLUSHDB ASYNC", Some(Admin)),
        ("KEYS *", Some(Admin)),
        ("INFO", Some(Admin)),
        ("CONFIG SET maxmemory 1", Some(Admin)),
        ("CONFIG GET maxmemory", Some(Admin)),
        ("ACL SETUSER x on", Some(Admin)),
        ("SCRIPT FLUSH", Some(Admin)),
        ("SCRIPT KILL", Some(Admin)),
        ("FUNCTION FLUSH", Some(Admin)),
        ("SAVE", Some(Admin)),
        ("BGSAVE", Some(Admin)),
        ("BGREWRITEAOF", Some(Admin)),
        ("OBJECT ENCODING k", Some(Admin)),
        // Nobody: connection state, blocking, other databases, other servers, the process.
        ("SCRIPT DEBUG YES", None),
        ("SCRIPT", None),
        ("SCRIPT NONSENSE", None),
        ("SELECT 1", None),
        ("SWAPDB 0 1", None),
        ("MOVE k 1", None),
        ("COPY a b DB 1", None),
        ("CLIENT KILL ID 1", None),
        ("BLPOP l 0", None),
        ("XREAD BLOCK 0 STREAMS s $", None),
        ("SUBSCRIBE c", None),
        ("MONITOR", None),
        ("MULTI", None),
        ("WATCH k", None),
        ("MIGRATE h 1 k 0 100", None),
        ("MODULE LOAD /x.so", None),
        ("SHUTDOWN", None),
        ("DEBUG SLEEP 10", None),
        ("REPLICAOF h 1", None),
        ("NOT-A-COMMAND", None),
    ];
    for (line, want) in table {
        assert_eq!(lowest(line), *want, "{line}");
    }
}

#[test]
fn edgestock_and_the_conformance_suite_run_with_the_full_token() {
    // What core/, upstash/ and origin/ send, and what gateway/conformance uses.
    for line in [
        "EVALSHA sha 1 k a",
        "EVAL src 1 k a",
        "EVALSHA_RO sha 1 k a",
        "EVAL_RO src 1 k a",
        "SCRIPT LOAD src",
        "SCRIPT EXISTS sha",
        "TIME",
        "ZRANGE i 0 99 WITHSCORES",
        "XRANGE events (0-1 + COUNT 100",
        "PING",
        "GET k",
        "SET k v NX",
        "MGET a b",
        "INCR k",
        "INCRBY k 5",
        "HSET h f v",
        "HGET h f",
        "HGETALL h",
        "HINCRBY h f 2",
        "ZADD z 1 a",
        "ZSCORE z a",
        "ZCARD z",
    ] {
        assert!(allowed(line, Full), "{line}");
    }
}

#[test]
fn refusals_name_the_command_as_redis_does() {
    let (name, args) = words("config SET maxmemory 1");
    assert_eq!(
        check(&name, &args, Full).unwrap_err().message(),
        "NOPERM this user has no permissions to run the 'config|set' command"
    );
    let (name, args) = words("FLUSHALL");
    assert_eq!(
        check(&name, &args, Full).unwrap_err().message(),
        "NOPERM this user has no permissions to run the 'flushall' command"
    );
    let (name, args) = words("EVAL_RO src 0");
    assert_eq!(
        check(&name, &args, ReadOnly).unwrap_err().message(),
        "NOPERM this user has no permissions to run the 'eval_ro' command"
    );
    let (name, args) = words("SCRIPT LOAD src");
    assert_eq!(
        check(&name, &args, ReadOnly).unwrap_err().message(),
        "NOPERM this user has no permissions to run the 'script|load' command"
    );
    // Never-forwarded commands keep their reason, for the admin token too.
    for line in [
        "SELECT 2",
        "BLPOP l 0",
        "MULTI",
        "SHUTDOWN",
        "MIGRATE h 1 k 0 1",
    ] {
        let (name, args) = words(line);
        let msg = check(&name, &args, Admin).unwrap_err().message();
        assert!(msg.starts_with("ERR command '"), "{line}: {msg}");
    }
    assert!(allowed("XREAD STREAMS s 0", ReadOnly));
}
