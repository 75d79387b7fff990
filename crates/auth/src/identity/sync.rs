//! The directory sync job: makes the accounts that come from LDAP match the directory,
//! and sets the members of every team linked to an LDAP group or search.
//!
//! - A directory user without an account gets one (no local password: they log in by
//!   LDAP bind). An account that came from LDAP gets its name, e-mail and DN refreshed,
//!   and is reactivated if it was deactivated.
//! - An account that came from LDAP whose entry is gone is deactivated, not deleted:
//!   its repositories, tokens and grants stay for an administrator to hand over.
//! - Local accounts are never touched; a directory user whose name a local account
//!   already has is reported, not merged.
//!
//! Every change is an ordinary command, so the job is safe to run while requests are
//! served; the report of the last run is kept in the settings for the API.

use std::collections::{BTreeSet, HashMap};

use berth_meta::command::{CreateAccount, PutSetting, SetTeamMember, UpdateAccount};
use berth_meta::{Account, AccountKind, Applied, Command, Meta, Setting};

use super::ldap::{Directory, normalize_dn};
use crate::Error;

/// What a run did.
pub type SyncReport = berth_meta::LdapSyncReport;

/// One run against `directory`, dated `now`.
pub async fn run(meta: &Meta, directory: &Directory, now: u64) -> Result<SyncReport, Error> {
    let mut report = SyncReport { started_at: now, ..SyncReport::default() };
    let users = directory.users().await?;
    report.directory_users = users.len();

    let logins: BTreeSet<String> = users.iter().map(|u| u.login.clone()).collect();
    let known = meta
        .read(move |r| logins.into_iter().map(|name| Ok((r.account(&name)?, name))).collect::<Result<Vec<_>, berth_meta::Error>>())
        .await?;
    let known: HashMap<String, Option<Account>> = known.into_iter().map(|(a, n)| (n, a)).collect();

    let mut seen = BTreeSet::new();
    // The users whose accounts come from the directory, by normalized DN: team members
    // are matched against these.
    let mut linked: HashMap<String, String> = HashMap::new();
    for user in &users {
        if let Err(e) = berth_core::check_account_name(&user.login) {
            report.problems.push(format!("{}: {:?} is not a valid account name: {e}", user.dn, user.login));
            continue;
        }
        if !seen.insert(user.login.clone()) {
            report.problems.push(format!("{}: another entry has the login {:?}", user.dn, user.login));
            continue;
        }
        let command = match known.get(&user.login).cloned().flatten() {
            None => {
                linked.insert(normalize_dn(&user.dn), user.login.clone());
                report.users_created += 1;
                Command::CreateAccount(from_directory(user, now))
            }
            Some(account) if account.ldap_dn.is_none() => {
                report.problems.push(format!("{}: the local account {:?} has this name; left alone", user.dn, user.login));
                continue;
            }
            Some(account) => {
                let unchanged = account.active
                    && account.full_name == user.full_name
                    && account.email == user.email
                    && account.ldap_dn.as_deref() == Some(user.dn.as_str());
                linked.insert(normalize_dn(&user.dn), user.login.clone());
                if unchanged {
                    continue;
                }
                report.users_updated += 1;
                Command::UpdateAccount(UpdateAccount {
                    name: user.login.clone(),
                    full_name: Some(user.full_name.clone()),
                    email: Some(user.email.clone()),
                    active: Some(true),
                    ldap_dn: Some(user.dn.clone()),
                    ..UpdateAccount::default()
                })
            }
        };
        if let Applied::Rejected(why) = meta.apply(command).await? {
            report.problems.push(format!("{}: {why:?}", user.dn));
        }
    }

    let from_ldap = meta.read(|r| r.directory_accounts()).await?;
    for (name, account) in &from_ldap {
        if account.active && !seen.contains(name) {
            report.users_deactivated += 1;
            let deactivate = UpdateAccount { name: name.clone(), active: Some(false), ..UpdateAccount::default() };
            meta.apply(Command::UpdateAccount(deactivate)).await?;
        }
    }

    for (org, team, how) in meta.read(|r| r.synced_teams()).await? {
        let dns = match directory.members(&how).await {
            Ok(dns) => dns,
            Err(e) => {
                report.problems.push(format!("team {org}/{team}: {e}"));
                continue;
            }
        };
        let wanted: BTreeSet<String> = dns.iter().filter_map(|dn| linked.get(dn).cloned()).collect();
        let (o, t) = (org.clone(), team.clone());
        let current: BTreeSet<String> = meta.read(move |r| r.team_members(&o, &t)).await?.into_iter().collect();
        for (user, member) in wanted.difference(&current).map(|u| (u, true)).chain(current.difference(&wanted).map(|u| (u, false))) {
            let command = SetTeamMember { org: org.clone(), team: team.clone(), user: user.clone(), member };
            match meta.apply(Command::SetTeamMember(command)).await? {
                Applied::Rejected(why) => report.problems.push(format!("team {org}/{team}, member {user}: {why:?}")),
                _ if member => report.members_added += 1,
                _ => report.members_removed += 1,
            }
        }
        report.teams_synced += 1;
    }

    report.finished_at = berth_meta::now();
    let setting = Setting::LdapLastSync(report.clone());
    meta.apply(Command::PutSetting(PutSetting { setting, only_if_absent: false })).await?;
    Ok(report)
}

/// The account a directory user gets, at sync or at first login: no local password (they
/// log in by binding to the directory).
pub fn from_directory(user: &super::DirectoryUser, now: u64) -> CreateAccount {
    CreateAccount {
        name: user.login.clone(),
        kind: AccountKind::User,
        full_name: user.full_name.clone(),
        email: user.email.clone(),
        password_hash: None,
        active: true,
        admin: false,
        ldap_dn: Some(user.dn.clone()),
        at: now,
        adopt_repositories: false,
    }
}
