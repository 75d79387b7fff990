//! The pure check of an update against the stored trust data of a GUN, with Notary's
//! rules: the root's certificates name the GUN, every role meets its threshold over the
//! canonical `signed` bytes, a new root is also signed by the previous root's keys,
//! versions strictly increase, an uploaded snapshot matches the files it lists.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::Error;
use crate::keys;
use crate::tuf::{BASE_ROLES, MetaList, Parsed, PublicKey, RoleKeys, Root, Targets, parent};

/// A broken rule, named as Notary's client decodes it (`detail.Name`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// `ErrValidation`.
    #[error("{0}")]
    Validation(String),
    /// `ErrBadRoot`.
    #[error("{0}")]
    BadRoot(String),
    /// `ErrBadTargets`.
    #[error("{0}")]
    BadTargets(String),
    /// `ErrBadSnapshot`.
    #[error("{0}")]
    BadSnapshot(String),
    /// `ErrBadHierarchy`: a role whose parent is missing or does not delegate to it.
    #[error("{msg}")]
    BadHierarchy {
        /// The missing role.
        missing: String,
        /// What is wrong.
        msg: String,
    },
}

impl Invalid {
    /// The `detail` Notary sends with `INVALID_UPDATE`.
    pub fn detail(&self) -> Value {
        match self {
            Invalid::Validation(m) => json!({"Name": "ErrValidation", "Error": {"Msg": m}}),
            Invalid::BadRoot(m) => json!({"Name": "ErrBadRoot", "Error": {"Msg": m}}),
            Invalid::BadTargets(m) => json!({"Name": "ErrBadTargets", "Error": {"Msg": m}}),
            Invalid::BadSnapshot(m) => json!({"Name": "ErrBadSnapshot", "Error": {"Msg": m}}),
            Invalid::BadHierarchy { missing, msg } => json!({"Name": "ErrBadHierarchy", "Error": {"Missing": missing, "Msg": msg}}),
        }
    }
}

fn invalid(e: Invalid) -> Error {
    Error::InvalidUpdate(e)
}

/// The stored current files of a GUN: role → (version, bytes).
pub type Stored = BTreeMap<String, (u64, Vec<u8>)>;

/// Whether the RFC 3339 `expires` lies before `now` (an unreadable time counts as expired).
pub fn expired(expires: &str, now: OffsetDateTime) -> bool {
    OffsetDateTime::parse(expires, &Rfc3339).map_or(true, |t| t <= now)
}

/// How many distinct keys among `role`'s verify a signature over `file`.
fn valid_signatures(file: &Parsed, role: &RoleKeys, keys: &BTreeMap<String, PublicKey>) -> u64 {
    let mut good = BTreeSet::new();
    for sig in &file.envelope.signatures {
        if good.contains(&sig.keyid) || !role.keyids.contains(&sig.keyid) {
            continue;
        }
        if let Some(key) = keys.get(&sig.keyid)
            && keys::verify(key, sig, &file.canonical)
        {
            good.insert(sig.keyid.clone());
        }
    }
    good.len() as u64
}

fn meets(file: &Parsed, role: &RoleKeys, keys: &BTreeMap<String, PublicKey>) -> bool {
    role.threshold >= 1 && valid_signatures(file, role, keys) >= role.threshold
}

/// Whether a certificate's CN names the GUN (exactly, or as a `prefix*` wildcard).
fn names_gun(common_name: &str, gun: &str) -> bool {
    match common_name.strip_suffix('*') {
        Some(prefix) => gun.starts_with(prefix),
        None => common_name == gun,
    }
}

