//! Berth's top crate: the only one that knows HTTP and configuration.
//!
//! # Layout
//! - [`cli`]: the `berth` command line.
//! - [`config`]: file, environment and flags into one [`config::Config`].
//! - [`data_dir`]: the private data directory (umask, modes).
//! - [`tls`]: the generated CA and server certificate, and the rustls configuration.
//! - [`app`]: builds every service once from the configuration (the only wiring).
//! - [`serve`]: the accept loops (HTTPS and HTTP), connection accounting, graceful shutdown.
//! - [`cluster`]: the wire to the other replicas (HTTPS with mutual TLS), and joining.
//! - [`http`]: routes, middleware, the one error mapping, and the handlers.
//! - [`ui`]: the web UI's pages (server-rendered, signed in with a session cookie).

pub mod app;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod data_dir;
pub mod http;
pub mod serve;
pub mod tls;
pub mod ui;
