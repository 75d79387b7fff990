//! The LDAP / Active Directory client: finds users, checks their passwords by binding as
//! them, and lists the members of groups. Every operation opens its own connection,
//! binds with the service account and closes it: logins are cached and sync is
//! periodic, so connection reuse would save little and a broken connection nothing.
//!
//! Nothing here writes metadata; [`super::sync`] and the login path decide what to do
//! with what the directory says.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ldap3::adapters::{EntriesOnly, PagedResults};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry, ldap_escape};
use rustls::ClientConfig;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use berth_meta::TeamSync;

/// How to reach and read the directory.
#[derive(Debug, Clone)]
pub struct LdapOptions {
    /// `ldap://host:port` or `ldaps://host:port`.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS.
    pub start_tls: bool,
    /// PEM certificates to trust for LDAPS/StartTLS instead of the system's roots.
    pub ca_pem: Option<Vec<u8>>,
    /// The service account that searches (empty for an anonymous bind).
    pub bind_dn: String,
    /// Its password.
    pub bind_password: berth_core::Secret,
    /// Where user entries live.
    pub user_base_dn: String,
    /// Which entries under it are users, e.g. `(objectClass=person)`.
    pub user_filter: String,
    /// Search the whole subtree under `user_base_dn` (`false`: one level).
    pub user_subtree: bool,
    /// The attribute holding the login name: `uid`, or `sAMAccountName` for AD.
    pub login_attribute: String,
    /// The attribute holding the display name.
    pub full_name_attribute: String,
    /// The attribute holding the e-mail address.
    pub email_attribute: String,
    /// Connection and operation timeout.
    pub timeout: Duration,
}

/// A user entry, as the account it becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    /// The entry's DN.
    pub dn: String,
    /// The login attribute's value, lowercased: the account name.
    pub login: String,
    /// Display name.
    pub full_name: String,
    /// E-mail address.
    pub email: String,
}

/// The directory could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// Connection, TLS, bind of the service account, or a failed operation.
    #[error("LDAP: {0}")]
    Ldap(#[from] ldap3::LdapError),
    /// The configured CA file holds no usable certificate.
    #[error("LDAP CA certificates: {0}")]
    Ca(String),
    /// The operation took longer than the timeout.
    #[error("LDAP: no answer within the timeout")]
    Timeout,
}

/// The LDAP directory.
#[derive(Clone)]
pub struct Directory {
    options: Arc<LdapOptions>,
    tls: Option<Arc<ClientConfig>>,
}

/// Page size for listing users: Active Directory refuses more than 1000 per page.
const PAGE_SIZE: i32 = 500;

impl Directory {
    /// How it is reached and read (the bind password stays a redacted `Secret`).
    pub fn options(&self) -> &LdapOptions {
        &self.options
    }

