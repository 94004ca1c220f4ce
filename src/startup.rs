//! Building and running the server. [`Application::build`] binds its listener itself, so tests
//! run it on port 0 and ask which port they got; [`migrate`] brings a database (created if
//! missing) to the current schema.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, Compress};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::migrate::MigrateDatabase;
use sqlx::{PgPool, Postgres};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::auth::KeyCache;
use crate::api::json::BodyLimits;
use crate::api::paths::Routes;
use crate::api::{self, AppState};
use crate::clock::Clock;
use crate::config::Settings;
use crate::delivery::{Dispatcher, Workers};
use crate::ingest::{Handoff, Ingester};
use crate::storage;

pub struct Application {
    port: u16,
    server: Server,
    pool: PgPool,
    dispatcher: Arc<Dispatcher>,
    worker: Option<JoinHandle<()>>,
    stop_workers: watch::Sender<bool>,
    shutdown_timeout: Duration,
}

impl Application {
    /// Connects (lazily) to the database and binds the HTTP listener; nothing is served until
    /// [`Application::run_until_stopped`].
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        Application::build_with_clock(settings, Clock::system()).await
    }

    /// As [`Application::build`], with the engine reading time from `clock`. Delivery workers
    /// start when `delivery.workers_enabled`; tests turn them off and call
    /// [`Dispatcher::deliver_due`] themselves.
    pub async fn build_with_clock(settings: &Settings, clock: Clock) -> anyhow::Result<Self> {
        let pool = storage::pool(&settings.database)?;
        let delivery_pool = storage::hot_pool(&settings.database, settings.delivery.database_connections)?;
        let ingest_pool = storage::hot_pool(&settings.database, settings.ingest.writers as u32)?;
        let dispatcher = Arc::new(Dispatcher::new(delivery_pool, clock.clone(), &settings.delivery)?);
        // Running workers take new deliveries straight from the ingest writers.
        let handoff = settings
            .delivery
            .workers_enabled
            .then(|| Arc::new(Workers(dispatcher.clone())) as Arc<dyn Handoff>);
        let listener = TcpListener::bind(settings.server.listen)
            .with_context(|| format!("cannot listen on {} (server.listen)", settings.server.listen))?;
        let port = listener.local_addr()?.port();
        let state = AppState {
            pool: pool.clone(),
            clock: clock.clone(),
            dispatcher: dispatcher.clone(),
            secret_rotation_grace: settings.delivery.secret_rotation_grace()?,
            triggers_in_progress: Arc::new(tokio::sync::Semaphore::new(settings.server.max_concurrent_triggers)),
            ingest: Ingester::start(ingest_pool, clock.clone(), &settings.ingest, handoff),
            api_keys: KeyCache::new(
                Duration::from_secs(settings.server.api_key_cache_seconds),
                clock.clone(),
            ),
        };
        let server = serve(listener, state, settings)?;
        let (stop_workers, stopped) = watch::channel(false);
        let worker = settings
            .delivery
            .workers_enabled
            .then(|| tokio::spawn(dispatcher.clone().run(stopped)));
        Ok(Application {
            port,
            server,
            pool,
            dispatcher,
            worker,
            stop_workers,
            shutdown_timeout: Duration::from_secs(settings.server.shutdown_timeout_seconds),
        })
    }

    pub fn dispatcher(&self) -> Arc<Dispatcher> {
        self.dispatcher.clone()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Serves until SIGINT/SIGTERM, then lets in-flight requests finish and stops the workers
    /// (anything they still hold is released when its lease runs out).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        let _ = self.stop_workers.send(true);
        let worker = async {
            if let Some(worker) = self.worker {
                let _ = worker.await;
            }
        };
        if tokio::time::timeout(self.shutdown_timeout, worker).await.is_err() {
            match self.dispatcher.interrupt_in_flight().await {
                Ok(n) => tracing::warn!(
                    attempts = n,
                    "delivery workers did not stop in time; attempts in flight are recorded as Interrupted and due again"
                ),
                Err(err) => tracing::error!(error = ?err, "recording interrupted attempts failed; their leases will expire"),
            }
        }
        served
    }
}

fn serve(listener: TcpListener, state: AppState, settings: &Settings) -> anyhow::Result<Server> {
    let state = web::Data::new(state);
    let routes = web::Data::new(Routes::new(api::openapi::path_templates().iter().map(String::as_str)));
    let body_limits = BodyLimits {
        max_bytes: settings.server.max_body_bytes,
        timeout: Duration::from_secs(settings.server.body_timeout_seconds),
    };
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(routes.clone())
            .app_data(body_limits)
            .configure(api::configure)
            .wrap(Compress::default())
            .wrap(from_fn(api::paths::canonicalize))
            .wrap(from_fn(api::limit_head))
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
    storage::MIGRATOR.run(&pool).await.context("migrations failed")?;
    pool.close().await;
    Ok(())
}
