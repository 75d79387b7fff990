//! The authentication service: turns credentials into a [`Subject`], gathers the facts
//! the policy needs, and issues and verifies the Docker token service's tokens.
//!
//! Successful password checks are cached for a minute per credential (keyed by a hash
//! of user and password), so argon2 (or the LDAP bind) runs once, not on every request;
//! the account is read on every request all the same, so a password change or a
//! deactivation takes effect at once ([`crate::cache`]). Bearer and refresh tokens name
//! the credential they were obtained with and die with it.
//!
//! With an LDAP directory configured, accounts that come from it, and names no account
//! has yet, are checked by binding to the directory; a first successful login creates
//! the account. Local accounts (such as `admin`) keep their local passwords, so the
//! registry stays manageable while the directory is down.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use berth_meta::command::{CreateAccount, PutSetting, TouchAccessTokens};
use berth_meta::query::{Listing, Reader};
use berth_meta::seal::MasterKey;
use berth_meta::{AccessToken, Account, AccountKind, Command, Meta, Page, Setting, now};
use sha2::{Digest as _, Sha256};

use crate::cache::{Logins, Signatures};
use crate::identity::{Directory, LdapOptions, SyncReport, sync};
use crate::jwt::{Access, Claims, TokenKeys};
use crate::limiter::Limiter;
use crate::password::{PasswordOptions, Passwords};
use crate::stats::{Checked, Counters};
use crate::subject::{Action, Credential, Restriction, Subject, User};
use crate::{AuthCounts, Error, RepositoryFacts, access_token};

/// What the sealed signing key is bound to.
const SIGNING_KEY_PURPOSE: &str = "berth token signing key";
/// The most token uses remembered between two flushes (a use is a few dozen bytes).
const MAX_PENDING_USES: usize = 100_000;

/// What the authentication service is configured with.
#[derive(Debug, Clone)]
pub struct AuthOptions {
    /// The service name tokens are issued for.
    pub service: String,
    /// Password rules and the hashing pool.
    pub passwords: PasswordOptions,
}

/// Authentication and token issuing.
pub struct Auth {
    pub(crate) meta: Meta,
    keys: TokenKeys,
    service: String,
    pub(crate) passwords: Passwords,
    logins: Logins,
    signatures: Signatures,
    limiter: Limiter,
    pub(crate) directory: Option<Directory>,
    /// One directory sync at a time (the schedule and the API may both start one).
    syncing: tokio::sync::Mutex<()>,
    /// When access tokens were last used, until the next flush writes them (a login is
    /// never a write).
    uses: Mutex<HashMap<String, u64>>,
    /// What it did, for monitoring.
    pub(crate) counters: Counters,
}

/// What the first start did.
pub struct Bootstrap {
    /// The `admin` password, when it was generated (to be printed once).
    pub generated_admin_password: Option<String>,
}

/// The token signing key: opened from the metadata, sealed there first if an earlier
/// version stored it in the clear, or made on the first start.
async fn signing_key(meta: &Meta, master: &MasterKey) -> Result<TokenKeys, Error> {
    let crypto = |e: berth_meta::seal::SealError| Error::Crypto(e.to_string());
    let stored = meta.read(|r| r.token_signing_key()).await?;
    let put = |sealed: String, only_if_absent: bool| {
        Command::PutSetting(PutSetting { setting: Setting::TokenSigningKey(sealed), only_if_absent })
    };
    let pkcs8 = match stored {
        Some(sealed) if MasterKey::is_sealed(&sealed) => master.open(SIGNING_KEY_PURPOSE, &sealed).map_err(crypto)?,
        Some(clear) => {
            use base64::Engine as _;
            let pkcs8 = base64::engine::general_purpose::STANDARD.decode(clear.trim()).map_err(|e| Error::Crypto(e.to_string()))?;
            let sealed = master.seal(SIGNING_KEY_PURPOSE, &pkcs8).map_err(crypto)?;
            meta.apply(put(sealed, false)).await?;
            pkcs8
        }
        None => {
            let sealed = master.seal(SIGNING_KEY_PURPOSE, &TokenKeys::generate()?).map_err(crypto)?;
            // Concurrent first starts agree on one key: the first stored wins, and is read back.
            meta.apply(put(sealed, true)).await?;
            let stored = meta.read(|r| r.token_signing_key()).await?;
            master
                .open(SIGNING_KEY_PURPOSE, &stored.ok_or_else(|| Error::Crypto("the signing key was not stored".into()))?)
                .map_err(crypto)?
        }
    };
    TokenKeys::from_pkcs8(&pkcs8)
}

