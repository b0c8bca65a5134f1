//! Where a command goes in a Redis Cluster: the slot of its keys, if any.
//!
//! The gateway needs this to split a `/pipeline` by slot (the cluster connection refuses a
//! pipeline whose commands live on different nodes) and to refuse a `/multi-exec` across slots
//! with a clear `CROSSSLOT` error. Key positions follow the commands' specs: a script call names
//! its keys after `numkeys`, multi-key commands take every argument (or every other one), the
//! rest have their key first. Commands without keys go wherever the cluster connection routes
//! them.

use redis::cluster_routing::Slot;

/// Where one command must run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placement {
    /// No key (`PING`, `TIME`, `SCRIPT …`, `INFO`, …).
    Keyless,
    /// Every key in this slot.
    Slot(Slot),
    /// Keys in several slots: Redis refuses it (`CROSSSLOT`) unless the cluster connection
    /// splits it (`MGET`, `DEL`, …).
    Spread,
}

/// Commands that take no key at all.
const KEYLESS: &[&str] = &[
    "PING",
    "ECHO",
    "TIME",
    "INFO",
    "DBSIZE",
    "SCRIPT",
    "FLUSHALL",
    "FLUSHDB",
    "KEYS",
    "SCAN",
    "RANDOMKEY",
    "LASTSAVE",
    "COMMAND",
    "CONFIG",
    "CLIENT",
    "MEMORY",
    "SLOWLOG",
    "FUNCTION",
    "PUBLISH",
    "CLUSTER",
    "READONLY",
    "READWRITE",
    "WAIT",
    "MULTI",
    "EXEC",
    "DISCARD",
];

/// Commands whose every argument is a key.
const ALL_KEYS: &[&str] = &[
    "DEL", "UNLINK", "EXISTS", "TOUCH", "MGET", "WATCH", "SINTER", "SUNION", "SDIFF", "PFCOUNT",
];

/// Commands whose arguments alternate key, value.
const KEY_VALUE: &[&str] = &["MSET", "MSETNX"];

/// The keys of a command (`words[0]` is its name, upper-cased in `name`).
pub(crate) fn keys<'a>(name: &str, words: &'a [Vec<u8>]) -> Vec<&'a [u8]> {
    let args = &words[1.min(words.len())..];
    match name {
        n if KEYLESS.contains(&n) => Vec::new(),
        "EVAL" | "EVALSHA" | "EVAL_RO" | "EVALSHA_RO" | "FCALL" | "FCALL_RO" => {
            let n = args
                .get(1)
                .and_then(|n| std::str::from_utf8(n).ok())
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(0);
            args.iter().skip(2).take(n).map(Vec::as_slice).collect()
        }
        n if ALL_KEYS.contains(&n) => args.iter().map(Vec::as_slice).collect(),
        n if KEY_VALUE.contains(&n) => args.iter().step_by(2).map(Vec::as_slice).collect(),
        "XREAD" | "XREADGROUP" => {
            // ... STREAMS k1 k2 id1 id2: the first half after STREAMS.
            let at = args
                .iter()
                .position(|a| a.eq_ignore_ascii_case(b"STREAMS"))
                .map_or(args.len(), |i| i + 1);
            let rest = &args[at.min(args.len())..];
            rest[..rest.len() / 2].iter().map(Vec::as_slice).collect()
        }
        _ => args.first().map(Vec::as_slice).into_iter().collect(),
    }
}

/// Where a command with these keys must run.
pub(crate) fn placement(keys: &[&[u8]]) -> Placement {
    let mut slots = keys.iter().map(Slot::for_key);
    match slots.next() {
        None => Placement::Keyless,
        Some(first) if slots.all(|s| s == first) => Placement::Slot(first),
        Some(_) => Placement::Spread,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<Vec<u8>> {
        s.split(' ').map(|w| w.as_bytes().to_vec()).collect()
    }

    fn keys_of(s: &str) -> Vec<String> {
        let w = words(s);
        let name = String::from_utf8_lossy(&w[0]).to_ascii_uppercase();
        keys(&name, &w)
            .into_iter()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect()
    }

    #[test]
    fn key_positions_follow_each_command_family() {
        assert_eq!(keys_of("GET a"), ["a"]);
        assert_eq!(keys_of("HSET h f v"), ["h"]);
        assert_eq!(keys_of("EVALSHA abc 2 k1 k2 arg"), ["k1", "k2"]);
        assert_eq!(keys_of("EVAL src 0 arg"), Vec::<String>::new());
        assert_eq!(keys_of("MSET a 1 b 2"), ["a", "b"]);
        assert_eq!(keys_of("DEL a b c"), ["a", "b", "c"]);
        assert_eq!(keys_of("XREAD COUNT 2 STREAMS s1 s2 0 0"), ["s1", "s2"]);
        assert!(keys_of("SCRIPT LOAD src").is_empty());
        assert!(keys_of("PING").is_empty());
    }

    #[test]
    fn one_hash_tag_is_one_slot_and_two_tags_spread() {
        assert_eq!(placement(&[]), Placement::Keyless);
        let one = placement(&[b"stock:{A}", b"holds:{A}"]);
        assert!(matches!(one, Placement::Slot(_)));
        assert_eq!(one, placement(&[b"{A}"]));
        // "a" and "b" hash to different slots (15495 and 3300).
        assert_eq!(placement(&[b"a", b"b"]), Placement::Spread);
    }
}
