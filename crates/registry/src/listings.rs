//! Sorted, paged listings: a repository's tags, and referrers. (The catalog is a listing
//! of what a caller may see, so `berth-auth` answers it.)

use berth_core::{Descriptor, Digest, RepositoryName};
use berth_meta::Page;
use berth_meta::query::Listing;

use crate::{Error, Registry};

impl Registry {
    /// A page of the repository's tags, in lexical order.
    pub async fn tags(&self, repository: &RepositoryName, page: Page) -> Result<Listing, Error> {
        let repo = repository.to_string();
        let listing =
            self.meta.read_latest(move |r| if r.repository_exists(&repo)? { r.tags(&repo, &page).map(Some) } else { Ok(None) }).await?;
        listing.ok_or(Error::NameUnknown)
    }

    /// The manifests in `repository` whose subject is `subject`, filtered by artifact type.
    /// Empty (never an error) when nothing refers to it, or nothing was pushed there yet,
    /// as the distribution-spec requires.
    pub async fn referrers(
        &self,
        repository: &RepositoryName,
        subject: &Digest,
        artifact_type: Option<String>,
    ) -> Result<Vec<Descriptor>, Error> {
        let (repo, subject) = (repository.to_string(), subject.to_string());
        Ok(self.meta.read_latest(move |r| r.referrers(&repo, &subject, artifact_type.as_deref())).await?)
    }
}
