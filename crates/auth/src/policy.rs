//! DTR's access rules, as one pure function over facts the caller gathers from metadata.
//!
//! - System administrators may do everything.
//! - A user is admin of their own namespace; members of an org's `owners` team are admin
//!   of the org's namespace.
//! - Team grants, on a repository or on its whole namespace, add up: the highest wins.
//! - A public repository may be read by every user, and by anonymous callers when the
//!   registry allows anonymous pulls.
//! - A credential can only narrow what its user may do: a restricted access token
//!   reaches its repositories and actions only, a bearer token what it lists, and
//!   neither manages accounts, teams, grants, tokens or settings.

use crate::subject::{Action, Level, Subject, User};

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

/// The user's access level on the repository, `None` for no access at all (their
/// credential aside).
pub fn level(user: Option<&User>, repo: &RepositoryFacts) -> Option<Level> {
    let Some(User { name, admin, teams, .. }) = user else {
        return (repo.public && repo.anonymous_pulls).then_some(Level::ReadOnly);
    };
    let member = |org: &str, team: &str| teams.iter().any(|(o, t)| o == org && t == team);
    let owner = *admin || *name == repo.namespace || member(&repo.namespace, OWNERS);
    let granted = repo.grants.iter().filter(|(org, team, _)| member(org, team)).map(|(_, _, level)| *level).max();
    let public = repo.public.then_some(Level::ReadOnly);
    if owner { Some(Level::Admin) } else { granted.max(public) }
}

/// Whether the caller may perform `action` on the repository: their level allows it,
/// and their credential permits it.
pub fn may(subject: &Subject, action: Action, repo: &RepositoryFacts) -> bool {
    subject.credential.permits(&repo.name, action) && level(subject.user.as_ref(), repo).is_some_and(|l| l >= action.needs())
}

/// Whether the caller sees the repository in listings (the catalog, `/api/v0`): they may
/// read it, and their credential reaches it.
pub fn sees(subject: &Subject, repo: &RepositoryFacts) -> bool {
    subject.credential.reaches(&repo.name) && level(subject.user.as_ref(), repo).is_some()
}

/// Whether the caller administers organization `org`: a system administrator or an
/// owner, with a credential that may manage.
pub fn owns_org(subject: &Subject, org: &str) -> bool {
    subject.may_manage() && subject.user.as_ref().is_some_and(|u| u.admin || u.teams.iter().any(|(o, t)| o == org && t == OWNERS))
}

/// Whether the caller may manage `user`'s own things (tokens, password, details): the
/// user themself or a system administrator, with a credential that may manage.
pub fn manages_user(subject: &Subject, user: &str) -> bool {
    subject.may_manage() && subject.user.as_ref().is_some_and(|u| u.admin || u.name == user)
}

/// Whether the caller administers namespace `namespace` (its signing policy, grants on
/// it): its user, an owner of its organization, or a system administrator, with a
/// credential that may manage.
pub fn owns_namespace(subject: &Subject, namespace: &str) -> bool {
    owns_org(subject, namespace) || (subject.may_manage() && subject.name() == Some(namespace))
}

