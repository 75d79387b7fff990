//! The authentication service: turns credentials into a [`Subject`], gathers the facts
//! the policy needs, and issues and verifies the Docker token service's tokens.
//!
//! Successful password checks are cached for a minute per credential (keyed by a hash
//! of user and password), so argon2 (or the LDAP bind) runs once, not on every request.
//!
//! With an LDAP directory configured, accounts that come from it, and names no account
//! has yet, are checked by binding to the directory; a first successful login creates
//! the account. Local accounts (such as `admin`) keep their local passwords, so the
//! registry stays manageable while the directory is down.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use berth_meta::command::{CreateAccount, PutSetting, TouchAccessToken};
use berth_meta::query::Reader;
use berth_meta::{Account, AccountKind, Command, Meta};
use sha2::{Digest as _, Sha256};

use crate::identity::{Directory, SyncReport, sync};
use crate::jwt::{Access, Claims, TokenKeys};
use crate::limiter::Limiter;
use crate::subject::{Action, Level, Restriction, Subject};
use crate::{Error, RepositoryFacts, access_token, password};

/// The setting holding the token signing key.
const SIGNING_KEY: &str = "token_signing_key";
/// The setting allowing anonymous pulls of public repositories.
pub const ANONYMOUS_PULLS: &str = "anonymous_pulls";
const CACHE_TTL: Duration = Duration::from_secs(60);
const TOUCH_EVERY_SECS: u64 = 60;
/// Bound on the verified-token cache (a few MiB at most).
const MAX_VERIFIED_TOKENS: usize = 10_000;

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Authentication and token issuing.
pub struct Auth {
    meta: Meta,
    keys: TokenKeys,
    service: String,
    verified: Mutex<HashMap<[u8; 32], (String, Instant)>>,
    /// Access tokens whose signature was checked, until they expire: a client sends the
    /// same token with every request for its five minutes, and checking an Ed25519
    /// signature costs more than the rest of a manifest GET.
    verified_tokens: Mutex<HashMap<Box<str>, Claims>>,
    limiter: Limiter,
    directory: Option<Directory>,
    /// One directory sync at a time (the schedule and the API may both start one).
    syncing: tokio::sync::Mutex<()>,
}

/// What the first start did.
pub struct Bootstrap {
    /// The `admin` password, when it was generated (to be printed once).
    pub generated_admin_password: Option<String>,
}

impl Auth {
    /// Loads (creating on first start) the signing key and the `admin` account.
    pub async fn start(meta: Meta, service: &str, admin_password: Option<String>, directory: Option<Directory>) -> Result<(Auth, Bootstrap), Error> {
        let key = TokenKeys::generate()?;
        meta.apply(Command::PutSetting(PutSetting { name: SIGNING_KEY.into(), value: key.into(), only_if_absent: true })).await?;
        let stored = meta.read(|r| r.setting(SIGNING_KEY)).await?;
        let stored = stored.as_ref().and_then(|v| v.as_str()).ok_or_else(|| Error::Crypto("no signing key".into()))?;
        let keys = TokenKeys::from_stored(stored)?;

        let mut generated_admin_password = None;
        if meta.read(|r| r.account("admin")).await?.is_none() {
            let password = match admin_password {
                Some(p) => p,
                None => {
                    let p = access_token::generate().secret_sha256[..24].to_owned();
                    generated_admin_password = Some(p.clone());
                    p
                }
            };
            let account = Account {
                kind: AccountKind::User,
                full_name: "Administrator".into(),
                email: String::new(),
                password_hash: Some(password::hash(password).await?),
                active: true,
                admin: true,
                ldap_dn: None,
                created_at: now(),
            };
            meta.apply(Command::CreateAccount(CreateAccount { name: "admin".into(), account })).await?;
        }
        let auth = Auth {
            meta,
            keys,
            service: service.to_owned(),
            verified: Mutex::default(),
            verified_tokens: Mutex::default(),
            limiter: Limiter::default(),
            directory,
            syncing: tokio::sync::Mutex::default(),
        };
        Ok((auth, Bootstrap { generated_admin_password }))
    }

    /// The service name tokens are issued for.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Checks a user name and a password or access token, from `source`; the subject on
    /// success. Every failure is the same `InvalidCredentials`, whatever was wrong, and
    /// counts towards `TooManyAttempts` for the account and the source.
    pub async fn login(&self, user: &str, secret: &str, source: Option<IpAddr>) -> Result<Subject, Error> {
        if self.limiter.is_blocked(user, source) {
            return Err(Error::TooManyAttempts);
        }
        let result = self.check(user, secret).await;
        if matches!(result, Err(Error::InvalidCredentials)) {
            self.limiter.failed(user, source);
        }
        result
    }