/// A search of repositories: text in the name (prefix or substring, any case), one
/// namespace, public or private.
#[derive(Debug, Clone, Default)]
pub struct RepositoryQuery {
    /// Text the name contains.
    pub text: String,
    /// Only this namespace.
    pub namespace: Option<String>,
    /// Only public (`true`) or private (`false`) repositories.
    pub public: Option<bool>,
}

/// The limits an access token record puts on its user, if any.
pub(crate) fn restriction_of(token: &AccessToken) -> Option<Restriction> {
    let restriction = Restriction { repositories: token.repositories.clone(), actions: token.actions.clone() };
    (!restriction.repositories.is_empty() || !restriction.actions.is_empty()).then_some(restriction)
}

impl Auth {
    /// Loads (creating on first start) the signing key and the `admin` account.
    pub async fn start(
        meta: Meta,
        master: &MasterKey,
        options: AuthOptions,
        admin_password: Option<String>,
        directory: Option<Directory>,
    ) -> Result<(Auth, Bootstrap), Error> {
        let keys = signing_key(&meta, master).await?;
        let auth = Auth {
            meta,
            keys,
            service: options.service,
            passwords: Passwords::new(options.passwords),
            logins: Logins::default(),
            signatures: Signatures::default(),
            limiter: Limiter::default(),
            directory,
            syncing: tokio::sync::Mutex::default(),
            uses: Mutex::default(),
            counters: Counters::default(),
        };
        let generated_admin_password = auth.bootstrap_admin(admin_password).await?;
        Ok((auth, Bootstrap { generated_admin_password }))
    }

    /// Creates the `admin` account on the first start; the password when it was generated.
    async fn bootstrap_admin(&self, password: Option<String>) -> Result<Option<String>, Error> {
        if self.meta.read(|r| r.account("admin")).await?.is_some() {
            return Ok(None);
        }
        let (password, generated) = match password {
            Some(p) => (p, None),
            None => {
                let p = access_token::generate().secret_sha256[..24].to_owned();
                (p.clone(), Some(p))
            }
        };
        let password_hash = self.passwords.hash(&password).await.map_err(|e| match e {
            Error::Invalid(why) => Error::Invalid(format!("BERTH_ADMIN_PASSWORD: {why}")),
            other => other,
        })?;
        // Refused only when a concurrent start made it first.
        let create = CreateAccount {
            name: "admin".into(),
            kind: AccountKind::User,
            full_name: "Administrator".into(),
            email: String::new(),
            password_hash: Some(password_hash),
            active: true,
            admin: true,
            ldap_dn: None,
            at: now(),
            adopt_repositories: false,
        };
        self.meta.apply(Command::CreateAccount(create)).await?;
        Ok(generated)
    }

    /// The service name tokens are issued for.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Checks a user name and a password or access token, from `source`; the subject on
    /// success. Every failure is the same `InvalidCredentials`, whatever was wrong. Wrong
    /// passwords count towards `TooManyAttempts` for the source and for the account from
    /// the source; access tokens, whose secrets cannot be guessed, are not limited.
    pub async fn login(&self, user: &str, secret: &str, source: Option<IpAddr>) -> Result<Subject, Error> {
        if let Some((id, secret_hash)) = access_token::parse(secret) {
            let checked = self.login_with_token(user, &id, &secret_hash).await;
            if matches!(checked, Ok(_) | Err(Error::InvalidCredentials)) {
                self.counters.login(Checked::AccessToken, checked.is_ok());
            }
            return checked;
        }
        let Some(attempt) = self.limiter.acquire(user, source).await else {
            self.counters.limited();
            return Err(Error::TooManyAttempts);
        };
        match self.check_password(user, secret).await {
            Ok(subject) => {
                attempt.succeeded();
                self.counters.login(Checked::Password, true);
                Ok(subject)
            }
            Err(Error::InvalidCredentials) => {
                attempt.failed();
                self.counters.login(Checked::Password, false);
                Err(Error::InvalidCredentials)
            }
            Err(other) => Err(other),
        }
    }

