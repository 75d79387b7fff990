//! The scheduled steps of repository policies, where the registry's policies meet the
//! access policy: a pruning or promotion policy is a standing order of the user who made
//! it, so it acts only while that user may still do what it does (administer the
//! repository it prunes, push to the repository it promotes to). A maker who lost the
//! right, or was deactivated, has their policies' runs refused, and recorded as such.

use berth_auth::Auth;
use berth_core::Action;
use berth_registry::Registry;

/// One step of the promotion worker; how many promotions were proposed.
pub async fn promote(registry: &Registry, auth: &Auth) -> Result<u64, berth_registry::Error> {
    registry
        .run_promotions(|maker, target| async move { auth.user_may(&maker, &target, Action::Push).await.map_err(|e| e.to_string()) })
        .await
}

/// One scheduled run of every enabled pruning policy; how many tags went.
pub async fn prune(registry: &Registry, auth: &Auth) -> Result<u64, berth_registry::Error> {
    registry
        .run_pruning_policies(|maker, repository| async move {
            auth.user_may(&maker, &repository, Action::Admin).await.map_err(|e| e.to_string())
        })
        .await
}
