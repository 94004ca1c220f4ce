//! Settings: `config/default.toml` compiled in as the lowest layer, then an optional file, then
//! `TRACKWAY__SECTION__KEY` environment variables (and the standard `DATABASE_URL`). Everything
//! is checked at boot, and every error names the field it is about.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use config::{Config, Environment, File, FileFormat};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sqlx::postgres::PgConnectOptions;

use crate::domain::targets::GracePeriod;

const DEFAULTS: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub log: LogSettings,
    pub delivery: DeliverySettings,
    pub ingest: IngestSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Where the HTTP API listens; port 0 picks a free port (tests).
    pub listen: SocketAddr,
    /// Requests with larger bodies are refused with 413 before they are read in full.
    pub max_body_bytes: usize,
    /// A request body must arrive in full within this time (408 otherwise), so slow senders
    /// cannot hold connections and the handlers behind them for long.
    pub body_timeout_seconds: u64,
    /// Grace period for in-flight requests at shutdown.
    pub shutdown_timeout_seconds: u64,
    /// Trigger requests accepted concurrently; more get 503 Overloaded at once.
    pub max_concurrent_triggers: usize,
    /// How long a live API key, once found, is trusted without asking the database again.
    pub api_key_cache_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// May hold a password, hence secret: it is never logged or printed.
    pub url: SecretString,
    pub max_connections: u32,
    pub acquire_timeout_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySettings {
    /// Whether `serve` runs delivery workers.
    pub workers_enabled: bool,
    /// Database connections of the delivery workers' own pool.
    pub database_connections: u32,
    /// Requests in flight at once from this process, all targets together.
    pub max_in_flight: usize,
    pub batch_size: u32,
    pub lease_seconds: u64,
    pub poll_interval_ms: u64,
    pub connect_timeout_seconds: u64,
    pub max_response_bytes: usize,
    /// Comma-separated CIDRs that destinations may resolve to although not global.
    pub allowed_networks: String,
    /// Attempts in a row finding a destination down that open its circuit breaker (0: never).
    pub breaker_failures: u32,
    /// How long an open breaker first holds a target's requests back.
    pub breaker_open_seconds: u64,
    /// The longest it holds them back, doubling after each failed probe.
    pub breaker_max_open_seconds: u64,
    /// Hours an Http target's replaced Secret keeps signing beside the new one, unless a
    /// `rotatesecret` request says otherwise.
    pub secret_rotation_grace_hours: u32,
}

impl DeliverySettings {
    pub fn allowed_networks(&self) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        self.allowed_networks
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| {
                n.parse().map_err(|_| ConfigError::Invalid {
                    field: "delivery.allowed_networks",
                    message: format!("{n:?} is not a CIDR such as 127.0.0.0/8"),
                })
            })
            .collect()
    }

    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_seconds)
    }

    pub fn secret_rotation_grace(&self) -> Result<GracePeriod, ConfigError> {
        GracePeriod::from_hours(self.secret_rotation_grace_hours.into()).ok_or_else(|| ConfigError::Invalid {
            field: "delivery.secret_rotation_grace_hours",
            message: format!("must be between 0 and {}", GracePeriod::MAX_HOURS),
        })
    }
}

/// Group commit of triggers: see `ingest`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestSettings {
    /// Transactions accepting triggers at once, each with a connection of its own.
    pub writers: usize,
    /// Triggers accepted in one transaction at most.
    pub max_batch: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub filter: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("invalid configuration: {field}: {message}")]
    Invalid { field: &'static str, message: String },
}

impl Settings {
    /// Loads the layers, reading the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Settings::load_with_env(file, std::env::vars().collect())
    }

    /// Loads the layers with `env` standing in for the process environment.
    pub fn load_with_env(file: Option<&Path>, env: HashMap<String, String>) -> Result<Self, ConfigError> {
        let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        if let Some(path) = file {
            builder = builder.add_source(File::from(path).required(true));
        }
        if !env.contains_key("TRACKWAY__DATABASE__URL") {
            builder = builder.set_override_option("database.url", env.get("DATABASE_URL").cloned())?;
        }
        let settings: Settings = builder
            .add_source(
                Environment::with_prefix("TRACKWAY")
                    .prefix_separator("__")
                    .separator("__")
                    .source(Some(env)),
            )
            .build()?
            .try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    /// Settings for tests and tools: the compiled-in defaults, no file, no environment.
    pub fn defaults() -> Result<Self, ConfigError> {
        Settings::load_with_env(None, HashMap::new())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !(1024..=64 * 1024 * 1024).contains(&self.server.max_body_bytes) {
            return Err(ConfigError::Invalid {
                field: "server.max_body_bytes",
                message: "must be between 1024 and 67108864".into(),
            });
        }
        if !(1..=300).contains(&self.server.body_timeout_seconds) {
            return Err(ConfigError::Invalid {
                field: "server.body_timeout_seconds",
                message: "must be between 1 and 300".into(),
            });
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError::Invalid {
                field: "database.max_connections",
                message: "must be at least 1".into(),
            });
        }
        if self.database.acquire_timeout_seconds == 0 {
            return Err(ConfigError::Invalid {
                field: "database.acquire_timeout_seconds",
                message: "must be at least 1".into(),
            });
        }
        self.database.connect_options()?;
        self.delivery.allowed_networks()?;
        self.delivery.secret_rotation_grace()?;
        let delivery = &self.delivery;
        if delivery.max_in_flight == 0 || delivery.batch_size == 0 {
            return Err(ConfigError::Invalid {
                field: "delivery.max_in_flight",
                message: "delivery.max_in_flight and delivery.batch_size must be at least 1".into(),
            });
        }
        if self.server.max_concurrent_triggers == 0 {
            return Err(ConfigError::Invalid {
                field: "server.max_concurrent_triggers",
                message: "must be at least 1".into(),
            });
        }
        if delivery.database_connections == 0 {
            return Err(ConfigError::Invalid {
                field: "delivery.database_connections",
                message: "must be at least 1".into(),
            });
        }
        let ingest = &self.ingest;
        if !(1..=64).contains(&ingest.writers) {
            return Err(ConfigError::Invalid {
                field: "ingest.writers",
                message: "must be between 1 and 64".into(),
            });
        }
        if !(1..=1000).contains(&ingest.max_batch) {
            return Err(ConfigError::Invalid {
                field: "ingest.max_batch",
                message: "must be between 1 and 1000".into(),
            });
        }
        if !(1..=86_400).contains(&delivery.breaker_open_seconds) {
            return Err(ConfigError::Invalid {
                field: "delivery.breaker_open_seconds",
                message: "must be between 1 and 86400".into(),
            });
        }
        if !(delivery.breaker_open_seconds..=86_400).contains(&delivery.breaker_max_open_seconds) {
            return Err(ConfigError::Invalid {
                field: "delivery.breaker_max_open_seconds",
                message: "must be at least delivery.breaker_open_seconds and at most 86400".into(),
            });
        }
        if delivery.lease_seconds < 2 {
            return Err(ConfigError::Invalid {
                field: "delivery.lease_seconds",
                message: "must be at least 2".into(),
            });
        }
        Ok(())
    }
}

