//! `skip_unsupported_azs`: an interface endpoint is placed only in the subnets whose
//! AZ offers its service (compared by AZ ID where AWS tells it). Pure: from the plan and
//! the services observed, a copy of the plan with those subnets left out, and a note
//! for each one left out, which the plan output shows.

use std::borrow::Cow;

use crate::model::{Address, Kind};
use crate::observe::{EndpointType, Observed};
use crate::plan::{Plan, Ref};
use crate::resources::interface_endpoint::zone_of;

/// The plan as placed, and what was left out where. An endpoint none of whose subnets
/// offers its service keeps them all (the plan's check then refuses it, naming each).
pub fn place_endpoints<'a>(plan: &'a Plan, obs: &Observed) -> (Cow<'a, Plan>, Vec<String>) {
    let mut notes = Vec::new();
    let mut placed = Cow::Borrowed(plan);
    for (key, spec) in &plan.interface_endpoints {
        if !spec.skip_unsupported_azs {
            continue;
        }
        let Some(svc) = obs.services.iter().find(|s| {
            s.service_name == spec.service_name && s.endpoint_type == EndpointType::Interface
        }) else {
            continue;
        };
        let (kept, left): (Vec<&Ref>, Vec<&Ref>) = spec.subnets.iter().partition(|r| {
            zone_of(plan, obs, r).is_none_or(|(az, id)| svc.offered_in(&az, id.as_deref()))
        });
        if left.is_empty() || kept.is_empty() {
            continue;
        }
        let addr = Address::new(Kind::InterfaceEndpoint, key);
        for r in &left {
            let (az, id) = zone_of(plan, obs, r).unwrap_or_default();
            notes.push(format!(
                "{addr}: not placed in subnet {r} ({az}{}): {} is not offered in that AZ (skip_unsupported_azs); clients there reach the endpoint in another AZ",
                id.map(|i| format!(", {i}")).unwrap_or_default(),
                spec.service_name
            ));
        }
        let kept = kept.into_iter().cloned().collect();
        placed
            .to_mut()
            .interface_endpoints
            .get_mut(key)
            .expect("key")
            .subnets = kept;
    }
    (placed, notes)
}