/// Checks a root file on its own: shape, certificates naming the GUN, its own threshold.
fn check_root(gun: &str, file: &Parsed, now: OffsetDateTime) -> Result<Root, Error> {
    if file.common.kind != "Root" || file.common.version < 1 {
        return Err(invalid(Invalid::BadRoot("root has the wrong type or version".into())));
    }
    let root: Root = file.signed().ok_or_else(|| invalid(Invalid::BadRoot("root is malformed".into())))?;
    for name in BASE_ROLES {
        let role = root.roles.get(name).ok_or_else(|| invalid(Invalid::BadRoot(format!("root does not define the {name} role"))))?;
        if role.threshold < 1 || role.keyids.iter().any(|id| !root.keys.contains_key(id)) {
            return Err(invalid(Invalid::BadRoot(format!("the {name} role names unknown keys or a threshold below 1"))));
        }
    }
    let leeway = 24 * 3600;
    let now_secs = now.unix_timestamp();
    let mut certified = BTreeMap::new();
    if let Some(role) = root.roles.get("root") {
        for id in &role.keyids {
            let Some(key) = root.keys.get(id) else { continue };
            let Some(cert) = keys::certificate(key) else { continue };
            let valid_now = cert.not_before - leeway <= now_secs && now_secs <= cert.not_after;
            if valid_now && !cert.sha1 && cert.common_name.as_deref().is_some_and(|cn| names_gun(cn, gun)) {
                certified.insert(id.clone(), key.clone());
            }
        }
    }
    if certified.is_empty() {
        return Err(invalid(Invalid::BadRoot(format!("unable to retrieve valid leaf certificates for {gun}"))));
    }
    let role = &root.roles["root"];
    if !meets(file, role, &certified) {
        return Err(invalid(Invalid::BadRoot("valid signatures did not meet threshold for root".into())));
    }
    if expired(&file.common.expires, now) {
        return Err(invalid(Invalid::BadRoot("root has expired".into())));
    }
    Ok(root)
}

/// The keys and threshold `role` must be signed with: from the root for `targets`,
/// from its parent's delegations otherwise.
fn signers(role: &str, root: &Root, files: &BTreeMap<String, Parsed>) -> Result<(RoleKeys, BTreeMap<String, PublicKey>), Error> {
    if role == "targets" {
        let keys = root.roles.get("targets").cloned().ok_or_else(|| invalid(Invalid::BadRoot("no targets role".into())))?;
        return Ok((keys, root.keys.clone()));
    }
    let parent_name = parent(role).unwrap_or("targets");
    let missing = || invalid(Invalid::BadHierarchy { missing: parent_name.to_owned(), msg: format!("parent of {role} is missing") });
    let parent_file = files.get(parent_name).ok_or_else(missing)?;
    let parent_targets: Targets = parent_file.signed().ok_or_else(missing)?;
    let delegation = parent_targets.delegations.roles.iter().find(|d| d.name == role).ok_or_else(|| {
        invalid(Invalid::BadHierarchy { missing: role.to_owned(), msg: format!("{parent_name} does not delegate to {role}") })
    })?;
    Ok((RoleKeys { keyids: delegation.keyids.clone(), threshold: delegation.threshold }, parent_targets.delegations.keys))
}

fn check_targets(role: &str, file: &Parsed, root: &Root, files: &BTreeMap<String, Parsed>, now: OffsetDateTime) -> Result<(), Error> {
    let bad = |m: String| invalid(Invalid::BadTargets(m));
    if file.common.kind != "Targets" || file.common.version < 1 {
        return Err(bad(format!("{role} has the wrong type or version")));
    }
    let targets: Targets = file.signed().ok_or_else(|| bad(format!("{role} is malformed")))?;
    let (keys_needed, keys) = signers(role, root, files)?;
    if !meets(file, &keys_needed, &keys) {
        return Err(bad(format!("valid signatures did not meet threshold for {role}")));
    }
    if expired(&file.common.expires, now) {
        return Err(bad(format!("{role} has expired")));
    }
    for child in &targets.delegations.roles {
        let direct = child.name.strip_prefix(role).and_then(|r| r.strip_prefix('/')).is_some_and(|n| !n.is_empty() && !n.contains('/'));
        let known = child.keyids.iter().all(|id| targets.delegations.keys.contains_key(id));
        if !direct || !known || child.threshold < 1 || !crate::tuf::valid_role(&child.name) {
            return Err(bad(format!("{role} has an invalid delegation {}", child.name)));
        }
    }
    Ok(())
}

