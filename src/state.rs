//! `AppState`: what every handler can reach. It is built only by
//! `AppState::new`, which also installs the edge's hooks in the core (the
//! socket chat gate and token check) and starts the rate-limit pruner.
//! Every layer and handler clones it, so it is one `Arc`: a clone is one
//! reference count, not one per field (at 64 connections the per-field
//! clones cost a third of `/live`'s throughput).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use chorus_actors::Core;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::jwt::JwtKeys;
use crate::auth::oidc::OidcVerifier;
use crate::config::Config;
use crate::rate_limit::RateLimits;

/// Cheap to clone; reads through to [`Shared`].
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct Shared {
    /// The actor system and the store.
    pub core: Core,
    pub config: Arc<Config>,
    /// Signs and verifies access tokens.
    pub jwt: Arc<JwtKeys>,
    pub rate_limits: RateLimits,
    pub oidc: OidcVerifier,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Cancelled when shutdown begins, so long-lived streams end and let the
    /// server drain.
    pub shutdown: CancellationToken,
    /// Open WebSockets, so shutdown can wait for their close frames.
    pub ws_tasks: TaskTracker,
}

impl AppState {
    /// Loads (or makes) the JWT secret and starts the rate-limit pruner.
    pub fn new(core: Core, config: Arc<Config>, rate_limits: RateLimits) -> std::io::Result<Self> {
        let jwt = JwtKeys::load(config.auth.jwt_secret.as_ref(), &config.store.data_dir)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(std::io::Error::other)?;
        let jwt = Arc::new(jwt);
        install_authenticator(&core, &jwt);
        let shutdown = CancellationToken::new();
        spawn_pruner(rate_limits.clone(), shutdown.clone());
        Ok(Self(Arc::new(Shared {
            core,
            oidc: OidcVerifier::new(config.auth.oidc_issuers.clone(), http),
            config,
            jwt,
            rate_limits,
            metrics: crate::telemetry::metrics_handle(),
            shutdown,
            ws_tasks: TaskTracker::new(),
        })))
    }

    /// Access token lifetime.
    pub fn access_ttl(&self) -> Duration {
        Duration::from_secs(self.config.auth.access_ttl_s)
    }
}

/// Lets a socket's `auth` message be checked like any request's credential.
fn install_authenticator(core: &Core, jwt: &Arc<JwtKeys>) {
    let (accounts, jwt) = (core.accounts().clone(), jwt.clone());
    core.connections()
        .set_authenticator(Arc::new(move |token: &str| {
            crate::auth::authenticate_with(&accounts, &jwt, token).map(|me| me.credential())
        }));
}

/// Drops full rate-limit buckets every minute so memory follows active clients.
fn spawn_pruner(limits: RateLimits, stop: CancellationToken) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = tick.tick() => limits.prune(),
                () = stop.cancelled() => return,
            }
        }
    });
}

/// Handlers take the core's handle they use as `State<Conversations>` (and
/// so on) instead of reaching through `state.core` each time.
macro_rules! core_handles {
    ($($handle:ty => $getter:ident),* $(,)?) => {
        $(
            impl FromRef<AppState> for $handle {
                fn from_ref(state: &AppState) -> Self {
                    state.core.$getter().clone()
                }
            }
        )*
    };
}

core_handles!(
    chorus_actors::accounts::Accounts => accounts,
    chorus_actors::conversations::Catalog => catalog,
    chorus_actors::conversations::Conversations => conversations,
    chorus_actors::usage::Usage => usage,
    chorus_actors::jobs::Jobs => jobs,
    chorus_actors::documents::Documents => documents,
    chorus_actors::projects::Projects => projects,
    chorus_actors::contacts::Contacts => contacts,
    chorus_actors::inbound::Inbound => inbound,
    chorus_actors::settings::Settings => settings,
    chorus_actors::plugin_state::PluginStates => plugin_states,
    chorus_actors::files::Files => files,
    chorus_actors::flags::FeatureFlags => feature_flags,
    chorus_actors::notifications::Notifications => notifications,
);
