//! What the two endpoint kinds (gateway and interface) share: the observed endpoint, the
//! endpoint calls, the wait after a create or modify, policies as attributes.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::Call;
use crate::changeset::{compact, IdRef};
use crate::execute::waiter::Target;
use crate::execute::{NodeFailure, Run};
use crate::observe::Tags;
use crate::plan::policy;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointType {
    Gateway,
    Interface,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedEndpoint {
    pub id: String,
    pub vpc_id: String,
    pub endpoint_type: EndpointType,
    pub service_name: String,
    pub state: String,
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
    pub route_table_ids: Vec<String>,
    pub private_dns: bool,
    pub policy: Option<Value>,
    pub tags: Tags,
    /// The endpoint's DNS names (interface endpoints), for `sagevpc output`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_names: Vec<String>,
}

impl super::Live for ObservedEndpoint {
    fn id(&self) -> &str {
        &self.id
    }
    fn tags(&self) -> &Tags {
        &self.tags
    }
    fn vpc_id(&self) -> Option<&str> {
        Some(&self.vpc_id)
    }
    /// Its network interfaces sit in its subnets and carry its groups; a gateway
    /// endpoint's routes sit in its route tables.
    fn holds(&self) -> Vec<&str> {
        std::iter::once(self.vpc_id.as_str())
            .chain(self.subnet_ids.iter().map(String::as_str))
            .chain(self.security_group_ids.iter().map(String::as_str))
            .chain(self.route_table_ids.iter().map(String::as_str))
            .collect()
    }
    fn normalize(&mut self) {
        self.subnet_ids.sort();
        self.security_group_ids.sort();
        self.route_table_ids.sort();
        self.policy = self.policy.as_ref().map(policy::normalize);
    }
}

/// An endpoint service of the region, with the AZs it is offered in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceInfo {
    pub service_name: String,
    pub endpoint_type: EndpointType,
    pub availability_zones: Vec<String>,
    /// The same zones by ID, when AWS tells them (`ServiceDetail.AvailabilityZoneIds`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub availability_zone_ids: Vec<String>,
}

impl ServiceInfo {
    /// Whether the service is offered in a zone: compared by ID when both sides know
    /// it (IDs name the same zone in every account), else by this account's name. A
    /// service that lists no zones is taken as offered everywhere.
    pub fn offered_in(&self, name: &str, id: Option<&str>) -> bool {
        match id {
            Some(id) if !self.availability_zone_ids.is_empty() => {
                self.availability_zone_ids.iter().any(|z| z == id)
            }
            _ => {
                self.availability_zones.is_empty()
                    || self.availability_zones.iter().any(|z| z == name)
            }
        }
    }
}

/// State of an endpoint as polled by the waiter.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointStatus {
    pub id: String,
    pub state: String,
    pub last_error: Option<String>,
}

/// Attributes of an endpoint to create.
#[derive(Debug, Clone)]
pub struct NewEndpoint<'a> {
    pub vpc_id: &'a str,
    pub service_name: &'a str,
    pub endpoint_type: EndpointType,
    pub subnet_ids: &'a [String],
    pub security_group_ids: &'a [String],
    pub route_table_ids: &'a [String],
    pub private_dns: Option<bool>,
    pub policy: Option<&'a str>,
    pub tags: &'a Tags,
    pub client_token: &'a str,
}

/// Changes to an existing endpoint, sent as one ModifyVpcEndpoint.
#[derive(Debug, Clone, Default)]
pub struct EndpointChanges {
    pub add_subnets: Vec<String>,
    pub remove_subnets: Vec<String>,
    pub add_security_groups: Vec<String>,
    pub remove_security_groups: Vec<String>,
    pub add_route_tables: Vec<String>,
    pub remove_route_tables: Vec<String>,
    pub private_dns: Option<bool>,
    /// `Some(None)`: reset to AWS's default policy.
    pub policy: Option<Option<String>>,
}