    /// What authentication did since the process started.
    pub fn counts(&self) -> AuthCounts {
        self.counters.snapshot()
    }

    async fn check_password(&self, user: &str, secret: &str) -> Result<Subject, Error> {
        let key: [u8; 32] = Sha256::new().chain_update(user.as_bytes()).chain_update([0]).chain_update(secret.as_bytes()).finalize().into();
        let name = user.to_owned();
        let account = self.meta.read(move |r| r.account(&name)).await?;
        let epoch = account.as_ref().map_or(0, |a| a.credential_epoch);
        let usable = account.as_ref().is_some_and(|a| a.kind == AccountKind::User && a.active);
        if !(usable && self.logins.remembers(&key, user, epoch)) {
            match &self.directory {
                Some(directory) if account.as_ref().is_none_or(|a| a.ldap_dn.is_some()) => {
                    self.check_directory(directory, user, secret, account).await?;
                }
                _ => {
                    let hash = account.filter(|_| usable).and_then(|a| a.password_hash);
                    if !self.passwords.verify(secret, hash).await? {
                        return Err(Error::InvalidCredentials);
                    }
                }
            }
        }
        let subject = self.user_subject(user, Credential::Password).await?.ok_or(Error::InvalidCredentials)?;
        // A password changed between the check and now: the checked one is no longer it.
        if subject.user.as_ref().is_none_or(|u| u.epoch != epoch) {
            return Err(Error::InvalidCredentials);
        }
        self.logins.remember(key, user, epoch);
        Ok(subject)
    }

    /// Binds to the directory as `user`; on the first success creates their account.
    async fn check_directory(&self, directory: &Directory, user: &str, secret: &str, account: Option<Account>) -> Result<(), Error> {
        if secret.len() > crate::password::MAX_PASSWORD_LEN {
            return Err(Error::InvalidCredentials);
        }
        let Some(found) = directory.authenticate(user, secret).await? else { return Err(Error::InvalidCredentials) };
        // Account names are lower case; the directory matched `user` case-insensitively.
        if found.login != user {
            return Err(Error::InvalidCredentials);
        }
        match account {
            Some(a) if !a.active => Err(Error::InvalidCredentials),
            Some(_) => Ok(()),
            None => {
                if let Err(e) = berth_core::check_account_name(user) {
                    tracing::warn!(user, error = %e, "a directory user cannot have an account of this name");
                    return Err(Error::InvalidCredentials);
                }
                // A concurrent first login may have created it: either way it exists now.
                self.meta.apply(Command::CreateAccount(sync::from_directory(&found, now()))).await?;
                tracing::info!(user, dn = %found.dn, "account created at first LDAP login");
                Ok(())
            }
        }
    }

    /// Whether an LDAP directory is configured.
    pub fn has_directory(&self) -> bool {
        self.directory.is_some()
    }

    /// The directory's settings, for system administrators.
    pub fn directory_settings(&self, by: &Subject) -> Result<Option<LdapOptions>, Error> {
        self.require_administrator(by)?;
        Ok(self.directory.as_ref().map(|d| d.options().clone()))
    }

    /// Runs the directory sync now, for the scheduled job (waiting for a run in progress
    /// to end first).
    pub async fn sync_directory(&self) -> Result<SyncReport, Error> {
        let directory = self.directory.as_ref().ok_or(Error::NoDirectory)?;
        let _one_at_a_time = self.syncing.lock().await;
        let report = sync::run(&self.meta, directory, now()).await;
        self.counters.ldap_sync(report.is_ok());
        report
    }

    /// Runs the directory sync now, on a system administrator's request.
    pub async fn sync_directory_for(&self, by: &Subject) -> Result<SyncReport, Error> {
        if !crate::policy::administers(by) {
            return Err(Error::NotAuthorized);
        }
        self.sync_directory().await
    }

    /// `NotAuthorized` unless `by` administers the registry (a system administrator with
    /// a credential that may manage): registry-wide operations such as garbage collection.
    pub fn require_administrator(&self, by: &Subject) -> Result<(), Error> {
        if crate::policy::administers(by) { Ok(()) } else { Err(Error::NotAuthorized) }
    }

