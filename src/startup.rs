//! Building and running the server. [`Application::build`] binds its listener itself, so tests
//! run it on port 0 and ask which port they got; [`migrate`] brings a database (created if
//! missing) to the current schema.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, Compress};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::migrate::MigrateDatabase;
use sqlx::{PgPool, Postgres};

use crate::api::json::BodyLimit;
use crate::api::paths::Routes;
use crate::api::{self, AppState};
use crate::config::Settings;
use crate::storage;

pub struct Application {
    port: u16,
    server: Server,
    pool: PgPool,
}

impl Application {
    /// Connects (lazily) to the database and binds the HTTP listener; nothing is served until
    /// [`Application::run_until_stopped`].
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let pool = storage::pool(&settings.database)?;
        let listener = TcpListener::bind(settings.server.listen).with_context(|| {
            format!(
                "cannot listen on {} (server.listen)",
                settings.server.listen
            )
        })?;
        let port = listener.local_addr()?.port();
        let server = serve(listener, pool.clone(), settings)?;
        Ok(Application { port, server, pool })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Serves until SIGINT/SIGTERM, then lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

fn serve(listener: TcpListener, pool: PgPool, settings: &Settings) -> anyhow::Result<Server> {
    let state = web::Data::new(AppState { pool });
    let routes = web::Data::new(Routes::new(
        api::openapi::path_templates().iter().map(String::as_str),
    ));
    let body_limit = BodyLimit(settings.server.max_body_bytes);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(routes.clone())
            .app_data(body_limit)
            .configure(api::configure)
            .wrap(Compress::default())
            .wrap(from_fn(api::paths::canonicalize))
            .wrap(from_fn(api::log_request))
    })
    .shutdown_timeout(settings.server.shutdown_timeout_seconds)
    .listen(listener)?
    .run();
    Ok(server)
}

/// Creates the database when it does not exist, then applies pending migrations.
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let url = settings.database.url.expose_secret();
    if !Postgres::database_exists(url)
        .await
        .context("cannot reach PostgreSQL (database.url)")?
    {
        Postgres::create_database(url)
            .await
            .context("cannot create the database")?;
        tracing::info!("created the database");
    }
    let pool = storage::pool(&settings.database)?;
    storage::MIGRATOR
        .run(&pool)
        .await
        .context("migrations failed")?;
    pool.close().await;
    Ok(())
}
