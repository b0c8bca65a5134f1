//! The gateway's configuration: flags and environment variables (clap), secrets redacted.

/// Gateway settings, from flags or environment variables.
#[derive(Clone, clap::Parser)]
#[command(name = "edgestock-gateway", version, about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "GATEWAY_LISTEN", default_value = "127.0.0.1:8079")]
    pub listen: String,
    /// Redis to forward to (`redis://[:password@]host:port[/db]`, `rediss://` for TLS).
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// Full-access token (the Upstash "standard" token).
    #[arg(long, env = "GATEWAY_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Optional read-only token: reads only, and scripts only by the SHA1 of one already loaded
    /// (`EVALSHA_RO`); anything else answers `NOPERM`.
    #[arg(long, env = "GATEWAY_READONLY_TOKEN", hide_env_values = true)]
    pub readonly_token: Option<String>,
    /// Optional admin token: everything the full token may, plus Redis administration (FLUSHDB,
    /// FLUSHALL, KEYS, INFO, CONFIG, ACL, FUNCTION, SCRIPT FLUSH/KILL, SAVE…). Without it no
    /// token can administer Redis through the gateway.
    #[arg(long, env = "GATEWAY_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Multiplexed Redis connections shared by all requests (round robin).
    #[arg(long, env = "GATEWAY_REDIS_CONNECTIONS", default_value_t = 2)]
    pub redis_connections: usize,
    /// Requests allowed in flight at once; more wait up to `queue_timeout_ms`, then get 503.
    #[arg(long, env = "GATEWAY_MAX_IN_FLIGHT", default_value_t = 2048)]
    pub max_in_flight: usize,
    /// How long a request may wait for an in-flight slot.
    #[arg(long, env = "GATEWAY_QUEUE_TIMEOUT_MS", default_value_t = 1000)]
    pub queue_timeout_ms: u64,
    /// Deadline for one Redis round trip, connecting included.
    #[arg(long, env = "GATEWAY_REDIS_TIMEOUT_MS", default_value_t = 2000)]
    pub redis_timeout_ms: u64,
    /// Largest request body accepted (Upstash's free tier allows 10 MB).
    #[arg(long, env = "GATEWAY_MAX_REQUEST_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub max_request_bytes: usize,
    /// Most commands accepted in one `/pipeline` or `/multi-exec` request.
    #[arg(long, env = "GATEWAY_MAX_COMMANDS", default_value_t = 10_000)]
    pub max_commands: usize,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("redis_url", &self.redis_url_redacted())
            .field("token", &"<redacted>")
            .field(
                "readonly_token",
                &self.readonly_token.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "<redacted>"),
            )
            .field("redis_connections", &self.redis_connections)
            .field("max_in_flight", &self.max_in_flight)
            .field("queue_timeout_ms", &self.queue_timeout_ms)
            .field("redis_timeout_ms", &self.redis_timeout_ms)
            .field("max_request_bytes", &self.max_request_bytes)
            .field("max_commands", &self.max_commands)
            .finish()
    }
}

impl Config {
    /// A config with every default, for embedding and tests.
    pub fn new(redis_url: impl Into<String>, token: impl Into<String>) -> Self {
        use clap::Parser as _;
        let mut c = Self::parse_from(["edgestock-gateway", "--token", "placeholder"]);
        c.redis_url = redis_url.into();
        c.token = token.into();
        c
    }

    /// The Redis URL with any password replaced, for logs.
    pub fn redis_url_redacted(&self) -> String {
        match (self.redis_url.find("://"), self.redis_url.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                format!(
                    "{}://***@{}",
                    &self.redis_url[..scheme],
                    &self.redis_url[at + 1..]
                )
            }
            _ => self.redis_url.clone(),
        }
    }

    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(!self.token.is_empty(), "GATEWAY_TOKEN must not be empty");
        if let Some(ro) = &self.readonly_token {
            anyhow::ensure!(
                !ro.is_empty(),
                "GATEWAY_READONLY_TOKEN must not be empty when set"
            );
            anyhow::ensure!(
                ro != &self.token,
                "the read-only token must differ from GATEWAY_TOKEN"
            );
        }
        if let Some(admin) = &self.admin_token {
            anyhow::ensure!(
                !admin.is_empty(),
                "GATEWAY_ADMIN_TOKEN must not be empty when set"
            );
            anyhow::ensure!(
                admin != &self.token && Some(admin) != self.readonly_token.as_ref(),
                "GATEWAY_ADMIN_TOKEN must differ from GATEWAY_TOKEN and GATEWAY_READONLY_TOKEN"
            );
        }
        anyhow::ensure!(
            self.redis_connections >= 1,
            "GATEWAY_REDIS_CONNECTIONS must be at least 1"
        );
        anyhow::ensure!(
            self.max_in_flight >= 1,
            "GATEWAY_MAX_IN_FLIGHT must be at least 1"
        );
        anyhow::ensure!(
            self.max_commands >= 1,
            "GATEWAY_MAX_COMMANDS must be at least 1"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_must_be_non_empty_and_distinct() {
        let mut c = Config::new("redis://127.0.0.1:6379", "full");
        assert!(c.validate().is_ok());
        assert!(c.admin_token.is_none(), "no admin token unless configured");
        c.readonly_token = Some("ro".into());
        c.admin_token = Some("admin".into());
        assert!(c.validate().is_ok());
        for bad in ["", "full", "ro"] {
            c.admin_token = Some(bad.into());
            assert!(c.validate().is_err(), "admin token {bad:?} accepted");
        }
        c.admin_token = None;
        c.readonly_token = Some("full".into());
        assert!(c.validate().is_err());
        assert!(!format!("{c:?}").contains("full\""));
    }

    #[test]
    fn the_admin_token_comes_from_its_variable() {
        use clap::Parser as _;
        let c = Config::try_parse_from([
            "edgestock-gateway",
            "--token",
            "full",
            "--admin-token",
            "admin",
        ])
        .unwrap();
        assert_eq!(c.admin_token.as_deref(), Some("admin"));
        assert!(format!("{c:?}").contains("admin_token: Some(\"<redacted>\")"));
    }
}
