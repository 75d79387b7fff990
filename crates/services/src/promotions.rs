//! The promotion worker's step, where the registry's promotions meet the access policy:
//! a promotion policy is a standing order of the user who made it, so each promotion is
//! made only while that user may still push to the target (a maker who lost the right,
//! or was deactivated, has their policies' promotions refused and recorded as such).

use berth_auth::Auth;
use berth_core::Action;
use berth_registry::Registry;

/// One step of the promotion worker; how many promotions were proposed.
pub async fn promote(registry: &Registry, auth: &Auth) -> Result<u64, berth_registry::Error> {
    registry
        .run_promotions(|maker, target| async move { auth.user_may(&maker, &target, Action::Push).await.map_err(|e| e.to_string()) })
        .await
}