    /// Checks the options (the CA file) without connecting.
    pub fn new(options: LdapOptions) -> Result<Directory, DirectoryError> {
        let tls = match &options.ca_pem {
            None => None,
            Some(pem) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(pem) {
                    let cert = cert.map_err(|e| DirectoryError::Ca(e.to_string()))?;
                    roots.add(cert).map_err(|e| DirectoryError::Ca(e.to_string()))?;
                }
                if roots.is_empty() {
                    return Err(DirectoryError::Ca("no certificate found".into()));
                }
                let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
                let config = ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| DirectoryError::Ca(e.to_string()))?
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                Some(Arc::new(config))
            }
        };
        Ok(Directory { options: Arc::new(options), tls })
    }

    /// A connection bound as the service account.
    async fn connect(&self) -> Result<Ldap, DirectoryError> {
        let o = &self.options;
        let mut settings = LdapConnSettings::new().set_conn_timeout(o.timeout).set_starttls(o.start_tls);
        if let Some(tls) = &self.tls {
            settings = settings.set_config(tls.clone());
        }
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &o.url).await?;
        ldap3::drive!(conn);
        ldap.with_timeout(o.timeout).simple_bind(&o.bind_dn, o.bind_password.expose()).await?.success()?;
        Ok(ldap)
    }

    fn attributes(&self) -> Vec<String> {
        let o = &self.options;
        vec![o.login_attribute.clone(), o.full_name_attribute.clone(), o.email_attribute.clone()]
    }

    fn user_scope(&self) -> Scope {
        if self.options.user_subtree { Scope::Subtree } else { Scope::OneLevel }
    }

    /// The user entry whose login attribute is `login`, if exactly one exists.
    pub async fn find_user(&self, login: &str) -> Result<Option<DirectoryUser>, DirectoryError> {
        let mut ldap = self.connect().await?;
        let found = self.find_with(&mut ldap, login).await;
        let _ = ldap.unbind().await;
        found
    }

    async fn find_with(&self, ldap: &mut Ldap, login: &str) -> Result<Option<DirectoryUser>, DirectoryError> {
        let o = &self.options;
        let filter = format!("(&{}({}={}))", o.user_filter, o.login_attribute, ldap_escape(login));
        let (entries, _) =
            ldap.with_timeout(o.timeout).search(&o.user_base_dn, self.user_scope(), &filter, self.attributes()).await?.success()?;
        let mut users: Vec<DirectoryUser> = entries.into_iter().filter_map(|e| self.user(SearchEntry::construct(e))).collect();
        // Two entries with one login name are ambiguous: refuse rather than guess.
        Ok(if users.len() == 1 { users.pop() } else { None })
    }

    /// The user `login` if `password` is theirs: found with the service account, then
    /// bound as. An empty password is refused before asking, because LDAP treats a
    /// simple bind without one as an anonymous bind, which succeeds.
    pub async fn authenticate(&self, login: &str, password: &str) -> Result<Option<DirectoryUser>, DirectoryError> {
        if password.is_empty() {
            return Ok(None);
        }
        let mut ldap = self.connect().await?;
        let result = async {
            let Some(user) = self.find_with(&mut ldap, login).await? else { return Ok(None) };
            let bind = ldap.with_timeout(self.options.timeout).simple_bind(&user.dn, password).await?;
            Ok(bind.success().is_ok().then_some(user))
        }
        .await;
        let _ = ldap.unbind().await;
        result
    }

    /// Every user entry, read in pages.
    pub async fn users(&self) -> Result<Vec<DirectoryUser>, DirectoryError> {
        let o = &self.options;
        let mut ldap = self.connect().await?;
        let adapters: Vec<Box<dyn ldap3::adapters::Adapter<_, _>>> =
            vec![Box::new(EntriesOnly::new()), Box::new(PagedResults::new(PAGE_SIZE))];
        let mut stream =
            ldap.streaming_search_with(adapters, &o.user_base_dn, self.user_scope(), &o.user_filter, self.attributes()).await?;
        let mut users = Vec::new();
        let deadline = tokio::time::Instant::now() + o.timeout * 10;
        loop {
            let next = tokio::time::timeout_at(deadline, stream.next()).await.map_err(|_| DirectoryError::Timeout)??;
            let Some(entry) = next else { break };
            if let Some(user) = self.user(SearchEntry::construct(entry)) {
                users.push(user);
            }
        }
        stream.finish().await.success()?;
        let _ = ldap.unbind().await;
        Ok(users)
    }

    /// The DNs of a team's members as `sync` selects them, lowercased.
    pub async fn members(&self, sync: &TeamSync) -> Result<Vec<String>, DirectoryError> {
        let timeout = self.options.timeout;
        let mut ldap = self.connect().await?;
        let dns = if sync.select_group_members {
            let attrs = vec![sync.group_member_attribute.clone()];
            let (entries, _) = ldap.with_timeout(timeout).search(&sync.group_dn, Scope::Base, "(objectClass=*)", attrs).await?.success()?;
            entries
                .into_iter()
                .flat_map(|e| attribute_values(&SearchEntry::construct(e).attrs, &sync.group_member_attribute))
                .collect::<Vec<_>>()
        } else {
            let scope = if sync.search_subtree { Scope::Subtree } else { Scope::OneLevel };
            let filter = if sync.search_filter.is_empty() { "(objectClass=*)" } else { &sync.search_filter };
            let (entries, _) = ldap.with_timeout(timeout).search(&sync.search_base_dn, scope, filter, vec!["1.1"]).await?.success()?;
            entries.into_iter().map(|e| SearchEntry::construct(e).dn).collect()
        };
        let _ = ldap.unbind().await;
        Ok(dns.into_iter().map(|dn| normalize_dn(&dn)).collect())
    }

    fn user(&self, entry: SearchEntry) -> Option<DirectoryUser> {
        let o = &self.options;
        let first = |name: &str| attribute_values(&entry.attrs, name).into_iter().next().unwrap_or_default();
        let login = first(&o.login_attribute).to_lowercase();
        if login.is_empty() {
            return None;
        }
        Some(DirectoryUser { login, full_name: first(&o.full_name_attribute), email: first(&o.email_attribute), dn: entry.dn })
    }
}

/// The values of an attribute; servers may answer with any capitalization of its name.
fn attribute_values(attrs: &HashMap<String, Vec<String>>, name: &str) -> Vec<String> {
    attrs.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).flat_map(|(_, v)| v.iter().cloned()).collect()
}

/// A DN in the form DNs are compared in: lowercased, without spaces after separators.
/// (Directories answer with the case they stored; group member values are written by
/// hand and may differ in case and spacing.)
pub fn normalize_dn(dn: &str) -> String {
    dn.split(',').map(|rdn| rdn.trim().to_lowercase()).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_compare_without_case_or_spaces() {
        assert_eq!(normalize_dn("uid=Alice, ou=People,dc=Example,dc=org"), "uid=alice,ou=people,dc=example,dc=org");
    }
}
