//! `sagevpc output`: the ids a user needs from an applied plan (for a training job's
//! `VpcConfig`, a Studio login, another tool), read from live state, as `key = value`
//! lines or one JSON object.

use serde_json::{json, Map, Value};

use crate::model::{Direction, Kind, Peer};
use crate::observe::{owned_key, Observed};
use crate::plan::{Plan, Ref, RoleChoice};

/// The plan's ids by key: `<kind>.<key>` of owned resources.
fn ids_of(obs: &Observed, plan: &Plan, kind: Kind) -> Map<String, Value> {
    let prefix = format!("{}.", kind.as_str());
    let mut out = std::collections::BTreeMap::new();
    let mut add = |tags: &crate::observe::Tags, id: &str| {
        if let Some(key) = owned_key(tags, &plan.name).and_then(|k| k.strip_prefix(&prefix)) {
            out.insert(key.to_string(), json!(id));
        }
    };
    match kind {
        Kind::Subnet => obs.subnets.iter().for_each(|s| add(&s.tags, &s.id)),
        Kind::SecurityGroup => obs.security_groups.iter().for_each(|g| add(&g.tags, &g.id)),
        _ => obs.endpoints.iter().for_each(|e| add(&e.tags, &e.id)),
    }
    out.into_iter().collect()
}

/// The groups that reach the interface endpoints (what a job's `VpcConfig` carries):
/// the plan's groups that an endpoint group admits.
fn client_groups(plan: &Plan) -> Vec<String> {
    let endpoint_groups: Vec<&String> = plan
        .interface_endpoints
        .values()
        .flat_map(|e| &e.security_groups)
        .filter_map(|r| match r {
            Ref::Key(k) => Some(k),
            Ref::Id(_) => None,
        })
        .collect();
    let mut out: Vec<String> = endpoint_groups
        .iter()
        .filter_map(|g| plan.security_groups.get(*g))
        .flat_map(|g| &g.rules)
        .filter(|r| r.direction == Direction::Ingress)
        .filter_map(|r| match &r.peer {
            Peer::Group(g) => Some(g.clone()),
            _ => None,
        })
        .filter(|g| !g.starts_with("user-"))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Every output of `plan` in `obs`; `Err` when the plan has not been applied.
pub fn outputs(plan: &Plan, obs: &Observed) -> Result<Value, String> {
    let vpc = obs.vpc_of(plan).ok_or_else(|| {
        format!(
            "error: plan {} has no VPC in {} yet: run `sagevpc apply {}` first",
            plan.name,
            plan.region,
            plan.source.display()
        )
    })?;
    let subnets = ids_of(obs, plan, Kind::Subnet);
    let groups = ids_of(obs, plan, Kind::SecurityGroup);
    let endpoints = ids_of(obs, plan, Kind::InterfaceEndpoint);
    let gateways = ids_of(obs, plan, Kind::GatewayEndpoint);
    let dns: Map<String, Value> = obs
        .endpoints
        .iter()
        .filter_map(|e| {
            let key = owned_key(&e.tags, &plan.name)?.strip_prefix("interface_endpoint.")?;
            Some((key.to_string(), json!(e.dns_names)))
        })
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_iter()
        .collect();
    let pick = |m: &Map<String, Value>, keys: &[String]| -> Vec<Value> {
        keys.iter().filter_map(|k| m.get(k).cloned()).collect()
    };
    let job_groups = pick(&groups, &client_groups(plan));
    let all_subnets: Vec<Value> = subnets.values().cloned().collect();
    let mut doc = Map::new();
    doc.insert("vpc_id".into(), json!(vpc.id));
    doc.insert("subnet_ids".into(), Value::Object(subnets.clone()));
    doc.insert("security_group_ids".into(), Value::Object(groups.clone()));
    doc.insert("endpoints".into(), Value::Object(endpoints));
    doc.insert("gateway_endpoints".into(), Value::Object(gateways));
    doc.insert("endpoint_dns_names".into(), Value::Object(dns));
    doc.insert(
        "vpc_config".into(),
        json!({"Subnets": all_subnets, "SecurityGroupIds": job_groups}),
    );
    if let Some(s) = &plan.studio {
        let role = match &s.execution_role {
            RoleChoice::Existing(arn) => Some(arn.clone()),
            RoleChoice::Create => obs.roles.first().map(|r| r.id.clone()),
        };
        let domain = obs.domains.iter().find(|d| d.status != "Deleted");
        let users: Map<String, Value> = obs
            .user_profiles
            .iter()
            .map(|p| {
                (
                    p.name.clone(),
                    json!({"arn": p.arn, "security_group_ids": p.security_groups}),
                )
            })
            .collect();
        let studio_subnets: Vec<Value> = s
            .subnets
            .iter()
            .filter_map(|r| match r {
                Ref::Id(id) => Some(json!(id)),
                Ref::Key(k) => subnets.get(k).cloned(),
            })
            .collect();
        doc.insert("execution_role_arn".into(), json!(role));
        doc.insert("domain_id".into(), json!(domain.map(|d| &d.id)));
        doc.insert(
            "domain_url".into(),
            json!(domain.and_then(|d| d.url.as_ref())),
        );
        doc.insert("studio_subnet_ids".into(), json!(studio_subnets));
        doc.insert("user_profiles".into(), Value::Object(users));
    }
    if plan.studio_access.is_some() {
        let arn = obs.access_policies.first().map(|p| &p.id);
        doc.insert("studio_access_policy_arn".into(), json!(arn));
    }
    Ok(Value::Object(doc))
}

/// `key = value` lines, nested objects with dotted keys.
pub fn human(doc: &Value) -> String {
    let mut out = String::new();
    fn walk(prefix: &str, v: &Value, out: &mut String) {
        match v {
            Value::Object(m) if !m.is_empty() && prefix != "vpc_config" => {
                for (k, v) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&p, v, out);
                }
            }
            other => out.push_str(&format!("{prefix} = {other}\n")),
        }
    }
    walk("", doc, &mut out);
    out
}
