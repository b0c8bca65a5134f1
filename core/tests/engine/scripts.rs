//! Our SHA1 of every script is the one `SCRIPT LOAD` answers (the edge calls `EVALSHA` with it).

use super::*;

#[test]
fn our_sha1_is_what_script_load_returns_for_every_script() {
    block(async {
        let e = engine();
        let mut direct = redis().await;
        for s in edgestock_lua::ALL {
            // Through the gateway (Upstash semantics): the SHA1 of the source as we send it.
            assert_eq!(
                e.client().script_load(s.source).await.unwrap(),
                s.sha1(),
                "{}",
                s.name
            );
            // Straight to Redis, without the Upstash-only flag: Redis's SHA1 is plain SHA1.
            let stripped = s.source.replacen(",allow-key-locking", "", 1).replacen(
                "flags=allow-key-locking",
                "flags=",
                1,
            );
            let sha: String = redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(&stripped)
                .query_async(&mut direct)
                .await
                .unwrap();
            assert_eq!(sha, sha1_smol_hex(&stripped), "{}", s.name);
        }
    });
}

fn sha1_smol_hex(s: &str) -> String {
    // Same digest the lua crate uses, computed independently of it.
    let out = std::process::Command::new("sha1sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn();
    match out {
        Ok(mut child) => {
            use std::io::Write as _;
            child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
            let out = child.wait_with_output().unwrap();
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_owned()
        }
        Err(_) => edgestock_lua::Script::new("x", Box::leak(s.to_owned().into_boxed_str()))
            .sha1()
            .to_owned(),
    }
}
