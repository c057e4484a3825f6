//! `AppState`: what every handler can reach. Built only through `AppState::new`.

use std::sync::Arc;

use chorus_actors::Core;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

#[derive(Clone)]
pub struct AppState {
    /// The actor system and the store.
    pub core: Core,
    pub config: Arc<Config>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Cancelled when shutdown begins, so long-lived streams end and let the
    /// server drain.
    pub shutdown: CancellationToken,
}

impl AppState {
    pub fn new(core: Core, config: Arc<Config>) -> Self {
        Self {
            core,
            config,
            metrics: crate::telemetry::metrics_handle(),
            shutdown: CancellationToken::new(),
        }
    }
}