fn check_snapshot(file: &Parsed, root: &Root, bytes: &BTreeMap<String, Vec<u8>>, now: OffsetDateTime) -> Result<(), Error> {
    let bad = |m: &str| invalid(Invalid::BadSnapshot(m.to_owned()));
    let snapshot: MetaList = file.signed().ok_or_else(|| bad("snapshot is malformed"))?;
    if snapshot.kind != "Snapshot" || snapshot.version < 1 {
        return Err(bad("snapshot has the wrong type or version"));
    }
    let role = root.roles.get("snapshot").ok_or_else(|| bad("no snapshot role"))?;
    if !meets(file, role, &root.keys) {
        return Err(bad("valid signatures did not meet threshold for snapshot"));
    }
    if expired(&snapshot.expires, now) {
        return Err(bad("snapshot has expired"));
    }
    for required in ["root", "targets"] {
        if !snapshot.meta.contains_key(required) {
            return Err(bad("snapshot does not list root and targets"));
        }
    }
    for (name, listed) in &snapshot.meta {
        let Some(current) = bytes.get(name) else { continue };
        let actual = crate::tuf::file_meta(current);
        if listed.length != actual.length || listed.hashes.get("sha256") != actual.hashes.get("sha256") {
            return Err(bad(&format!("snapshot's hash for {name} does not match the {name} file")));
        }
    }
    Ok(())
}

/// The outcome of a valid update.
#[derive(Debug)]
pub struct Checked {
    /// The root in force after the update.
    pub root: Root,
    /// Every current file after the update (the stored ones overlaid with the update's).
    pub files: BTreeMap<String, Vec<u8>>,
}

/// Checks `update` (role → file; timestamps already dropped) against `stored`.
pub fn check(gun: &str, stored: &Stored, update: &BTreeMap<String, Parsed>, now: OffsetDateTime) -> Result<Checked, Error> {
    for (role, file) in update {
        if let Some((version, _)) = stored.get(role)
            && file.common.version <= *version
        {
            return Err(Error::OldVersion(role.clone()));
        }
    }
    let stored_parsed = |role: &str| stored.get(role).and_then(|(_, b)| Parsed::parse(b.clone()));
    let old_root = stored_parsed("root");
    let root = match (update.get("root"), &old_root) {
        (Some(file), old) => {
            let root = check_root(gun, file, now)?;
            if let Some(old_file) = old {
                let old_root: Root = old_file.signed().ok_or_else(|| invalid(Invalid::BadRoot("stored root is unreadable".into())))?;
                let old_role =
                    old_root.roles.get("root").ok_or_else(|| invalid(Invalid::BadRoot("stored root has no root role".into())))?;
                if !meets(file, old_role, &old_root.keys) {
                    return Err(invalid(Invalid::BadRoot("new root is not signed by the previous root's keys to their threshold".into())));
                }
            }
            root
        }
        (None, Some(old_file)) => old_file.signed().ok_or_else(|| invalid(Invalid::BadRoot("stored root is unreadable".into())))?,
        (None, None) => return Err(invalid(Invalid::Validation("no pre-existing root and no root provided in update.".into()))),
    };

    // Current files after the update, parsed, for delegation lookups.
    let mut files: BTreeMap<String, Parsed> = BTreeMap::new();
    for role in stored.keys() {
        if let Some(p) = stored_parsed(role) {
            files.insert(role.clone(), p);
        }
    }
    for (role, file) in update {
        files.insert(role.clone(), file.clone());
    }

    let mut targets_roles: Vec<&String> = update.keys().filter(|r| r.as_str() == "targets" || r.starts_with("targets/")).collect();
    targets_roles.sort_by_key(|r| r.matches('/').count());
    for role in targets_roles {
        check_targets(role, &update[role], &root, &files, now)?;
    }

    let bytes: BTreeMap<String, Vec<u8>> = files.iter().map(|(r, p)| (r.clone(), p.bytes.clone())).collect();
    if let Some(snapshot) = update.get("snapshot") {
        check_snapshot(snapshot, &root, &bytes, now)?;
    }
    Ok(Checked { root, files: bytes })
}
