//! The plan's name, region and extra tags.

use std::collections::BTreeMap;

use super::{is_key_like, is_region, Ctx};
use crate::plan::file::RawPlan;

/// (name, region, tags)
pub(super) fn check(ctx: &mut Ctx, raw: &RawPlan) -> (String, String, BTreeMap<String, String>) {
    let name = raw.name.get_ref().trim().to_string();
    if name.is_empty() {
        ctx.err(raw.name.span(), "name", "plan name must not be empty");
    } else if !is_key_like(&name) || name != *raw.name.get_ref() {
        ctx.err(
            raw.name.span(),
            "name",
            format!("plan name {:?} may contain only letters, digits, '-' and '_' (at most 64, starting with a letter or digit)", raw.name.get_ref()),
        );
    }
    let region = raw.region.get_ref().clone();
    let known = crate::plan::services::REGIONS;
    let typo = (!known.contains(&region.as_str()))
        .then(|| crate::plan::services::nearest(&region, known.iter().copied()))
        .flatten();
    if !is_region(&region) || typo.is_some() {
        let hint = typo
            .or_else(|| {
                crate::plan::services::nearest(&region.to_lowercase(), known.iter().copied())
            })
            .map(|k| format!("; did you mean {k:?}?"))
            .unwrap_or_else(|| " (e.g. us-east-1)".into());
        ctx.err(
            raw.region.span(),
            "region",
            format!("{region:?} is not an AWS region name{hint}"),
        );
    } else {
        ctx.region = region.clone();
    }

    let mut tags = BTreeMap::new();
    for (k, v) in &raw.tags {
        if k.starts_with("sagevpc:") || k.starts_with("aws:") || k == "Name" {
            ctx.err(
                v.span(),
                format!("tags.{k}"),
                "tag keys 'Name', 'sagevpc:*' and 'aws:*' are reserved",
            );
        } else if k.is_empty() || k.len() > 128 || v.get_ref().len() > 256 {
            ctx.err(
                v.span(),
                format!("tags.{k}"),
                "tag keys are 1-128 characters and values at most 256",
            );
        } else if k.contains(',') {
            ctx.err(
                v.span(),
                format!("tags.{k}"),
                "tag keys may not contain ',' (sagevpc lists the plan's tag keys in its sagevpc:tags tag)",
            );
        } else {
            tags.insert(k.clone(), v.get_ref().clone());
        }
    }
    // The keys are recorded, comma-separated, in one tag value (at most 256 characters).
    let listed = tags.keys().map(String::len).sum::<usize>() + tags.len().saturating_sub(1);
    if listed > 256 {
        if let Some(v) = raw.tags.values().next() {
            ctx.err(
                v.span(),
                "tags",
                format!("the plan's tag keys take {listed} characters together (with a comma between each); at most 256 fit in the sagevpc:tags tag that records them"),
            );
        }
    }
    (name, region, tags)
}