    /// The report of the last directory sync, if one ran (system administrators).
    pub async fn last_sync(&self, by: &Subject) -> Result<Option<SyncReport>, Error> {
        if !crate::policy::administers(by) {
            return Err(Error::NotAuthorized);
        }
        Ok(self.meta.read(|r| r.ldap_last_sync()).await?)
    }

    async fn login_with_token(&self, user: &str, id: &str, secret_hash: &str) -> Result<Subject, Error> {
        let token = self.live_token(id, user).await?.ok_or(Error::InvalidCredentials)?;
        if !access_token::same_hash(&token.secret_sha256, secret_hash) {
            return Err(Error::InvalidCredentials);
        }
        self.record_use(id);
        let credential = Credential::AccessToken { id: id.to_owned(), restriction: restriction_of(&token) };
        self.user_subject(user, credential).await?.ok_or(Error::InvalidCredentials)
    }

    /// Remembers that token `id` was used now, for the next [`Auth::flush_token_uses`].
    fn record_use(&self, id: &str) {
        let mut uses = self.uses.lock().unwrap_or_else(|p| p.into_inner());
        if uses.len() < MAX_PENDING_USES || uses.contains_key(id) {
            uses.insert(id.to_owned(), now());
        }
    }

    /// When token `id` was used since the last flush, if it was.
    pub(crate) fn pending_use(&self, id: &str) -> Option<u64> {
        self.uses.lock().unwrap_or_else(|p| p.into_inner()).get(id).copied()
    }

    /// Writes when tokens were last used (one command for all of them); run by a job.
    pub async fn flush_token_uses(&self) -> Result<usize, Error> {
        let uses: Vec<(String, u64)> = std::mem::take(&mut *self.uses.lock().unwrap_or_else(|p| p.into_inner())).into_iter().collect();
        if uses.is_empty() {
            return Ok(0);
        }
        let count = uses.len();
        self.meta.apply(Command::TouchAccessTokens(TouchAccessTokens { uses })).await?;
        Ok(count)
    }

    /// The access token `id` of `user`, if it exists and has not expired.
    async fn live_token(&self, id: &str, user: &str) -> Result<Option<AccessToken>, Error> {
        let key = id.to_owned();
        let token = self.meta.read(move |r| r.access_token(&key)).await?;
        let now = now();
        Ok(token.filter(|t| t.user == user && t.expires_at.is_none_or(|e| e > now)))
    }

    /// The subject for an active user, with their teams and credential epoch.
    pub(crate) async fn user_subject(&self, user: &str, credential: Credential) -> Result<Option<Subject>, Error> {
        let name = user.to_owned();
        let found = self
            .meta
            .read(move |r| {
                let Some(account) = r.account(&name)?.filter(|a| a.kind == AccountKind::User && a.active) else { return Ok(None) };
                Ok(Some((account.admin, account.credential_epoch, r.memberships(&name)?)))
            })
            .await?;
        Ok(found.map(|(admin, epoch, teams)| Subject { user: Some(User { name: user.to_owned(), admin, teams, epoch }), credential }))
    }

    /// Whether `user`, active, may do `action` on `repository` by their own rights (as
    /// with their password): what a standing policy made by the user may still do on
    /// their behalf. An unknown or deactivated user may do nothing.
    pub async fn user_may(&self, user: &str, repository: &str, action: Action) -> Result<bool, Error> {
        match self.user_subject(user, Credential::Password).await? {
            Some(subject) => self.may(&subject, repository, action).await,
            None => Ok(false),
        }
    }

    /// The policy's facts about `repository`, from a read snapshot.
    pub fn facts(reader: &Reader, repository: &str) -> Result<RepositoryFacts, berth_meta::Error> {
        FactsOfSnapshot::default().facts(reader, repository)
    }

    /// The actions among `wanted` that `subject` may perform on `repository`.
    pub async fn allowed(&self, subject: &Subject, repository: &str, wanted: &[Action]) -> Result<Vec<Action>, Error> {
        let repo = repository.to_owned();
        let facts = self.meta.read(move |r| Auth::facts(r, &repo)).await?;
        Ok(wanted.iter().copied().filter(|a| crate::policy::may(subject, *a, &facts)).collect())
    }

