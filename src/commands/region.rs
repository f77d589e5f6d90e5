//! Region-wide commands with no plan: `services` and `plans`.

use std::collections::BTreeMap;

use super::Session;
use crate::cli::{Output, RegionArgs};
use crate::observe::EndpointType;
use crate::resources::endpoint;

/// The region: `--region`, else the standard chain (AWS_REGION, the profile's region).
pub(super) async fn region_of(s: &Session<'_>, given: Option<&str>) -> Result<String, String> {
    if let Some(r) = given {
        return Ok(r.to_string());
    }
    let mut chain = aws_config::default_provider::region::DefaultRegionChain::builder();
    if let Some(p) = &s.cli.profile {
        chain = chain.profile_name(p);
    }
    chain
        .build()
        .region()
        .await
        .map(|r| r.to_string())
        .ok_or_else(|| "error: no region: give --region, or set AWS_REGION".to_string())
}

/// `sagevpc services`: the endpoint services of a region, by the short name a plan
/// takes, with their types and how many AZs offer them.
pub(super) async fn services_cmd(s: &mut Session<'_>, args: &RegionArgs) -> Result<u8, String> {
    let region = region_of(s, args.region.as_deref()).await?;
    let aws = s.connect_to(&region, &BTreeMap::new()).await?;
    let all = endpoint::Api::describe_all_endpoint_services(&aws)
        .await
        .map_err(|e| s.explain("listing endpoint services", &e, &region))?;
    let prefix = crate::plan::services::service_name(&region, "");
    let mut rows: BTreeMap<String, (Vec<&str>, usize)> = BTreeMap::new();
    for svc in &all {
        let short = if svc.service_name == crate::plan::services::service_name(&region, "studio") {
            "studio".to_string()
        } else {
            svc.service_name
                .strip_prefix(&prefix)
                .unwrap_or(&svc.service_name)
                .to_string()
        };
        let row = rows.entry(short).or_default();
        row.0.push(match svc.endpoint_type {
            EndpointType::Gateway => "gateway",
            EndpointType::Interface => "interface",
        });
        row.1 = row.1.max(svc.availability_zones.len());
    }
    if args.output == Output::Json {
        let doc: Vec<serde_json::Value> = rows
            .iter()
            .map(|(k, (types, azs))| serde_json::json!({"name": k, "types": types, "availability_zones": azs}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
        return Ok(0);
    }
    let w = rows.keys().map(String::len).max().unwrap_or(4);
    println!("{:<w$}  {:<18}  AZs", "SERVICE", "TYPE");
    for (k, (types, azs)) in &rows {
        println!("{k:<w$}  {:<18}  {azs}", types.join(", "));
    }
    println!("\n{} services in {region}.", rows.len());
    Ok(0)
}

/// `sagevpc plans`: the plans that own resources in a region, with their counts by
/// kind. A renamed plan, or a plan looked for in the wrong region, shows up here.
pub(super) async fn plans_cmd(s: &mut Session<'_>, args: &RegionArgs) -> Result<u8, String> {
    let region = region_of(s, args.region.as_deref()).await?;
    let aws = s.connect_to(&region, &BTreeMap::new()).await?;
    let owned = aws
        .owned_by_any_plan()
        .await
        .map_err(|e| s.explain("listing plans", &e, &region))?;
    let mut plans: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for (plan, key, _) in &owned {
        let kind = key.split('.').next().unwrap_or("?");
        *plans.entry(plan).or_default().entry(kind).or_default() += 1;
    }
    if args.output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&plans).expect("json"));
        return Ok(0);
    }
    if plans.is_empty() {
        println!("No sagevpc plan owns anything in {region}.");
        return Ok(0);
    }
    for (plan, kinds) in &plans {
        let total: usize = kinds.values().sum();
        let list: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
        println!("{plan}: {total} resources ({})", list.join(", "));
    }
    Ok(0)
}
