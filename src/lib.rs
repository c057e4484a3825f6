//! chorus: a stateful backend for AI chat applications.
//!
//! This crate is the edge: configuration, the axum router, middleware and
//! the listener. The stateful core (actors, store, providers) lives in
//! `chorus-actors`; handlers reach it only through its handles.

pub mod admin_cli;
pub mod auth;
pub mod config;
pub mod error;
pub mod extract;
mod metric_names;
pub mod middleware;
pub mod openapi;
pub mod pagination;
pub mod providers_cli;
pub mod rate_limit;
pub mod routes;
pub mod server;
pub mod server_timing;
pub mod sse;
pub mod state;
pub mod telemetry;
pub mod time;
pub mod ws;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use chorus_actors::accounts::AccountsConfig;
use chorus_actors::channels::ChannelsConfig;
use chorus_actors::connections::ConnectionsConfig;
use chorus_actors::documents::DocumentsConfig;
use chorus_actors::jobs::JobsConfig;
use chorus_actors::jobs::webhook::WebhookTarget;
use chorus_actors::llm::ProviderSpec;
use chorus_actors::store::StoreConfig;
use chorus_actors::supervisor::SupervisorConfig;
use chorus_actors::{Core, CoreConfig, CoreError};
use tokio::net::TcpListener;

use crate::config::Config;
use crate::state::AppState;

/// The complete HTTP application for `state`: every route and every layer.
pub fn app(state: AppState) -> Router {
    app_with(state, Router::new())
}

/// [`app`] with `extra` routes mounted under the same layers (tests mount
/// probes such as a panicking handler this way).
pub fn app_with(state: AppState, extra: Router<AppState>) -> Router {
    let router = routes::router(&state)
        .merge(extra)
        .with_state(state.clone());
    middleware::apply(router, &state.config)
}

/// Why the server could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("cannot prepare the data dir: {0}")]
    DataDir(std::io::Error),
}

/// A built server: the core is started and the listener bound, nothing is
/// served until [`Application::run_until_stopped`].
pub struct Application {
    listener: TcpListener,
    state: AppState,
    router: Router,
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, ServerError> {
        Self::build_with(config, Router::new()).await
    }

    /// [`Application::build`] with extra routes (see [`app_with`]).
    pub async fn build_with(config: Config, extra: Router<AppState>) -> Result<Self, ServerError> {
        // The recorder first: what the core counts while it starts is kept.
        crate::telemetry::metrics_handle();
        let rate_limits = crate::rate_limit::RateLimits::new(&config.rate_limits);
        let gate = crate::rate_limit::chat_gate(&rate_limits);
        let core = Core::start(core_config(&config), gate).await?;
        log_default_provider(&config, core.llm());
        let addr = config.server.bind;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        let state =
            AppState::new(core, Arc::new(config), rate_limits).map_err(ServerError::DataDir)?;
        crate::metric_names::export_at_start(&state.core);
        let router = app_with(state.clone(), extra);
        Ok(Self {
            listener,
            state,
            router,
        })
    }