    /// A page of the catalog as `subject` sees it: the repositories it may read, that its
    /// credential reaches, sorted.
    pub async fn catalog(&self, subject: &Subject, page: Page) -> Result<Listing, Error> {
        let subject = subject.clone();
        Ok(self
            .meta
            .read(move |r| {
                let mut facts = FactsOfSnapshot::default();
                r.visible_repositories(&page, |r, name| Ok(crate::policy::sees(&subject, &facts.facts(r, name)?)))
            })
            .await?)
    }

    /// The repositories `subject` sees that match `query`, sorted by name (in one snapshot).
    pub async fn find_repositories(&self, subject: &Subject, query: RepositoryQuery) -> Result<Vec<String>, Error> {
        let subject = subject.clone();
        let text = query.text.trim().to_ascii_lowercase();
        Ok(self
            .meta
            .read(move |r| {
                let (mut found, mut facts) = (Vec::new(), FactsOfSnapshot::default());
                for name in r.repositories(&Page::default())?.items {
                    if !text.is_empty() && !name.contains(&text) {
                        continue;
                    }
                    if query.namespace.as_deref().is_some_and(|ns| name.split('/').next() != Some(ns)) {
                        continue;
                    }
                    let facts = facts.facts(r, &name)?;
                    if query.public.is_some_and(|public| facts.public != public) || !crate::policy::sees(&subject, &facts) {
                        continue;
                    }
                    found.push(name);
                }
                // Names that start with the text first, then those that contain it.
                found.sort_by_key(|name| {
                    (!name.starts_with(&text) && !name.split('/').nth(1).is_some_and(|r| r.starts_with(&text)), name.clone())
                });
                Ok(found)
            })
            .await?)
    }

    /// The names among `names` that `subject` sees (in one snapshot).
    pub async fn visible(&self, subject: &Subject, names: Vec<String>) -> Result<Vec<String>, Error> {
        let subject = subject.clone();
        Ok(self
            .meta
            .read(move |r| {
                let (mut seen, mut facts) = (Vec::new(), FactsOfSnapshot::default());
                for name in names {
                    if crate::policy::sees(&subject, &facts.facts(r, &name)?) {
                        seen.push(name);
                    }
                }
                Ok(seen)
            })
            .await?)
    }

    /// Whether `subject` may perform `action` on `repository`.
    pub async fn may(&self, subject: &Subject, repository: &str, action: Action) -> Result<bool, Error> {
        Ok(!self.allowed(subject, repository, &[action]).await?.is_empty())
    }

    fn claims(&self, subject: &Subject, access: Vec<Access>, ttl: u64, typ: Option<&str>) -> Claims {
        let now = now();
        let tid = match &subject.credential {
            Credential::AccessToken { id, .. } => Some(id.clone()),
            _ => None,
        };
        Claims {
            iss: crate::jwt::ISSUER.into(),
            sub: subject.name().unwrap_or_default().to_owned(),
            aud: self.service.clone(),
            exp: now + ttl,
            nbf: now.saturating_sub(1),
            iat: now,
            jti: access_token::generate().id,
            access,
            typ: typ.map(str::to_owned),
            epoch: subject.user.as_ref().map(|u| u.epoch),
            tid,
        }
    }

    /// Issues a bearer token for `subject` granting `access` (already narrowed by the
    /// policy): it names the credential it comes from, and dies with it.
    pub fn issue(&self, subject: &Subject, access: Vec<Access>) -> Result<(String, u64), Error> {
        let ttl = crate::jwt::ACCESS_TTL_SECS;
        let token = self.keys.sign(&self.claims(subject, access, ttl, None))?;
        self.counters.bearer_issued();
        Ok((token, ttl))
    }

    /// Issues a refresh token for a user who logged in with a password or an access
    /// token: it carries that credential's limits and dies with it.
    pub fn issue_refresh(&self, subject: &Subject) -> Result<String, Error> {
        if !matches!(subject.credential, Credential::Password | Credential::AccessToken { .. }) || subject.user.is_none() {
            return Err(Error::InvalidCredentials);
        }
        let token = self.keys.sign(&self.claims(subject, Vec::new(), crate::jwt::REFRESH_TTL_SECS, Some("refresh")))?;
        self.counters.refresh_issued();
        Ok(token)
    }

