//! `sagevpc audit --vpc VPC_ID`: any VPC against SageMaker's networking rules. Reads
//! only; exit 0 when nothing fails, 2 when something does, 1 on errors.

use std::collections::BTreeMap;
use std::time::Instant;

use super::region::region_of;
use super::Session;
use crate::cli::{AuditArgs, Output};
use crate::render;

pub(super) async fn audit_cmd(s: &mut Session<'_>, args: &AuditArgs) -> Result<u8, String> {
    if !args.vpc.starts_with("vpc-") {
        return Err(format!(
            "error: --vpc {:?} is not a VPC id (vpc-...)",
            args.vpc
        ));
    }
    let region = region_of(s, args.region.as_deref()).await?;
    let aws = s.connect_to(&region, &BTreeMap::new()).await?;
    let t0 = Instant::now();
    let read = crate::aws::audit::read_view(&aws, &region, &args.vpc)
        .await
        .map_err(|e| s.explain(&format!("reading VPC {}", args.vpc), &e, &region))?;
    s.time("read", t0);
    let Some((view, warnings)) = read else {
        return Err(format!(
            "error: VPC {} does not exist in {region} (or the credentials cannot see it)\nhint: check the id and --region",
            args.vpc
        ));
    };
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let report = crate::audit::audit(&view);
    match args.output {
        Output::Human => print!("{}", render::audit::human(&report)),
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&render::audit::json(&report)).expect("json")
        ),
    }
    Ok(if report.failed() { 2 } else { 0 })
}