impl DatabaseSettings {
    pub fn connect_options(&self) -> Result<PgConnectOptions, ConfigError> {
        let url = self.url.expose_secret();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(ConfigError::Invalid {
                field: "database.url",
                message: "must start with postgres:// or postgresql://".into(),
            });
        }
        PgConnectOptions::from_str(url).map_err(|e| ConfigError::Invalid {
            field: "database.url",
            message: format!("not a PostgreSQL URL ({e})"),
        })
    }

    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_secs(self.acquire_timeout_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_are_valid() {
        let settings = Settings::defaults().unwrap();
        assert_eq!(settings.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.log.format, LogFormat::Text);
        assert_eq!(settings.delivery.secret_rotation_grace().unwrap().hours(), 24);
    }

    #[test]
    fn environment_overrides_defaults() {
        let settings = Settings::load_with_env(
            None,
            env(&[
                ("TRACKWAY__SERVER__LISTEN", "0.0.0.0:9999"),
                ("DATABASE_URL", "postgres://u@db:5432/x"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.server.listen.port(), 9999);
        assert_eq!(settings.database.url.expose_secret(), "postgres://u@db:5432/x");
    }

    #[test]
    fn trackway_database_url_beats_database_url() {
        let settings = Settings::load_with_env(
            None,
            env(&[
                ("TRACKWAY__DATABASE__URL", "postgres://a@h/one"),
                ("DATABASE_URL", "postgres://b@h/two"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.database.url.expose_secret(), "postgres://a@h/one");
    }

    #[test]
    fn invalid_values_name_their_field() {
        let cases = [
            ("TRACKWAY__SERVER__LISTEN", "not-an-address", "server.listen"),
            ("TRACKWAY__SERVER__MAX_BODY_BYTES", "lots", "server.max_body_bytes"),
            ("TRACKWAY__SERVER__MAX_BODY_BYTES", "10", "server.max_body_bytes"),
            ("TRACKWAY__DATABASE__MAX_CONNECTIONS", "0", "database.max_connections"),
            ("DATABASE_URL", "mysql://x", "database.url"),
            ("TRACKWAY__LOG__FORMAT", "xml", "log.format"),
            (
                "TRACKWAY__DELIVERY__ALLOWED_NETWORKS",
                "127.0.0.0/8,lan",
                "delivery.allowed_networks",
            ),
            ("TRACKWAY__DELIVERY__LEASE_SECONDS", "1", "delivery.lease_seconds"),
            (
                "TRACKWAY__DELIVERY__SECRET_ROTATION_GRACE_HOURS",
                "169",
                "delivery.secret_rotation_grace_hours",
            ),
            (
                "TRACKWAY__DELIVERY__SECRET_ROTATION_GRACE_HOURS",
                "-1",
                "delivery.secret_rotation_grace_hours",
            ),
            (
                "TRACKWAY__DELIVERY__BREAKER_OPEN_SECONDS",
                "0",
                "delivery.breaker_open_seconds",
            ),
            (
                "TRACKWAY__DELIVERY__BREAKER_MAX_OPEN_SECONDS",
                "2",
                "delivery.breaker_max_open_seconds",
            ),
        ];
        for (key, value, field) in cases {
            let err = Settings::load_with_env(None, env(&[(key, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(field), "{key}={value}: {err}");
        }
    }

    #[test]
    fn a_file_layer_overrides_defaults_and_typos_are_refused() {
        let dir = std::env::temp_dir().join(format!("trackway-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.toml");
        std::fs::write(&good, "[server]\nlisten = \"127.0.0.1:7000\"\n").unwrap();
        assert_eq!(
            Settings::load_with_env(Some(&good), HashMap::new())
                .unwrap()
                .server
                .listen
                .port(),
            7000
        );
        let typo = dir.join("typo.toml");
        std::fs::write(&typo, "[server]\nlisten_on = \"127.0.0.1:7000\"\n").unwrap();
        let err = Settings::load_with_env(Some(&typo), HashMap::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen_on"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