/// Whether the caller administers the registry: a system administrator with a
/// credential that may manage.
pub fn administers(subject: &Subject) -> bool {
    subject.may_manage() && subject.is_admin()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::Access;
    use crate::subject::{Credential, Restriction};

    fn user(name: &str, teams: &[(&str, &str)]) -> Subject {
        with(name, teams, Credential::Password)
    }

    fn with(name: &str, teams: &[(&str, &str)], credential: Credential) -> Subject {
        let teams = teams.iter().map(|(o, t)| (o.to_string(), t.to_string())).collect();
        Subject { user: Some(User { name: name.into(), admin: false, teams, epoch: 0 }), credential }
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

    fn restricted(repositories: &[&str], actions: &[Action]) -> Credential {
        let restriction = Restriction { repositories: repositories.iter().map(|r| r.to_string()).collect(), actions: actions.to_vec() };
        Credential::AccessToken { id: "t".into(), restriction: Some(restriction) }
    }

    fn bearer(name: &str, actions: &[&str]) -> Credential {
        Credential::Bearer(vec![Access {
            kind: "repository".into(),
            name: name.into(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
        }])
    }

    /// Every role × every action × public/private repository of an org.
    #[test]
    fn role_action_table() {
        use Action::*;
        let grants = [("acme", "readers", Level::ReadOnly), ("acme", "writers", Level::ReadWrite), ("acme", "admins", Level::Admin)];
        let admin =
            Subject { user: Some(User { name: "root".into(), admin: true, teams: vec![], epoch: 0 }), credential: Credential::Password };
        let admin_pull_token = Subject { credential: restricted(&[], &[Pull]), ..admin.clone() };
        let roles: Vec<(&str, Subject)> = vec![
            ("anonymous", Subject::anonymous()),
            ("stranger", user("bob", &[])),
            ("reader", user("r", &[("acme", "readers")])),
            ("writer", user("w", &[("acme", "writers")])),
            ("team admin", user("a", &[("acme", "admins")])),
            ("owner", user("o", &[("acme", "owners")])),
            ("other org's team", user("x", &[("other", "writers")])),
            ("system admin", admin),
            ("token for another repo", with("w", &[("acme", "writers")], restricted(&["acme/other"], &[]))),
            ("pull-only token", with("w", &[("acme", "writers")], restricted(&[], &[Pull]))),
            ("owner's token for the repo", with("o", &[("acme", "owners")], restricted(&["acme/app"], &[]))),
            ("admin's pull token", admin_pull_token),
            ("owner's bearer with pull", with("o", &[("acme", "owners")], bearer("acme/app", &["pull"]))),
            ("owner's bearer with *", with("o", &[("acme", "owners")], bearer("localhost:5443/acme/app", &["*"]))),
            ("reader's bearer with push", with("r", &[("acme", "readers")], bearer("acme/app", &["pull", "push"]))),
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
            ("owner's token for the repo", [true, true, true, false], [true, true, true, false]),
            ("admin's pull token", [true, false, false, false], [true, false, false, false]),
            ("owner's bearer with pull", [true, false, false, false], [true, false, false, false]),
            ("owner's bearer with *", [true, true, true, true], [true, true, true, true]),
            ("reader's bearer with push", [true, false, false, false], [true, false, false, false]),
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
    fn only_full_credentials_manage() {
        let admin = |credential| Subject { user: Some(User { name: "root".into(), admin: true, teams: vec![], epoch: 0 }), credential };
        assert!(administers(&admin(Credential::Password)));
        assert!(administers(&admin(Credential::AccessToken { id: "t".into(), restriction: None })));
        assert!(!administers(&admin(restricted(&["a/b"], &[Action::Pull]))));
        assert!(!administers(&admin(bearer("a/b", &["*"]))));
        let owner = |credential| with("o", &[("acme", "owners")], credential);
        assert!(owns_org(&owner(Credential::Password), "acme"));
        assert!(!owns_org(&owner(restricted(&[], &[])), "acme"), "a restricted token, even without limits listed, does not manage");
        assert!(!owns_org(&owner(Credential::Password), "other"));
        assert!(manages_user(&with("alice", &[], Credential::Password), "alice"));
        assert!(!manages_user(&with("alice", &[], restricted(&["alice/x"], &[Action::Pull])), "alice"));
        assert!(!manages_user(&with("alice", &[], bearer("alice/x", &["*"])), "alice"));
        assert!(!manages_user(&with("alice", &[], Credential::Password), "bob"));
        assert!(owns_namespace(&with("alice", &[], Credential::Password), "alice"));
        assert!(!manages_user(&Subject::anonymous(), "alice"));
    }

    #[test]
    fn own_namespace_and_namespace_grants() {
        let alice = user("alice", &[("acme", "devs")]);
        assert_eq!(level(alice.user.as_ref(), &repo("alice/anything", false, &[], false)), Some(Level::Admin));
        assert_eq!(level(alice.user.as_ref(), &repo("bob/thing", false, &[], false)), None);
        // A namespace grant reaches repositories that do not exist yet (create on push).
        let ns = repo("acme/new", false, &[("acme", "devs", Level::ReadWrite)], false);
        assert!(may(&alice, Action::Push, &ns));
        // Grants add up: the highest level wins.
        let both = repo("acme/app", false, &[("acme", "devs", Level::ReadOnly), ("acme", "devs", Level::Admin)], false);
        assert_eq!(level(alice.user.as_ref(), &both), Some(Level::Admin));
    }

    #[test]
    fn anonymous_pulls_can_be_switched_off() {
        assert_eq!(level(None, &repo("a/b", true, &[], false)), None);
        assert_eq!(level(None, &repo("a/b", true, &[], true)), Some(Level::ReadOnly));
        assert_eq!(level(None, &repo("a/b", false, &[], true)), None);
    }

    #[test]
    fn listings_follow_the_credential() {
        let facts = repo("acme/app", false, &[], false);
        let owner = |credential| with("o", &[("acme", "owners")], credential);
        assert!(sees(&owner(Credential::Password), &facts));
        assert!(sees(&owner(restricted(&["acme/app"], &[Action::Pull])), &facts));
        assert!(!sees(&owner(restricted(&["acme/other"], &[])), &facts));
        assert!(!Credential::Bearer(vec![]).lists_catalog());
        let catalog = Access { kind: "registry".into(), name: "catalog".into(), actions: vec!["*".into()] };
        assert!(Credential::Bearer(vec![catalog]).lists_catalog());
    }
}