/// The endpoint calls, in the tool's own types.
pub trait Api: Send + Sync {
    /// Endpoints tagged with the plan (not `deleted`/`deleting`).
    fn describe_endpoints_by_plan(&self, plan: &str) -> impl Call<Vec<ObservedEndpoint>>;
    /// Every live endpoint in a VPC (to find unowned ones that conflict).
    fn describe_endpoints_in_vpc(&self, vpc_id: &str) -> impl Call<Vec<ObservedEndpoint>>;
    /// One call for all the endpoints a waiter polls; unknown ones are `deleted`.
    fn endpoint_statuses(&self, ids: &[String]) -> impl Call<Vec<EndpointStatus>>;
    /// The named services of the region; unknown names are left out.
    fn describe_endpoint_services(&self, names: &[String]) -> impl Call<Vec<ServiceInfo>>;
    /// Every endpoint service of the region (for `sagevpc services`, and to suggest
    /// the name meant when the plan names one the region does not offer).
    fn describe_all_endpoint_services(&self) -> impl Call<Vec<ServiceInfo>>;
    /// Returns the id and the state the response reported.
    fn create_endpoint(&self, ep: NewEndpoint<'_>) -> impl Call<(String, String)>;
    fn modify_endpoint(&self, id: &str, changes: &EndpointChanges) -> impl Call<()>;
    /// One call for all of them; an endpoint already gone is done, other per-item
    /// failures are errors.
    fn delete_endpoints(&self, ids: &[String]) -> impl Call<()>;
}

pub fn is_failed(e: &ObservedEndpoint) -> bool {
    e.state.eq_ignore_ascii_case("failed")
}

pub fn replace_reason(e: &ObservedEndpoint) -> String {
    if is_failed(e) {
        format!("endpoint {} is in state failed; it is replaced", e.id)
    } else {
        "service_name forces replacement".to_string()
    }
}

/// What a replaced endpoint was.
pub fn replaced_attrs(e: &ObservedEndpoint) -> crate::changeset::Attrs {
    super::attrs([
        ("service_name", json!(e.service_name)),
        ("state", json!(e.state)),
    ])
}

/// The attribute that forces an endpoint's replacement (none for a failed one).
pub fn replace_paths(e: &ObservedEndpoint) -> Vec<String> {
    if is_failed(e) {
        vec![]
    } else {
        vec!["service_name".to_string()]
    }
}

/// A policy as shown in a plan.
pub fn policy_attr(p: Option<&Value>) -> Value {
    match p {
        None => json!("(AWS default: full access)"),
        Some(v) => json!(compact(&policy::normalize(v))),
    }
}

/// The policy to send when the plan's differs from AWS's.
pub fn policy_change(want: Option<&Value>, have: Option<&Value>) -> Option<Option<String>> {
    (!policy::equivalent(want, have))
        .then(|| Some(compact(want.unwrap_or(&policy::default_full_access()))))
}

/// Create an endpoint and wait until it is available (not when the response already
/// says so). The wait does not hold a parallelism slot.
pub async fn create<C: Api + ?Sized>(
    c: &C,
    ep: NewEndpoint<'_>,
    run: &mut Run<'_>,
) -> Result<Option<String>, NodeFailure> {
    let (id, state) = c.create_endpoint(ep).await?;
    if state != "available" {
        run.wait_endpoint(&id, Target::Available).await?;
    }
    Ok(Some(id))
}

/// Modify an endpoint and wait until it is available again.
pub async fn modify<C: Api + ?Sized>(
    c: &C,
    id: &str,
    changes: &EndpointChanges,
    run: &mut Run<'_>,
) -> Result<Option<String>, NodeFailure> {
    c.modify_endpoint(id, changes).await?;
    run.wait_endpoint(id, Target::Available).await?;
    Ok(None)
}

/// Endpoints deleted in one `DeleteVpcEndpoints` (it takes a list): the endpoints of
/// both kinds that leave in one step share one call (the engine merges them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteEndpoints {
    pub endpoints: Vec<String>,
}

impl DeleteEndpoints {
    pub fn of(e: &ObservedEndpoint) -> DeleteEndpoints {
        DeleteEndpoints {
            endpoints: vec![e.id.clone()],
        }
    }
}

impl super::KindOp for DeleteEndpoints {
    fn refs_mut(&mut self) -> Vec<&mut IdRef> {
        vec![]
    }
    fn api_name(&self) -> &'static str {
        "DeleteVpcEndpoints"
    }
    fn deletes(&self) -> Vec<&str> {
        self.endpoints.iter().map(String::as_str).collect()
    }
    fn waits(&self) -> bool {
        true
    }
    fn target(&self) -> Option<&str> {
        self.endpoints.first().map(String::as_str)
    }
    fn absorb(&mut self, other: &Self) -> bool {
        self.endpoints.extend(other.endpoints.iter().cloned());
        true
    }
}

/// Delete endpoints and wait until each is `deleted` (a subnet cannot be deleted while
/// its endpoints are only `deleting`). The waits do not hold a parallelism slot.
pub async fn delete<C: Api + ?Sized>(
    c: &C,
    op: DeleteEndpoints,
    run: &mut Run<'_>,
) -> Result<Option<String>, NodeFailure> {
    c.delete_endpoints(&op.endpoints).await?;
    run.slot.release();
    let waits = op.endpoints.iter().map(|id| {
        run.waiter
            .wait(id, run.label, Target::Deleted, run.endpoint_timeout)
    });
    for r in futures::future::join_all(waits).await {
        r.map_err(NodeFailure::Wait)?;
    }
    Ok(None)
}

/// Ids to add (references) and to remove, from what AWS has and what the plan wants.
pub fn set_change(have: &[String], want: &[IdRef]) -> (Vec<IdRef>, Vec<String>) {
    let cur: BTreeSet<&str> = have.iter().map(String::as_str).collect();
    let add: Vec<IdRef> = want
        .iter()
        .filter(|r| !matches!(r, IdRef::Id(id) if cur.contains(id.as_str())))
        .cloned()
        .collect();
    let keep: BTreeSet<&str> = want.iter().filter_map(IdRef::id).collect();
    let remove: Vec<String> = have
        .iter()
        .filter(|id| !keep.contains(id.as_str()))
        .cloned()
        .collect();
    (add, remove)
}
