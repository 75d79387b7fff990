//! Repository names, per the distribution-spec grammar:
//! `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`, at most 255
//! characters. Checked by hand (no regex engine) so that the check is cheap on every request.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest repository name accepted.
pub const MAX_NAME_LEN: usize = 255;

/// Why a repository name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Empty name.
    #[error("repository name is empty")]
    Empty,
    /// Over [`MAX_NAME_LEN`] characters.
    #[error("repository name is {0} characters long; the limit is 255")]
    TooLong(usize),
    /// A path component breaks the grammar.
    #[error("repository name component {0:?} is invalid: use lower-case letters and digits, separated by '.', '_', '__' or '-'")]
    InvalidComponent(String),
    /// An account name that clients would read as a registry host.
    #[error("{0:?} reads as a registry host (it holds a '.' or is \"localhost\"); choose a name without dots")]
    HostLike(String),
}

/// Checks an account (user or organization) name: one repository-name component that no
/// client would read as a registry host. Docker and the token scopes take the first
/// component of `a.b/app` (or `localhost/app`) as a host, so such a namespace could not be
/// reached by its own name.
pub fn check_account_name(name: &str) -> Result<(), NameError> {
    if name.contains('/') {
        return Err(NameError::InvalidComponent(name.to_owned()));
    }
    name.parse::<RepositoryName>()?;
    if name.contains('.') || name == "localhost" {
        return Err(NameError::HostLike(name.to_owned()));
    }
    Ok(())
}

/// Splits a registry host off a host-qualified name (`localhost:5443/dev/app` →
/// `(Some("localhost:5443"), "dev/app")`), the way the Docker clients tell a host from a
/// namespace: the first component is a host when it holds a `.` or a `:`, or is
/// `localhost`. Trust scopes and GUNs arrive host-qualified; the daemon's scopes do not.
pub fn split_host(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (Some(first), rest),
        _ => (None, name),
    }
}

/// A validated repository name such as `library/nginx` or `org/team/app`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepositoryName(String);

impl RepositoryName {
    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first path component: the namespace (user or org) the repository lives in.
    pub fn namespace(&self) -> &str {
        self.0.split('/').next().unwrap_or(&self.0)
    }
}

fn valid_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        // A separator run: '.', '_', '__' or one or more '-'.
        let start = i;
        let sep = bytes[i];
        while i < bytes.len() && bytes[i] == sep {
            i += 1;
        }
        let run = i - start;
        let ok = match sep {
            b'.' => run == 1,
            b'_' => run <= 2,
            b'-' => true,
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

impl FromStr for RepositoryName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        if s.len() > MAX_NAME_LEN {
            return Err(NameError::TooLong(s.len()));
        }
        if let Some(bad) = s.split('/').find(|c| !valid_component(c)) {
            return Err(NameError::InvalidComponent(bad.to_owned()));
        }
        Ok(RepositoryName(s.to_owned()))
    }
}

impl fmt::Display for RepositoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RepositoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RepositoryName({})", self.0)
    }
}

impl Serialize for RepositoryName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RepositoryName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splits_registry_hosts() {
        assert_eq!(split_host("localhost:5443/dev/app"), (Some("localhost:5443"), "dev/app"));
        assert_eq!(split_host("registry.example.org/dev/app"), (Some("registry.example.org"), "dev/app"));
        assert_eq!(split_host("localhost/dev"), (Some("localhost"), "dev"));
        assert_eq!(split_host("dev/app"), (None, "dev/app"));
        assert_eq!(split_host("app"), (None, "app"));
    }

    #[test]
    fn account_names() {
        for ok in ["alice", "acme", "dev-ops", "a_b", "x9"] {
            assert!(check_account_name(ok).is_ok(), "{ok}");
        }
        for bad in ["evil.com", "localhost", "john.doe", "a/b", "UP", "", "a:1"] {
            assert!(check_account_name(bad).is_err(), "{bad}");
        }
        assert!(matches!(check_account_name("evil.com"), Err(NameError::HostLike(_))));
    }

    #[test]
    fn accepts_spec_names() {
        for ok in ["a", "library/nginx", "org/team/app", "a.b", "a_b", "a__b", "a---b", "0/1/2/3/4/5/6/7/8/9", "my-app.v2/x_y"] {
            assert!(ok.parse::<RepositoryName>().is_ok(), "{ok}");
        }
        assert_eq!("org/team/app".parse::<RepositoryName>().unwrap().namespace(), "org");
    }

    #[test]
    fn refuses_bad_names() {
        let long = "a".repeat(256);
        for bad in ["", "../x", "A", "Upper/case", "a//b", "/a", "a/", "a..b", "a___b", ".a", "a-", "a b", "a/.", long.as_str()] {
            assert!(bad.parse::<RepositoryName>().is_err(), "{bad}");
        }
        assert!("a".repeat(255).parse::<RepositoryName>().is_ok());
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,300}") {
            let _ = s.parse::<RepositoryName>();
        }

        #[test]
        fn grammar_names_are_accepted(s in "[a-z0-9]{1,8}((\\.|_|__|-{1,3})[a-z0-9]{1,8}){0,3}(/[a-z0-9]{1,8}((\\.|_|__|-{1,3})[a-z0-9]{1,8}){0,3}){0,4}") {
            prop_assert!(s.parse::<RepositoryName>().is_ok());
        }
    }
}
