//! Sorted, paged listings: a repository's tags, the catalog, and referrers.

use berth_core::{Descriptor, Digest};
use berth_meta::Page;
use berth_meta::query::{Listing, Reader};

use crate::{Error, Registry};

impl Registry {
    /// A page of the repository's tags, in lexical order.
    pub async fn tags(&self, repository: &str, page: Page) -> Result<Listing, Error> {
        let repo = repository.to_owned();
        let listing = self
            .meta
            .read(move |r| if r.repository_exists(&repo)? { r.tags(&repo, &page).map(Some) } else { Ok(None) })
            .await?;
        listing.ok_or(Error::NameUnknown)
    }

    /// A page of the repository names `visible` accepts, in lexical order.
    pub async fn catalog(
        &self,
        page: Page,
        visible: impl Fn(&Reader, &str) -> Result<bool, berth_meta::Error> + Send + 'static,
    ) -> Result<Listing, Error> {
        Ok(self.meta.read(move |r| r.visible_repositories(&page, visible)).await?)
    }

    /// The manifests in `repository` whose subject is `subject`, filtered by artifact type.
    /// Empty (never an error) when nothing refers to it, or nothing was pushed there yet,
    /// as the distribution-spec requires.
    pub async fn referrers(&self, repository: &str, subject: &Digest, artifact_type: Option<String>) -> Result<Vec<Descriptor>, Error> {
        let (repo, subject) = (repository.to_owned(), subject.to_string());
        Ok(self.meta.read(move |r| r.referrers(&repo, &subject, artifact_type.as_deref())).await?)
    }
}
