//! `validate` and `plan`.

use std::path::Path;

use super::read::read_and_diff;
use super::Session;
use crate::changeset::saved::SavedPlan;
use crate::changeset::Goal;
use crate::cli::{GraphArgs, GraphFormat, Output, PlanArgs};
use crate::render;

pub(super) fn validate_cmd(s: &Session<'_>, path: &Path) -> Result<u8, String> {
    let p = s.load(path)?;
    println!(
        "Plan {:?} ({}) is valid: {}, {}, {} and {}.",
        p.name,
        path.display(),
        count(p.subnets.len(), "subnet"),
        count(p.security_groups.len(), "security group"),
        count(p.gateway_endpoints.len(), "gateway endpoint"),
        count(p.interface_endpoints.len(), "interface endpoint"),
    );
    Ok(0)
}

/// `1 subnet`, `3 subnets`.
pub(super) fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

pub(super) async fn plan_cmd(s: &mut Session<'_>, args: &PlanArgs) -> Result<u8, String> {
    let mut plan = s.load(&args.plan)?;
    let aws = s.connect(&mut plan).await?;
    let (obs, cs) = read_and_diff(s, &aws, &plan, Goal::Apply).await?;
    if let Some(out) = &args.out {
        SavedPlan::new(&args.plan, &plan, &obs, &cs)?.write(out)?;
        eprintln!(
            "Saved the changeset to {}; run `sagevpc apply {}` to perform exactly these actions.",
            out.display(),
            out.display()
        );
    }
    match args.output {
        Output::Human => print!(
            "{}",
            render::human::changeset_with(&cs, &s.style(args.show_unchanged))
        ),
        Output::Json => println!("{}", render::json::changeset(&cs)),
    }
    Ok(if args.detailed_exitcode && !cs.is_empty() {
        2
    } else {
        0
    })
}

/// `sagevpc output`: the applied plan's ids, read from live state (no change, no lock).
pub(super) async fn output_cmd(
    s: &mut Session<'_>,
    args: &crate::cli::OutputArgs,
) -> Result<u8, String> {
    let mut plan = s.load(&args.plan)?;
    let aws = s.connect(&mut plan).await?;
    let obs = crate::observe::observe(&aws, &plan)
        .await
        .map_err(|e| s.explain("reading live state", &e, &plan.region))?;
    let doc = render::outputs::outputs(&plan, &obs)?;
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&doc).expect("json")),
        Output::Human => print!("{}", render::outputs::human(&doc)),
    }
    Ok(0)
}

pub(super) async fn graph_cmd(s: &mut Session<'_>, args: &GraphArgs) -> Result<u8, String> {
    let mut plan = s.load(&args.plan)?;
    let aws = s.connect(&mut plan).await?;
    let goal = if args.destroy {
        Goal::Destroy { keep_vpc: false }
    } else {
        Goal::Apply
    };
    let (_, cs) = read_and_diff(s, &aws, &plan, goal).await?;
    let format = match args.format {
        GraphFormat::Dot => render::graph::GraphFormat::Dot,
        GraphFormat::Mermaid => render::graph::GraphFormat::Mermaid,
    };
    print!("{}", render::graph::render(&cs, format));
    Ok(0)
}