    async fn check(&self, user: &str, secret: &str) -> Result<Subject, Error> {
        if let Some((id, secret_hash)) = access_token::parse(secret) {
            return self.login_with_token(user, &id, &secret_hash).await;
        }
        let key: [u8; 32] = Sha256::new().chain_update(user.as_bytes()).chain_update([0]).chain_update(secret.as_bytes()).finalize().into();
        let cached = {
            let cache = self.verified.lock().unwrap_or_else(|p| p.into_inner());
            cache.get(&key).is_some_and(|(u, at)| u == user && at.elapsed() < CACHE_TTL)
        };
        if !cached {
            let (name, secret) = (user.to_owned(), secret.to_owned());
            let account = self.meta.read(move |r| r.account(&name)).await?;
            match &self.directory {
                Some(directory) if account.as_ref().is_none_or(|a| a.ldap_dn.is_some()) => {
                    self.check_directory(directory, user, secret, account).await?;
                }
                _ => {
                    let hash = account.filter(|a| a.kind == AccountKind::User && a.active).and_then(|a| a.password_hash);
                    if !password::verify(secret, hash).await {
                        return Err(Error::InvalidCredentials);
                    }
                }
            }
            let mut cache = self.verified.lock().unwrap_or_else(|p| p.into_inner());
            cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
            cache.insert(key, (user.to_owned(), Instant::now()));
        }
        self.subject(user, None).await?.ok_or(Error::InvalidCredentials)
    }

    /// Binds to the directory as `user`; on the first success creates their account.
    async fn check_directory(&self, directory: &Directory, user: &str, secret: String, account: Option<Account>) -> Result<(), Error> {
        if secret.len() > password::MAX_PASSWORD_LEN {
            return Err(Error::InvalidCredentials);
        }
        let Some(found) = directory.authenticate(user, &secret).await? else { return Err(Error::InvalidCredentials) };
        // Account names are lower case; the directory matched `user` case-insensitively.
        if found.login != user {
            return Err(Error::InvalidCredentials);
        }
        match account {
            Some(a) if !a.active => Err(Error::InvalidCredentials),
            Some(_) => Ok(()),
            None => {
                let create = CreateAccount { name: user.to_owned(), account: sync::from_directory(&found, now()) };
                // A concurrent first login may have created it: either way it exists now.
                self.meta.apply(Command::CreateAccount(create)).await?;
                tracing::info!(user, dn = %found.dn, "account created at first LDAP login");
                Ok(())
            }
        }
    }

    /// Whether an LDAP directory is configured.
    pub fn has_directory(&self) -> bool {
        self.directory.is_some()
    }

    /// Runs the directory sync now (waiting for a run in progress to end first).
    pub async fn sync_directory(&self) -> Result<SyncReport, Error> {
        let directory = self.directory.as_ref().ok_or(Error::NoDirectory)?;
        let _one_at_a_time = self.syncing.lock().await;
        sync::run(&self.meta, directory, now()).await
    }

    /// The report of the last directory sync, if one ran.
    pub async fn last_sync(&self) -> Result<Option<SyncReport>, Error> {
        let value = self.meta.read(|r| r.setting(sync::LAST_SYNC)).await?;
        Ok(value.and_then(|v| serde_json::from_value(v).ok()))
    }

    async fn login_with_token(&self, user: &str, id: &str, secret_hash: &str) -> Result<Subject, Error> {
        let key = id.to_owned();
        let token = self.meta.read(move |r| r.access_token(&key)).await?.ok_or(Error::InvalidCredentials)?;
        let now = now();
        if token.user != user || !access_token::same_hash(&token.secret_sha256, secret_hash) || token.expires_at.is_some_and(|e| e <= now) {
            return Err(Error::InvalidCredentials);
        }
        if token.last_used.is_none_or(|t| now.saturating_sub(t) >= TOUCH_EVERY_SECS) {
            self.meta.apply(Command::TouchAccessToken(TouchAccessToken { id: id.to_owned(), at: now })).await?;
        }
        let restriction = Restriction {
            repositories: token.repositories,
            actions: token.actions.iter().filter_map(|a| Action::from_scope_word(a)).collect(),
        };
        let restriction = (!restriction.repositories.is_empty() || !restriction.actions.is_empty()).then_some(restriction);
        self.subject(user, restriction).await?.ok_or(Error::InvalidCredentials)
    }

