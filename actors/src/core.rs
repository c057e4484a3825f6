//! `Core`: opens the store, starts the supervisors, hands out typed handles.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::accounts::{Accounts, AccountsConfig};
use crate::audit::Audit;
use crate::background::Background;
use crate::channels::{Channels, ChannelsConfig};
use crate::connections::{ChatGate, Connections, ConnectionsConfig};
use crate::contacts::Contacts;
use crate::conversations::Conversations;
use crate::conversations::generation::ChatDeps;
use crate::documents::{Documents, DocumentsConfig};
use crate::error::CoreError;
use crate::jobs::Jobs;
use crate::jobs::webhook::WebhookTarget;
use crate::llm::{Llm, ProviderSpec};
use crate::projects::Projects;
use crate::store::{Store, StoreConfig};
use crate::supervisor::SupervisorConfig;
use crate::usage::Usage;

/// Everything the core needs to start.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Where the database lives and how writes are acknowledged.
    pub store: StoreConfig,
    /// Restart, idle and call-timeout limits every actor kind runs with.
    pub actors: SupervisorConfig,
    /// Token lifetimes, allowances and caps of the accounts service.
    pub accounts: AccountsConfig,
    /// The configured model providers (`[providers.<name>]`).
    pub providers: Vec<ProviderSpec>,
    /// The provider of requests that name none; one of `providers`.
    pub default_provider: String,
    /// How long a finished generation stays replayable.
    pub replay_window: Duration,
    /// Messages of history sent with each chat.
    pub context_messages: usize,
    /// History and room limits of the real-time channels.
    pub channels: ChannelsConfig,
    /// Queue, subscription and stream limits of WebSocket connections.
    pub connections: ConnectionsConfig,
    /// Jobs running at once, per-user caps.
    pub jobs: crate::jobs::JobsConfig,
    /// Where outgoing webhooks go, if anywhere.
    pub webhooks: Option<WebhookTarget>,
    /// The senders of incoming webhooks and the hook their events run.
    pub inbound: crate::inbound::InboundConfig,
    /// Chunking, index directory and per-user cap of documents.
    pub documents: DocumentsConfig,
    /// Document chunks retrieved into a chat's system prompt.
    pub context_chunks: usize,
    /// Records one user may keep, per kind (`[limits]`). API keys and
    /// documents read theirs from `accounts` and `documents`.
    pub limits: crate::model::CountLimits,
    /// Completion tokens reserved against a user's allowance for a call
    /// that sets no `max_tokens`.
    pub default_reservation_tokens: u64,
    /// How often the sweeper deletes expired plugin states.
    pub plugin_state_sweep: Duration,
    /// The object store and limits of files (`[files]`).
    pub files: crate::files::FilesConfig,
    /// Retention and failed sign-in bursts of the audit log (`[audit]`).
    pub audit: crate::audit::AuditConfig,
    /// What each provider's models cost (`[providers.<name>.prices]`).
    pub prices: crate::usage::Prices,
}

/// The running core. Cheap to clone; every clone reaches the same actors.
#[derive(Clone)]
pub struct Core {
    store: Store,
    accounts: Accounts,
    audit: Audit,
    usage: Usage,
    catalog: crate::conversations::Catalog,
    llm: Llm,
    conversations: Conversations,
    channels: Channels,
    connections: Connections,
    jobs: Jobs,
    documents: Documents,
    projects: Projects,
    contacts: Contacts,
    inbound: crate::inbound::Inbound,
    files: crate::files::Files,
    started_at: Instant,
    actors: SupervisorConfig,
    /// Set when shutdown begins; readiness fails from then on.
    stopping: Arc<AtomicBool>,
    /// The long-lived tasks the core owns; stopped before the store closes.
    background: Background,
    settings: crate::settings::Settings,
    plugin_states: crate::plugin_state::PluginStates,
    feature_flags: crate::flags::FeatureFlags,
    notifications: crate::notifications::Notifications,
}

/// The answer of a readiness check, one entry per dependency.
#[derive(Debug, Clone)]
pub struct Readiness {
    /// `Ok` if a write and read-back through the store succeeded, else why not.
    pub store: Result<(), String>,
    /// `Ok` if not shutting down and every supervisor is up, else why not.
    pub actors: Result<(), String>,
}

impl Readiness {
    /// Whether every check passed.
    pub fn is_ready(&self) -> bool {
        self.store.is_ok() && self.actors.is_ok()
    }
}

