//! Upstash's `allow-key-locking` Lua shebang flag, translated for vanilla Redis.
//!
//! Upstash takes a global lock for scripts unless their shebang carries
//! `#!lua flags=allow-key-locking`. Vanilla Redis rejects unknown flags, so the gateway strips that
//! one flag before forwarding and remembers `sha1(original) -> sha1(forwarded)`. Clients keep
//! using the SHA1 they computed from their own source: EVALSHA, EVALSHA_RO and SCRIPT EXISTS are
//! rewritten through the alias map and SCRIPT LOAD answers the original SHA1. After a gateway
//! restart the map is empty; the client's EVALSHA then gets NOSCRIPT and its EVAL fallback
//! re-registers the alias, exactly as after a Redis restart.

use std::collections::HashMap;
use std::sync::RwLock;

/// The Upstash-only flag the gateway removes.
const UPSTASH_FLAG: &str = "allow-key-locking";

/// At most this many aliases are kept; a full map is cleared (clients fall back to EVAL).
const MAX_ALIASES: usize = 10_000;

/// Returns the script to forward when `source` carries the Upstash-only flag, else `None`.
pub(crate) fn strip_upstash_flags(source: &[u8]) -> Option<Vec<u8>> {
    let rest = source.strip_prefix(b"#!lua")?;
    let line_end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    let line = std::str::from_utf8(&rest[..line_end]).ok()?;
    let mut changed = false;
    let mut out = String::from("#!lua");
    for word in line.split_ascii_whitespace() {
        if let Some(flags) = word.strip_prefix("flags=") {
            let kept: Vec<&str> = flags
                .split(',')
                .filter(|f| {
                    let drop = *f == UPSTASH_FLAG;
                    changed |= drop;
                    !drop
                })
                .collect();
            out.push_str(" flags=");
            out.push_str(&kept.join(","));
        } else {
            out.push(' ');
            out.push_str(word);
        }
    }
    if !changed {
        return None;
    }
    let mut forwarded = out.into_bytes();
    forwarded.extend_from_slice(&rest[line_end..]);
    Some(forwarded)
}

/// Lower-case hex SHA1, as Redis and the clients compute it.
pub(crate) fn sha1_hex(data: &[u8]) -> String {
    sha1_smol::Sha1::from(data).digest().to_string()
}

/// `sha1(original) -> sha1(forwarded)` for scripts whose shebang was rewritten.
#[derive(Debug, Default)]
pub(crate) struct Aliases {
    map: RwLock<HashMap<String, String>>,
}

impl Aliases {
    /// Records the alias and returns the forwarded SHA1.
    pub(crate) fn remember(&self, original: &[u8], forwarded: &[u8]) -> (String, String) {
        let from = sha1_hex(original);
        let to = sha1_hex(forwarded);
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_ALIASES && !map.contains_key(&from) {
            map.clear();
        }
        map.insert(from.clone(), to.clone());
        (from, to)
    }

    /// The SHA1 to send to Redis for a SHA1 a client sent.
    pub(crate) fn resolve(&self, sha: &[u8]) -> Option<Vec<u8>> {
        if self.is_empty() {
            return None;
        }
        let key = std::str::from_utf8(sha).ok()?.to_ascii_lowercase();
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        map.get(&key).map(|s| s.as_bytes().to_vec())
    }

    fn is_empty(&self) -> bool {
        self.map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_only_the_upstash_flag() {
        let src = b"#!lua flags=allow-key-locking\nreturn 1";
        assert_eq!(strip_upstash_flags(src).unwrap(), b"#!lua flags=\nreturn 1");
        let src = b"#!lua flags=no-writes,allow-key-locking\nreturn 1";
        assert_eq!(
            strip_upstash_flags(src).unwrap(),
            b"#!lua flags=no-writes\nreturn 1"
        );
        assert_eq!(
            strip_upstash_flags(b"#!lua flags=no-writes\nreturn 1"),
            None
        );
        assert_eq!(strip_upstash_flags(b"return 1"), None);
    }

    #[test]
    fn aliases_resolve_case_insensitively() {
        let a = Aliases::default();
        let (from, to) = a.remember(b"x", b"y");
        assert_eq!(
            a.resolve(from.to_uppercase().as_bytes()).unwrap(),
            to.as_bytes()
        );
        assert_eq!(a.resolve(b"0000"), None);
    }
}