    /// The subject for an active user, with their teams.
    pub async fn subject(&self, user: &str, restriction: Option<Restriction>) -> Result<Option<Subject>, Error> {
        let name = user.to_owned();
        let found = self
            .meta
            .read(move |r| {
                let Some(account) = r.account(&name)?.filter(|a| a.kind == AccountKind::User && a.active) else { return Ok(None) };
                Ok(Some((account.admin, r.memberships(&name)?)))
            })
            .await?;
        Ok(found.map(|(admin, teams)| Subject::User { name: user.to_owned(), admin, teams, restriction }))
    }

    /// The policy's facts about `repository`, from a read snapshot.
    pub fn facts(reader: &Reader, repository: &str) -> Result<RepositoryFacts, berth_meta::Error> {
        let namespace = repository.split('/').next().unwrap_or(repository).to_owned();
        let public = reader.repository(repository)?.is_some_and(|r| r.public);
        let mut grants = Vec::new();
        for (org, team, level) in reader.repository_grants(repository)?.into_iter().chain(reader.namespace_grants(&namespace)?) {
            if let Some(level) = Level::from_u8(level) {
                grants.push((org, team, level));
            }
        }
        let anonymous_pulls = reader.setting(ANONYMOUS_PULLS)?.and_then(|v| v.as_bool()).unwrap_or(true);
        Ok(RepositoryFacts { name: repository.to_owned(), namespace, public, grants, anonymous_pulls })
    }

    /// The actions among `wanted` that `subject` may perform on `repository`.
    pub async fn allowed(&self, subject: &Subject, repository: &str, wanted: &[Action]) -> Result<Vec<Action>, Error> {
        let repo = repository.to_owned();
        let facts = self.meta.read(move |r| Auth::facts(r, &repo)).await?;
        Ok(wanted.iter().copied().filter(|a| crate::policy::may(subject, *a, &facts)).collect())
    }

    /// Issues an access token for `subject` granting `access`.
    pub fn issue(&self, subject: &Subject, access: Vec<Access>) -> Result<(String, u64), Error> {
        let now = now();
        let claims = Claims {
            iss: crate::jwt::ISSUER.into(),
            sub: subject.name().unwrap_or_default().to_owned(),
            aud: self.service.clone(),
            exp: now + crate::jwt::ACCESS_TTL_SECS,
            nbf: now.saturating_sub(1),
            iat: now,
            jti: access_token::generate().id,
            access,
            typ: None,
        };
        Ok((self.keys.sign(&claims)?, crate::jwt::ACCESS_TTL_SECS))
    }

    /// Issues a refresh token (a `docker login` identity token) for `user`.
    pub fn issue_refresh(&self, user: &str) -> Result<String, Error> {
        let now = now();
        let claims = Claims {
            iss: crate::jwt::ISSUER.into(),
            sub: user.to_owned(),
            aud: self.service.clone(),
            exp: now + crate::jwt::REFRESH_TTL_SECS,
            nbf: now.saturating_sub(1),
            iat: now,
            jti: access_token::generate().id,
            access: Vec::new(),
            typ: Some("refresh".into()),
        };
        self.keys.sign(&claims)
    }

    /// Verifies an access token (not a refresh token).
    pub fn verify_access(&self, token: &str) -> Result<Claims, Error> {
        let now = now();
        {
            let cache = self.verified_tokens.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(claims) = cache.get(token).filter(|c| c.exp > now) {
                return Ok(claims.clone());
            }
        }
        let claims = self.keys.verify(token, &self.service)?;
        if claims.typ.is_some() {
            return Err(Error::InvalidToken("a refresh token is not an access token".into()));
        }
        let mut cache = self.verified_tokens.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_VERIFIED_TOKENS {
            cache.retain(|_, c| c.exp > now);
            if cache.len() >= MAX_VERIFIED_TOKENS {
                cache.clear();
            }
        }
        cache.insert(token.into(), claims.clone());
        Ok(claims)
    }

    /// Verifies a refresh token; the user it was issued to.
    pub async fn verify_refresh(&self, token: &str) -> Result<Subject, Error> {
        let claims = self.keys.verify(token, &self.service)?;
        if claims.typ.as_deref() != Some("refresh") {
            return Err(Error::InvalidToken("not a refresh token".into()));
        }
        self.subject(&claims.sub, None).await?.ok_or(Error::InvalidCredentials)
    }

    /// Whether a token's claims grant `action` on `repository` (named bare, or
    /// host-qualified as the trust client names it).
    pub fn grants(claims: &Claims, repository: &str, action: Action) -> bool {
        claims.access.iter().any(|a| {
            a.kind == "repository" && berth_core::split_host(&a.name).1 == repository && a.actions.iter().any(|w| w == "*" || w == action.scope_word())
        })
    }
}