    /// The bound address (the real port when the config said port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or(self.state.config.server.bind)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves; then drains connections, stops the
    /// actors and flushes the store.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServerError> {
        let server = &self.state.config.server;
        let options = server::ServeOptions {
            header_timeout: Duration::from_secs(server.header_timeout_s),
            keep_alive_timeout: Duration::from_secs(server.keep_alive_timeout_s.max(1)),
            max_connections: server.max_connections,
            grace: Duration::from_secs(server.shutdown_grace_s),
        };
        let grace = options.grace;
        let token = self.state.shutdown.clone();
        tracing::info!("listening on http://{}", self.local_addr());
        server::serve(self.listener, self.router, options, async move {
            shutdown.await;
            tracing::info!("shutting down");
            token.cancel();
        })
        .await;
        // Every socket was told 1001 when shutdown began; let them take it.
        self.state.ws_tasks.close();
        if tokio::time::timeout(grace, self.state.ws_tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("WebSockets still open after the shutdown grace period");
        }
        self.state.core.shutdown(grace).await?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The core's configuration, derived from the server's.
pub fn core_config(config: &Config) -> CoreConfig {
    let actors = &config.actors;
    let limits = config.limits.counts();
    CoreConfig {
        limits,
        store: StoreConfig {
            path: config.store.data_dir.clone(),
            durability: config.store.durability,
            cache_capacity: config.store.cache_capacity_mb.saturating_mul(1 << 20),
            flush_every_ms: config.store.flush_every_ms,
        },
        actors: SupervisorConfig {
            max_restarts: actors.max_restarts,
            restart_window: Duration::from_secs(actors.restart_window_s),
            idle_timeout: Some(Duration::from_secs(actors.idle_timeout_s)),
            call_timeout: Duration::from_millis(actors.call_timeout_ms),
        },
        providers: config
            .providers
            .iter()
            .map(|(name, p)| provider_spec(name, p))
            .collect(),
        default_provider: config.chat.default_provider.clone(),
        replay_window: Duration::from_secs(config.chat.replay_window_s),
        context_messages: config.chat.context_messages,
        channels: ChannelsConfig {
            history: config.ws.channel_history,
            history_ttl: Duration::from_secs(config.ws.history_ttl_s),
            history_max_bytes: config.ws.history_max_bytes,
            max_rooms_per_user: config.ws.max_rooms_per_user,
        },
        connections: ConnectionsConfig {
            outbound_queue: config.ws.outbound_queue,
            max_subscriptions: config.ws.max_subscriptions,
            max_streams_per_user: config.limits.max_streams_per_user,
        },
        jobs: JobsConfig {
            concurrency: match config.jobs.concurrency {
                0 => 4 * std::thread::available_parallelism().map_or(1, |n| n.get()),
                n => n,
            },
            max_per_user: config.jobs.max_per_user,
            max_delay: Duration::from_secs(config.jobs.max_delay_s),
        },
        webhooks: match (&config.webhooks.url, &config.webhooks.secret) {
            (url, Some(secret)) if !url.is_empty() => Some(WebhookTarget {
                url: url.clone(),
                secret: secret.clone(),
                events: config.webhooks.events.clone(),
            }),
            _ => None,
        },
        inbound: chorus_actors::inbound::InboundConfig {
            sources: crate::config::core_sources(&config.webhooks.sources),
            hook: None,
        },
        documents: DocumentsConfig {
            chunk_chars: config.documents.chunk_chars,
            chunk_overlap: config.documents.chunk_overlap,
            index_dir: config.store.data_dir.join("search"),
            max_per_user: limits.documents,
        },
        context_chunks: config.chat.context_chunks,
        default_reservation_tokens: config.quotas.default_reservation_tokens,
        plugin_state_sweep: Duration::from_millis(config.plugin_state.sweep_every_ms),
        files: config.files.core(&config.store.data_dir),
        audit: config.audit.core(),
        prices: config.prices(),
        accounts: AccountsConfig {
            access_ttl: Duration::from_secs(config.auth.access_ttl_s),
            refresh_ttl: Duration::from_secs(config.auth.refresh_ttl_s),
            default_allowance: config.quotas.monthly_token_allowance,
            max_api_keys: limits.api_keys,
            max_failed_logins: config.auth.max_failed_logins,
            failed_login_window: Duration::from_secs(config.auth.failed_login_window_s),
        },
    }
}

/// One line at start-up: which provider and model serve a request that
/// names none, and why that one.
fn log_default_provider(config: &Config, llm: &chorus_actors::llm::Llm) {
    use crate::config::DefaultChoice;
    let name = llm.default_provider();
    let model = llm
        .spec(name)
        .map(|s| s.default_model())
        .unwrap_or_default();
    let why = match config.chat.default_choice {
        DefaultChoice::Configured => "set by chat.default_provider",
        DefaultChoice::OnlyRealProvider => "the only provider configured besides echo",
        DefaultChoice::EchoOnly => "no other provider is configured",
    };
    tracing::info!(provider = %name, model = %model, "default provider {name}, model {model} ({why})");
}

/// The core's view of provider `name`, unset keys at their defaults.
pub fn provider_spec(name: &str, p: &crate::config::ProviderConfig) -> ProviderSpec {
    use crate::config::{CONNECT_TIMEOUT_MS, ECHO_TOKENS_PER_S, MAX_RETRIES, READ_TIMEOUT_MS};
    ProviderSpec {
        name: name.to_string(),
        kind: p.kind.into(),
        base_url: p.base_url.clone(),
        api_key: p.api_key.clone(),
        models: p.models.clone(),
        default_model: p.default_model.clone(),
        tokens_per_s: p.tokens_per_s.unwrap_or(ECHO_TOKENS_PER_S),
        fallback: p.fallback.clone(),
        connect_timeout: Duration::from_millis(p.connect_timeout_ms.unwrap_or(CONNECT_TIMEOUT_MS)),
        read_timeout: Duration::from_millis(p.read_timeout_ms.unwrap_or(READ_TIMEOUT_MS)),
        max_retries: p.max_retries.unwrap_or(MAX_RETRIES),
    }
}
