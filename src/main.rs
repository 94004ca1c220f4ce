//! The `trackway` command line: serve, migrate, print the OpenAPI spec, manage API keys.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;
use trackway::config::Settings;
use trackway::domain::{ResourceId, Role};
use trackway::startup::{self, Application};
use trackway::storage::{self, api_keys};

/// glibc's allocator spent a tenth of the gateway's CPU under load (small JSON documents and
/// HTTP buffers made and freed on every request); mimalloc does the same work in far less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "trackway", version, about = "Tracking-event delivery gateway")]
struct Cli {
    /// A TOML file layered over the built-in defaults (config/default.toml).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API.
    Serve,
    /// Create the database if missing and apply pending migrations.
    Migrate,
    /// Print the OpenAPI document as YAML.
    Openapi,
    /// Walk through Trackway against a running server: configure a webhook to a local
    /// receiver, send storefront triggers, and show each delivery with its signature verified.
    Demo {
        /// The running server's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key; its token is printed once, alone on the last line.
    Create {
        #[arg(long)]
        name: String,
        /// FullAccess, DeliveryConfigAdmin, TrackingEventAdmin, TrackingEventReader,
        /// ErrorConfigAdmin or TriggerSender; repeat for several.
        #[arg(long = "role", required = true)]
        roles: Vec<Role>,
        /// A ClientID a TriggerSender key may post triggers for; repeat for several.
        #[arg(long = "client-id")]
        client_ids: Vec<String>,
    },
    /// List keys (never their tokens).
    List,
    /// Revoke a key by its ID.
    Revoke { id: uuid::Uuid },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Openapi = cli.command {
        print!("{}", trackway::api::openapi::yaml());
        return ExitCode::SUCCESS;
    }
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("trackway: {err}");
            return ExitCode::from(2);
        }
    };
    trackway::telemetry::init(&settings.log);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("trackway: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("trackway: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Openapi => unreachable!("handled before settings are loaded"),
        Command::Serve => {
            let app = Application::build(&settings).await?;
            tracing::info!(port = app.port(), listen = %settings.server.listen, "trackway serving");
            app.run_until_stopped().await?;
        }
        Command::Migrate => {
            startup::migrate(&settings).await?;
            println!("database is up to date");
        }
        Command::Keys { command } => keys(command, &settings).await?,
        Command::Demo { url } => trackway::demo::run(&settings, &url).await?,
    }
    Ok(())
}

async fn keys(command: KeysCommand, settings: &Settings) -> anyhow::Result<()> {
    let pool = storage::pool(&settings.database)?;
    match command {
        KeysCommand::Create {
            name,
            roles,
            client_ids,
        } => {
            let client_ids = client_ids
                .iter()
                .map(|c| ResourceId::parse("--client-id", c).map_err(|e| anyhow::anyhow!(e.message)))
                .collect::<anyhow::Result<Vec<_>>>()?;
            if roles.contains(&Role::TriggerSender) && client_ids.is_empty() {
                anyhow::bail!("a TriggerSender key needs at least one --client-id");
            }
            let new = api_keys::NewApiKey {
                name,
                roles,
                client_ids,
            };
            let (key, token) = api_keys::create(&pool, &new).await.context("cannot store the key")?;
            println!("created API key {} ({})", key.id, key.name);
            println!("roles: {}", join(&key.roles));
            if !key.client_ids.is_empty() {
                println!("client ids: {}", join(&key.client_ids));
            }
            println!("the token below is shown once; store it now:");
            println!("{}", token.expose_secret());
        }
        KeysCommand::List => {
            for record in api_keys::list(&pool).await? {
                let status = match record.revoked_at {
                    Some(at) => format!("revoked {}", at.to_rfc3339()),
                    None => "active".to_owned(),
                };
                println!(
                    "{}\t{}\t{}\t{}\tcreated {}\t{status}",
                    record.key.id,
                    record.key.name,
                    join(&record.key.roles),
                    join(&record.key.client_ids),
                    record.created_at.to_rfc3339(),
                );
            }
        }
        KeysCommand::Revoke { id } => {
            if !api_keys::revoke(&pool, id).await? {
                anyhow::bail!("no active API key has ID {id}");
            }
            println!("revoked API key {id}");
        }
    }
    Ok(())
}

fn join(items: &[impl std::fmt::Display]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}
