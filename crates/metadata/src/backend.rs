//! Which database holds the control plane: SQLite (a file in the data directory, the
//! default) or PostgreSQL (several servers sharing one, for scale-out), both through
//! sqlx's `Any` driver, so every query is one SQL string that runs on both.
//!
//! The rules that keep it so (see `migrations/README.md`): `$N` placeholders (sqlx's
//! SQLite driver reads them, and `Any` does not rewrite `?`); integers decoded as `i64`
//! are `BIGINT` on PostgreSQL; booleans are 0/1 integers (`Any` decodes a `bool` only
//! from a boolean column); text only, no JSONB or NUMERIC (a `sum()` is cast back to
//! `BIGINT`). Each backend has its own migrations folder with the same versions.

use std::path::Path;
use std::sync::Once;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyPool, ConnectOptions, Executor};

use crate::{MetadataError, Result};

static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");

/// A control-plane database kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

impl Backend {
    /// The backend a URL names: `sqlite:`, `postgres:` or `postgresql:`.
    pub fn of_url(url: &str) -> Result<Backend> {
        match url.split_once(':').map(|(scheme, _)| scheme.to_ascii_lowercase()) {
            Some(s) if s == "sqlite" => Ok(Backend::Sqlite),
            Some(s) if s == "postgres" || s == "postgresql" => Ok(Backend::Postgres),
            _ => Err(MetadataError::Invalid(
                "the metadata URL must start with sqlite:, postgres: or postgresql:".to_string(),
            )),
        }
    }

    /// Its name in logs.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgresql",
        }
    }

    fn migrator(self) -> &'static Migrator {
        match self {
            Backend::Sqlite => &SQLITE,
            Backend::Postgres => &POSTGRES,
        }
    }
}

/// The URL of the SQLite file at `path`, created if missing.
pub(crate) fn sqlite_url(path: &Path) -> String {
    SqliteConnectOptions::new().filename(path).create_if_missing(true).to_url_lossy().to_string()
}

/// Connects to `url` and brings its schema up to date.
pub(crate) async fn connect(url: &str) -> Result<(AnyPool, Backend)> {
    static DRIVERS: Once = Once::new();
    DRIVERS.call_once(|| {
        sqlx::any::install_drivers(&[sqlx::sqlite::any::DRIVER, sqlx_postgres::any::DRIVER])
            .expect("drivers installed once")
    });
    let backend = Backend::of_url(url)?;
    let options: AnyConnectOptions = url.parse()?;
    let pool = AnyPoolOptions::new()
        .max_connections(4)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    // The URL cannot carry these. WAL lets the CLI write while the server
                    // runs; FULL makes each commit durable; writers wait for each other
                    // up to 10 s instead of failing at once.
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; \
                         PRAGMA foreign_keys = ON",
                    )
                    .await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await?;
    backend.migrator().run(&pool).await?;
    Ok((pool, backend))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_backends_have_the_same_migrations() {
        let versions = |m: &Migrator| m.iter().map(|m| (m.version, m.description.to_string())).collect::<Vec<_>>();
        assert_eq!(versions(&SQLITE), versions(&POSTGRES), "every migration goes in both folders");
        assert!(versions(&SQLITE).len() >= 9);
    }

    #[tokio::test]
    async fn sqlite_connections_get_the_settings_a_url_cannot_carry() {
        let dir = tempfile::tempdir().unwrap();
        let (pool, backend) = connect(&sqlite_url(&dir.path().join("m.sqlite"))).await.unwrap();
        assert_eq!(backend, Backend::Sqlite);
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&pool).await.unwrap();
        let keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(&pool).await.unwrap();
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&pool).await.unwrap();
        assert_eq!((mode.as_str(), keys, sync), ("wal", 1, 2), "WAL, foreign keys, synchronous = FULL");
    }

    #[test]
    fn urls_name_their_backend() {
        assert_eq!(Backend::of_url("sqlite:///tmp/x.sqlite?mode=rwc").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::of_url("postgres://u@h:5432/db").unwrap(), Backend::Postgres);
        assert_eq!(Backend::of_url("PostgreSQL://h/db").unwrap(), Backend::Postgres);
        assert!(Backend::of_url("mysql://h/db").is_err());
        assert!(Backend::of_url("/a/path").is_err());
    }
}