impl Core {
    /// Opens the store and starts everything; `chat_gate` is the edge's rate
    /// limit for chats over a socket ([`crate::connections::no_chat_limit`]
    /// for a core that serves none).
    pub async fn start(config: CoreConfig, chat_gate: ChatGate) -> Result<Self, CoreError> {
        let background = Background::new();
        let store = Store::open(&config.store)?;
        let audit = Audit::open(store.clone())?;
        let (bursts, quiet) = (audit.clone(), config.audit.login_burst_quiet);
        background.spawn_with(move |stop| bursts.close_login_bursts_until(quiet, stop));
        let (pruner, retention) = (audit.clone(), config.audit.retention);
        background.spawn_with(move |stop| pruner.prune_until(retention, stop));
        let accounts = Accounts::start(
            store.clone(),
            audit.clone(),
            config.accounts,
            config.actors.clone(),
        )
        .await?;
        let usage = Usage::open(store.clone())?.with_prices(config.prices);
        let flusher = usage.clone();
        background.spawn_with(move |stop| flusher.flush_until(stop));
        let llm = Llm::new(config.providers, &config.default_provider).map_err(CoreError::Llm)?;
        let conv_tables =
            crate::conversations::ConvTables::open(&store, config.limits.conversations)?;
        let catalog =
            crate::conversations::Catalog::open(store.clone(), conv_tables.clone(), config.limits)?;
        let channels = Channels::new(config.channels);
        background.spawn_with(|stop| channels.sweep_until(stop));
        let notifications =
            crate::notifications::Notifications::open(store.clone(), channels.clone())?;
        let watcher = notifications.clone();
        usage.watch_allowance(Arc::new(move |u: crate::usage::AllowanceUsed| {
            watcher.quota_used(u.user_id, u.month, u.used, u.allowance);
        }));
        accounts.notifier().attach(notifications.clone());
        let documents = Documents::open(store.clone(), config.documents)?;
        let projects = Projects::open(store.clone(), channels.clone(), config.limits.projects)?;
        let settings =
            crate::settings::Settings::open(store.clone(), config.limits.setting_instances)?;
        let plugin_states =
            crate::plugin_state::PluginStates::open(store.clone(), config.limits.plugin_states)?;
        let (sweeper, period) = (plugin_states.clone(), config.plugin_state_sweep);
        background.spawn_with(move |stop| sweeper.sweep_until(period, stop));
        let files = crate::files::Files::open(&store, config.files).await?;
        documents.attach_files(files.clone());
        let deps = ChatDeps {
            projects: projects.clone(),
            documents: documents.clone(),
            context_chunks: config.context_chunks,
            channels: channels.clone(),
            store: store.clone(),
            catalog: catalog.clone(),
            tables: conv_tables,
            llm: llm.clone(),
            usage: usage.clone(),
            replay_window: config.replay_window,
            context_messages: config.context_messages,
            default_reservation: config.default_reservation_tokens,
            live: Default::default(),
        };
        let conversations =
            Conversations::start(store.clone(), deps, config.actors.clone()).await?;
        let connections = Connections::start(
            channels.clone(),
            conversations.clone(),
            accounts.clone(),
            config.connections,
            config.actors.clone(),
            chat_gate,
            projects.clone(),
        )
        .await?;
        let mut handlers = crate::jobs::Handlers::new();
        let delay = crate::jobs::Delay {
            max_seconds: config.jobs.max_delay.as_secs_f64(),
        };
        handlers.insert("delay".into(), Arc::new(delay));
        let ticket = crate::conversations::TicketChat {
            accounts: accounts.clone(),
            conversations: conversations.clone(),
        };
        handlers.insert("chat".into(), Arc::new(ticket));
        handlers.insert(
            "document.ingest".into(),
            Arc::new(crate::documents::Ingest(documents.clone())),
        );
        handlers.insert(
            crate::files::DELETE_JOB.into(),
            Arc::new(crate::files::DeleteObject(files.blobs().clone())),
        );
        if let Some(target) = &config.webhooks {
            let deliver = crate::jobs::webhook::DeliverWebhook::new(target.clone())?;
            handlers.insert("webhook.deliver".into(), Arc::new(deliver));
        }
        let inbound_events = crate::inbound::EventStore::open(store.clone())?;
        let process = crate::inbound::ProcessWebhook {
            events: inbound_events.clone(),
            hook: (config.inbound.hook.clone())
                .unwrap_or_else(|| Arc::new(crate::inbound::MarkProcessed)),
        };
        handlers.insert(crate::inbound::JOB_TYPE.into(), Arc::new(process));
        let (jobs, ended) = Jobs::start(
            store.clone(),
            channels.clone(),
            handlers,
            &config.jobs,
            config.actors.clone(),
            &background,
        )
        .await?;
        let titles = documents.clone();
        let ended = crate::notifications::watch_ended_jobs(
            notifications.clone(),
            ended,
            move |user, id| titles.get(user, id).ok().map(|d| d.title),
            &background,
        );
        let contacts = Contacts::open(store.clone(), jobs.clone(), config.webhooks.clone())?;
        if let Some(target) = config.webhooks {
            crate::jobs::webhook::forward_ended_jobs(jobs.clone(), target, ended, &background);
        }
        let inbound =
            crate::inbound::Inbound::start(inbound_events, jobs.clone(), config.inbound.sources)
                .await;
        background.spawn(files.clone().sweep_forever(jobs.clone()));
        let feature_flags = crate::flags::FeatureFlags::open(store.clone(), audit.clone())?;
        Ok(Self {
            projects,
            contacts,
            inbound,
            documents,
            files,
            jobs,
            channels,
            connections,
            catalog,
            usage,
            llm,
            conversations,
            store,
            accounts,
            audit,
            started_at: Instant::now(),
            actors: config.actors,
            stopping: Arc::new(AtomicBool::new(false)),
            background,
            settings,
            plugin_states,
            feature_flags,
            notifications,
        })
    }

