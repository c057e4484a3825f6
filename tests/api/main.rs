//! Integration tests: each starts the real server on 127.0.0.1:0 with a
//! throwaway data directory and talks to it over real sockets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod admin;
mod ai;
mod api_keys;
mod auth;
mod binary;
mod catalog;
mod chat;
mod cli;
mod contract;
mod contract_edge;
mod conversations;
mod documents;
mod errors;
mod fake_llm;
mod files;
mod files_s3;
mod hardening_auth;
mod hardening_docs;
mod hardening_jobs;
mod hardening_limits;
mod hardening_quota;
mod hardening_ws;
mod hardening_ws_limits;
mod helpers;
mod jobs;
mod jobs_restart;
mod logs;
mod oidc;
mod openai;
mod openapi;
mod ops;
mod providers;
mod rate_limits;
mod server;
mod webhooks;
mod ws;
mod ws_chat;
mod ws_client;
mod ws_edge;
mod ws_slow;
