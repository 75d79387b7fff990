//! DTR's access rules, as one pure function over facts the caller gathers from metadata.
//!
//! - System administrators may do everything.
//! - A user is admin of their own namespace; members of an org's `owners` team are admin
//!   of the org's namespace.
//! - Team grants, on a repository or on its whole namespace, add up: the highest wins.
//! - A public repository may be read by every user, and by anonymous callers when the
//!   registry allows anonymous pulls.
//! - An access token can only narrow what its user may do.

use crate::subject::{Action, Level, Subject};

/// What the policy needs to know of a repository (which may not exist yet).
#[derive(Debug, Clone, Default)]
pub struct RepositoryFacts {
    /// The repository's name.
    pub name: String,
    /// Its namespace (first component).
    pub namespace: String,
    /// Whether it is public.
    pub public: bool,
    /// Team grants on it and on its namespace: (org, team, level).
    pub grants: Vec<(String, String, Level)>,
    /// Whether anonymous callers may pull public repositories.
    pub anonymous_pulls: bool,
}

/// The team whose members administer an organization.
pub const OWNERS: &str = "owners";

/// The caller's access level on the repository, `None` for no access at all.
pub fn level(subject: &Subject, repo: &RepositoryFacts) -> Option<Level> {
    let Subject::User { name, admin, teams, restriction } = subject else {
        return (repo.public && repo.anonymous_pulls).then_some(Level::ReadOnly);
    };
    if restriction.as_ref().is_some_and(|r| !r.repositories.is_empty() && !r.repositories.contains(&repo.name)) {
        return None;
    }
    let member = |org: &str, team: &str| teams.iter().any(|(o, t)| o == org && t == team);
    let owner = *admin || *name == repo.namespace || member(&repo.namespace, OWNERS);
    let granted = repo.grants.iter().filter(|(org, team, _)| member(org, team)).map(|(_, _, level)| *level).max();
    let public = repo.public.then_some(Level::ReadOnly);
    if owner { Some(Level::Admin) } else { granted.max(public) }
}

/// Whether the caller may perform `action` on the repository.
pub fn may(subject: &Subject, action: Action, repo: &RepositoryFacts) -> bool {
    if let Subject::User { restriction: Some(r), .. } = subject
        && !r.actions.is_empty()
        && !r.actions.contains(&action)
    {
        return false;
    }
    level(subject, repo).is_some_and(|l| l >= action.needs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subject::Restriction;

    fn user(name: &str, teams: &[(&str, &str)]) -> Subject {
        Subject::User {
            name: name.into(),
            admin: false,
            teams: teams.iter().map(|(o, t)| (o.to_string(), t.to_string())).collect(),
            restriction: None,
        }
    }

    fn repo(name: &str, public: bool, grants: &[(&str, &str, Level)], anonymous_pulls: bool) -> RepositoryFacts {
        RepositoryFacts {
            name: name.into(),
            namespace: name.split('/').next().unwrap().into(),
            public,
            grants: grants.iter().map(|(o, t, l)| (o.to_string(), t.to_string(), *l)).collect(),
            anonymous_pulls,
        }
    }

    /// Every role × every action × public/private repository of an org.
    #[test]
    fn role_action_table() {
        use Action::*;
        let grants = [("acme", "readers", Level::ReadOnly), ("acme", "writers", Level::ReadWrite), ("acme", "admins", Level::Admin)];
        let admin = Subject::User { name: "root".into(), admin: true, teams: vec![], restriction: None };
        let token_other = Subject::User {
            name: "w".into(),
            admin: false,
            teams: vec![("acme".into(), "writers".into())],
            restriction: Some(Restriction { repositories: vec!["acme/other".into()], actions: vec![] }),
        };
        let token_pull_only = Subject::User {
            name: "w".into(),
            admin: false,
            teams: vec![("acme".into(), "writers".into())],
            restriction: Some(Restriction { repositories: vec![], actions: vec![Pull] }),
        };
        let roles: Vec<(&str, Subject)> = vec![
            ("anonymous", Subject::Anonymous),
            ("stranger", user("bob", &[])),
            ("reader", user("r", &[("acme", "readers")])),
            ("writer", user("w", &[("acme", "writers")])),
            ("team admin", user("a", &[("acme", "admins")])),
            ("owner", user("o", &[("acme", "owners")])),
            ("other org's team", user("x", &[("other", "writers")])),
            ("system admin", admin),
            ("token for another repo", token_other),
            ("pull-only token", token_pull_only),
        ];
        // Expected: [pull, push, delete, admin] on a private repo, then on a public one.
        let expected: &[(&str, [bool; 4], [bool; 4])] = &[
            ("anonymous", [false, false, false, false], [true, false, false, false]),
            ("stranger", [false, false, false, false], [true, false, false, false]),
            ("reader", [true, false, false, false], [true, false, false, false]),
            ("writer", [true, true, true, false], [true, true, true, false]),
            ("team admin", [true, true, true, true], [true, true, true, true]),
            ("owner", [true, true, true, true], [true, true, true, true]),
            ("other org's team", [false, false, false, false], [true, false, false, false]),
            ("system admin", [true, true, true, true], [true, true, true, true]),
            ("token for another repo", [false, false, false, false], [false, false, false, false]),
            ("pull-only token", [true, false, false, false], [true, false, false, false]),
        ];
        for ((role, subject), (name, private_expected, public_expected)) in roles.iter().zip(expected) {
            assert_eq!(role, name);
            for (public, want) in [(false, private_expected), (true, public_expected)] {
                let facts = repo("acme/app", public, &grants, true);
                let got = [Pull, Push, Delete, Admin].map(|a| may(subject, a, &facts));
                assert_eq!(&got, want, "{role} on a {} repository", if public { "public" } else { "private" });
            }
        }
    }

    #[test]
    fn own_namespace_and_namespace_grants() {
        let alice = user("alice", &[("acme", "devs")]);
        assert_eq!(level(&alice, &repo("alice/anything", false, &[], false)), Some(Level::Admin));
        assert_eq!(level(&alice, &repo("bob/thing", false, &[], false)), None);
        // A namespace grant reaches repositories that do not exist yet (create on push).
        let ns = repo("acme/new", false, &[("acme", "devs", Level::ReadWrite)], false);
        assert!(may(&alice, Action::Push, &ns));
        // Grants add up: the highest level wins.
        let both = repo("acme/app", false, &[("acme", "devs", Level::ReadOnly), ("acme", "devs", Level::Admin)], false);
        assert_eq!(level(&alice, &both), Some(Level::Admin));
    }

    #[test]
    fn anonymous_pulls_can_be_switched_off() {
        assert_eq!(level(&Subject::Anonymous, &repo("a/b", true, &[], false)), None);
        assert_eq!(level(&Subject::Anonymous, &repo("a/b", true, &[], true)), Some(Level::ReadOnly));
        assert_eq!(level(&Subject::Anonymous, &repo("a/b", false, &[], true)), None);
    }
}