    fn verified(&self, token: &str) -> Result<Claims, Error> {
        let now = now();
        if let Some(claims) = self.signatures.get(token, now) {
            return Ok(claims);
        }
        let claims = self.keys.verify(token, &self.service)?;
        self.signatures.remember(token, &claims, now);
        Ok(claims)
    }

    /// The subject a bearer token acts as: its user as they are now (active, same
    /// credential epoch, the access token it came from still valid), limited to the
    /// access it lists.
    pub async fn bearer(&self, token: &str) -> Result<Subject, Error> {
        let claims = self.verified(token)?;
        if claims.typ.is_some() {
            return Err(Error::InvalidToken("a refresh token is not an access token".into()));
        }
        let credential = Credential::Bearer(claims.access.clone());
        if claims.sub.is_empty() {
            return Ok(Subject { user: None, credential });
        }
        self.derived(&claims, |_| credential).await
    }

    /// The subject a refresh token stands for: the credential it was obtained with, as
    /// that credential is now.
    pub async fn refresh(&self, token: &str) -> Result<Subject, Error> {
        let claims = self.keys.verify(token, &self.service)?;
        if claims.typ.as_deref() != Some("refresh") || claims.sub.is_empty() {
            return Err(Error::InvalidToken("not a refresh token".into()));
        }
        let tid = claims.tid.clone();
        self.derived(&claims, move |token| match (tid, token) {
            (Some(id), Some(token)) => Credential::AccessToken { id, restriction: restriction_of(token) },
            _ => Credential::Password,
        })
        .await
    }

    /// Checks that what a token was derived from still holds, then builds its subject.
    async fn derived(&self, claims: &Claims, credential: impl FnOnce(Option<&AccessToken>) -> Credential) -> Result<Subject, Error> {
        let gone = || Error::InvalidToken("the credential this token was obtained with has changed".into());
        let token = match &claims.tid {
            Some(id) => Some(self.live_token(id, &claims.sub).await?.ok_or_else(gone)?),
            None => None,
        };
        let subject = self.user_subject(&claims.sub, credential(token.as_ref())).await?.ok_or_else(gone)?;
        if subject.user.as_ref().map(|u| u.epoch) != claims.epoch {
            return Err(gone());
        }
        Ok(subject)
    }
}

/// The policy's facts about many repositories of one read snapshot: what they share (the
/// anonymous-pulls setting, each namespace's grants) is read once, not per repository,
/// so that listing thousands of repositories stays fast.
#[derive(Default)]
pub(crate) struct FactsOfSnapshot {
    anonymous_pulls: Option<bool>,
    namespace_grants: std::collections::HashMap<String, Vec<(String, String, crate::subject::Level)>>,
}

impl FactsOfSnapshot {
    pub(crate) fn facts(&mut self, reader: &Reader, repository: &str) -> Result<RepositoryFacts, berth_meta::Error> {
        // A name a pull-through cache serves (`library/alpine` through the transparent
        // mirror) has the access of the cache's repository; a public cache's are public.
        let cached = reader.cache_for(repository)?;
        let (local, public_cache) = match &cached {
            Some((local, _, cache)) => (local.as_str(), cache.public),
            None => (repository, false),
        };
        let namespace = local.split('/').next().unwrap_or(local).to_owned();
        let public = public_cache || reader.repository(local)?.is_some_and(|r| r.public);
        let anonymous_pulls = match self.anonymous_pulls {
            Some(known) => known,
            None => *self.anonymous_pulls.insert(reader.anonymous_pulls()?),
        };
        if !self.namespace_grants.contains_key(&namespace) {
            self.namespace_grants.insert(namespace.clone(), reader.namespace_grants(&namespace)?);
        }
        let shared = self.namespace_grants.get(&namespace).cloned().unwrap_or_default();
        let grants = reader.repository_grants(local)?.into_iter().chain(shared).collect();
        Ok(RepositoryFacts { name: repository.to_owned(), namespace, public, grants, anonymous_pulls })
    }
}
