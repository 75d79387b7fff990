//! Who made a change, from where, and when: the origin every proposed command carries
//! into the replication log, so that the audit log every replica derives from the
//! applied commands names the same caller on each of them.
//!
//! A request's origin is request context, like its tracing span: the HTTP layer opens a
//! [`scope`] for each request (knowing its source address), fills in the caller once the
//! credentials are checked ([`RequestOrigin::identify`]), and [`crate::Meta::apply`]
//! reads it when it proposes a command. Background jobs open a scope naming themselves.
//! Writes made outside any scope are the system's.

use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

/// The origin of one proposed command, as stored in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// When it was proposed (milliseconds since the epoch).
    pub at: u64,
    /// The user, `None` for an anonymous caller or a job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The access token the user presented (its id), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The caller's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The background job that made the change (`ldap-sync`, `gc`, …), if it was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
}

/// The caller of a request, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user.
    pub user: String,
    /// The access token presented (its id), if any.
    pub token: Option<String>,
}

/// A request's (or a job's) origin while it runs.
#[derive(Debug, Clone, Default)]
pub struct RequestOrigin {
    source: Option<String>,
    job: Option<String>,
    caller: Arc<OnceLock<Caller>>,
}

impl RequestOrigin {
    /// A request from `source`.
    pub fn request(source: Option<String>) -> RequestOrigin {
        RequestOrigin { source, ..RequestOrigin::default() }
    }

    /// A background job.
    pub fn job(name: &str) -> RequestOrigin {
        RequestOrigin { job: Some(name.to_owned()), ..RequestOrigin::default() }
    }

    /// Names the authenticated caller (the first call wins: a request has one caller).
    pub fn identify(&self, caller: Caller) {
        let _ = self.caller.set(caller);
    }

    /// The caller, once identified.
    pub fn caller(&self) -> Option<&Caller> {
        self.caller.get()
    }

    /// The caller's address.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// The origin of a command proposed now.
    pub fn stamp(&self, at: u64) -> Origin {
        let caller = self.caller.get();
        Origin {
            at,
            user: caller.map(|c| c.user.clone()),
            token: caller.and_then(|c| c.token.clone()),
            source: self.source.clone(),
            job: self.job.clone(),
        }
    }
}

tokio::task_local! {
    static CURRENT: RequestOrigin;
}

/// Runs `future` with `origin` as the origin of the commands it proposes.
pub async fn scope<F: Future>(origin: RequestOrigin, future: F) -> F::Output {
    CURRENT.scope(origin, future).await
}

/// The origin of the running request or job, if it opened a scope.
pub fn current() -> Option<RequestOrigin> {
    CURRENT.try_with(Clone::clone).ok()
}

/// The origin of a command proposed now by the running request or job (the system's
/// outside any scope).
pub fn stamp_now() -> Origin {
    let at = crate::now_millis();
    current().map_or_else(|| RequestOrigin::job("system").stamp(at), |o| o.stamp(at))
}
