//! Where identities come from besides local accounts: the LDAP / Active Directory
//! directory ([`ldap`]) and the job that mirrors its users and groups into accounts and
//! team members ([`sync`]).

pub mod ldap;
pub mod sync;

pub use ldap::{Directory, DirectoryUser, LdapOptions};
pub use sync::SyncReport;
