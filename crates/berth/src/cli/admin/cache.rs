//! `berth cache …`: pull-through cache namespaces.

use clap::Subcommand;
use reqwest::Method;
use serde_json::json;

use super::client::{AdminError, Client};
use super::output::{Shown, Table, read_password, yes_no};
use crate::http::api_v0::model::PullThroughCache;

/// `berth cache …`
#[derive(Subcommand, Debug)]
pub enum CacheCommand {
    /// Make organization NAMESPACE a pull-through cache of an upstream registry (or change its settings).
    Set {
        /// The organization.
        namespace: String,
        /// The upstream registry: https://host[:port] (Docker Hub: https://registry-1.docker.io).
        #[arg(long)]
        upstream: String,
        /// The user to log in to the upstream as; the password (or token) is read from standard input.
        #[arg(long)]
        username: Option<String>,
        /// A PEM file of the certificates the upstream's must chain to.
        #[arg(long)]
        ca_file: Option<std::path::PathBuf>,
        /// Seconds a pulled tag is served before the upstream is asked again.
        #[arg(long, default_value_t = 300)]
        ttl: u64,
        /// Every user (and anonymous callers, when allowed) may pull.
        #[arg(long)]
        public: bool,
        /// Serve names whose namespace is no account (library/alpine) from this cache: a transparent mirror.
        #[arg(long)]
        mirror_unqualified: bool,
    },
    /// List the pull-through cache namespaces.
    List,
    /// Make a cache namespace a plain one again (what it cached stays).
    Remove {
        /// The organization.
        namespace: String,
    },
}

/// Runs a `berth cache` command.
pub fn run(client: &Client, command: CacheCommand) -> Result<Shown, AdminError> {
    match command {
        CacheCommand::Set { namespace, upstream, username, ca_file, ttl, public, mirror_unqualified } => {
            let mut body = json!({"upstream": upstream, "ttlSecs": ttl, "public": public, "mirrorsUnqualified": mirror_unqualified});
            if let Some(username) = username {
                body["upstreamCredentials"] = json!({"username": username, "password": read_password()?});
            }
            if let Some(path) = ca_file {
                let pem = std::fs::read_to_string(&path).map_err(|e| AdminError::Usage(format!("--ca-file {}: {e}", path.display())))?;
                body["remoteCA"] = json!(pem);
            }
            let path = format!("/repositoryNamespaces/{namespace}/pullThroughCache");
            let (cache, json) = client.call::<PullThroughCache>(Method::PUT, &path, Some(&body))?;
            Ok(Shown::said(
                format!("{namespace} is a pull-through cache of {} (tags checked every {} s)", cache.upstream, cache.ttl_secs),
                json,
            ))
        }
        CacheCommand::List => {
            let (list, json) = client.get::<Vec<PullThroughCache>>("/pullThroughCaches")?;
            let mut table = Table::new(&["namespace", "upstream", "ttl", "public", "mirrors unqualified names", "user"]);
            for c in &list {
                table.row(vec![
                    c.namespace.clone(),
                    c.upstream.clone(),
                    format!("{} s", c.ttl_secs),
                    yes_no(c.public),
                    yes_no(c.mirrors_unqualified),
                    c.username.clone().unwrap_or_else(|| "-".into()),
                ]);
            }
            Ok(Shown::table(table, json))
        }
        CacheCommand::Remove { namespace } => {
            client.send(Method::DELETE, &format!("/repositoryNamespaces/{namespace}/pullThroughCache"), None::<&()>)?;
            Ok(Shown::said(format!("{namespace} is a plain namespace again"), json!({"namespace": namespace})))
        }
    }
}
