//! `init`: a starter plan for a region, written to a file that does not exist yet.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use super::region::region_of;
use super::Session;
use crate::cli::InitArgs;
use crate::plan::services::service_name;
use crate::plan::starter::{self, Starter};
use crate::resources::endpoint;

fn exists_error(out: &std::path::Path) -> String {
    format!(
        "error: {} already exists; sagevpc init never overwrites a file: give another --out, or move it away first",
        out.display()
    )
}

pub(super) async fn init_cmd(s: &mut Session<'_>, args: &InitArgs) -> Result<u8, String> {
    let out = &args.out;
    // Checked before any AWS call; the write below refuses a file made meanwhile.
    if out.exists() {
        return Err(exists_error(out));
    }
    let region = region_of(s, args.region.as_deref()).await?;
    let aws = s.connect_to(&region, &BTreeMap::new()).await?;
    let names: Vec<String> = starter::INTERFACE_SERVICES
        .iter()
        .map(|x| service_name(&region, x))
        .collect();
    let (zones, services, cidrs) = tokio::join!(
        aws.available_zones(),
        endpoint::Api::describe_endpoint_services(&aws, &names),
        aws.all_vpc_cidrs(),
    );
    let zones = zones.map_err(|e| s.explain("listing availability zones", &e, &region))?;
    let services = services.map_err(|e| s.explain("listing endpoint services", &e, &region))?;
    let cidrs = cidrs.map_err(|e| s.explain("listing the region's VPCs", &e, &region))?;
    let mut offered: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for svc in services {
        offered
            .entry(svc.service_name)
            .or_default()
            .extend(svc.availability_zones);
    }
    let zones =
        starter::pick_zones(&region, &zones, &offered).map_err(|e| format!("error: {e}"))?;
    let taken: Vec<ipnet::Ipv4Net> = cidrs.iter().filter_map(|c| c.parse().ok()).collect();
    let vpc_cidr = starter::pick_cidr(&taken).ok_or_else(|| {
        format!("error: every /16 of 10.0.0.0/8 overlaps a VPC in {region}; write the plan's [vpc] cidr by hand")
    })?;
    let text = starter::render(&Starter {
        name: args.name.clone(),
        region: region.clone(),
        vpc_cidr,
        zones: zones.clone(),
    });
    // What init writes, validate accepts: a bad --name or --region stops here.
    crate::plan::validate_source(out, &text).map_err(|e| {
        format!(
            "{}\nerror: no plan written: fix --name or --region",
            crate::render::diagnostics::plan_error(&e, Some(&text), false)
        )
    })?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(out)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => exists_error(out),
            _ => format!("error: cannot write {}: {e}", out.display()),
        })?;
    f.write_all(text.as_bytes())
        .map_err(|e| format!("error: cannot write {}: {e}", out.display()))?;
    println!(
        "Wrote {}: plan {:?} in {region}, VPC {vpc_cidr}, subnets in {}.\nNext: sagevpc validate {0}, then sagevpc plan {0}.",
        out.display(),
        args.name,
        zones.join(", ")
    );
    Ok(0)
}
