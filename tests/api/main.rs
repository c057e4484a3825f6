//! Integration tests: each starts the real server on 127.0.0.1:0 with a
//! throwaway data directory and talks to it over real sockets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod binary;
mod errors;
mod helpers;
mod ops;
mod server;