    /// The store, for the repositories built on it.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Users, sessions and API keys.
    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    /// Personas and tags.
    pub fn catalog(&self) -> &crate::conversations::Catalog {
        &self.catalog
    }

    /// The model providers.
    pub fn llm(&self) -> &Llm {
        &self.llm
    }

    /// Conversations, messages and chat.
    pub fn conversations(&self) -> &Conversations {
        &self.conversations
    }

    /// Real-time channels: publish to users, rooms and conversations.
    pub fn channels(&self) -> &Channels {
        &self.channels
    }

    /// WebSocket connections.
    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    /// Usage accounting.
    pub fn usage(&self) -> &Usage {
        &self.usage
    }

    /// The audit log.
    pub fn audit(&self) -> &Audit {
        &self.audit
    }

    /// The supervisor limits every actor kind runs with.
    pub fn supervisor_config(&self) -> &SupervisorConfig {
        &self.actors
    }

    /// How long the core has been running.
    pub fn uptime(&self) -> Duration {
        self.started_at.elapsed()
    }

    /// Jobs pending, scheduled or running.
    pub fn active_jobs(&self) -> usize {
        self.jobs.active()
    }

    /// Background jobs.
    pub fn jobs(&self) -> &Jobs {
        &self.jobs
    }

    /// The core's background tasks: spawn long-lived work here so that
    /// shutdown stops it before the store closes.
    pub fn background(&self) -> &Background {
        &self.background
    }

    /// Received (incoming) webhooks.
    pub fn inbound(&self) -> &crate::inbound::Inbound {
        &self.inbound
    }

    /// Setting definitions and values.
    pub fn settings(&self) -> &crate::settings::Settings {
        &self.settings
    }

    /// Plugin states.
    pub fn plugin_states(&self) -> &crate::plugin_state::PluginStates {
        &self.plugin_states
    }

    /// Documents and their search index.
    pub fn documents(&self) -> &Documents {
        &self.documents
    }

    /// Projects, and their `project:{id}` channels.
    pub fn projects(&self) -> &Projects {
        &self.projects
    }

    /// Contact form submissions.
    pub fn contacts(&self) -> &Contacts {
        &self.contacts
    }

    /// Files in the object store.
    pub fn files(&self) -> &crate::files::Files {
        &self.files
    }

    /// Feature flags and their in-memory snapshot.
    pub fn feature_flags(&self) -> &crate::flags::FeatureFlags {
        &self.feature_flags
    }

    /// Every user's notifications.
    pub fn notifications(&self) -> &crate::notifications::Notifications {
        &self.notifications
    }

    /// A real write+read round trip through the store, and whether the actors
    /// can be reached: not shutting down, and the parent actor of each of the
    /// four supervisors (sessions, conversations, jobs, connections) running.
    pub async fn readiness(&self) -> Readiness {
        let actors = if self.stopping.load(Ordering::Acquire) {
            Err("shutting down".to_string())
        } else if !self.accounts.sessions().is_up()
            || !self.conversations.actors().is_up()
            || !self.jobs.actors().is_up()
            || !self.connections.is_up()
        {
            Err("a supervisor is down".to_string())
        } else {
            Ok(())
        };
        Readiness {
            actors,
            store: self.store.probe().await.map_err(|e| {
                tracing::error!(error = %e, "store readiness probe failed");
                "store write+read failed".to_string()
            }),
        }
    }

    /// Stops the actors (each persists what it must) and flushes the store.
    pub async fn shutdown(&self, grace: Duration) -> Result<(), CoreError> {
        self.stopping.store(true, Ordering::Release);
        self.connections.shutdown(grace).await;
        // Running generations are cancelled and persist their partial answers.
        self.conversations.actors().shutdown(grace).await;
        self.accounts.sessions().shutdown(grace).await;
        // The scheduler, running attempts and the webhook forwarder (which
        // first queues the deliveries of jobs that already ended) stop
        // before the job actors and the store; unfinished jobs stay in the
        // active index and resume at the next start.
        self.background.stop(grace).await;
        self.jobs.actors().shutdown(grace).await;
        // The usage of calls that ended during the stops above; a detached
        // stateless call that settles later is written as it settles.
        self.usage.close();
        self.store.close().await?;
        Ok(())
    }
}
