//! Availability zones written by name (`us-east-1a`) or by ID (`use1-az1`). Names are
//! mapped to physical zones per account (one account's `us-east-1a` is another's
//! `us-east-1c`); IDs name the same physical zone in every account. A plan writes all
//! of its zones one way; zones given by ID are turned into this account's names once
//! the region's zones are read (`resolve`), so everything after works with names and
//! keeps the ID for display and for comparing service support.

use super::Plan;

/// One availability zone of the region as the caller's account sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub name: String,
    pub id: String,
}

/// Whether `az` is written as an AZ ID (`use1-az1`, `usw2-lax1-az1`).
pub fn is_zone_id(az: &str) -> bool {
    let Some((head, n)) = az.rsplit_once("-az") else {
        return false;
    };
    !n.is_empty()
        && n.chars().all(|c| c.is_ascii_digit())
        && head.split('-').all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

/// The prefix of the region's AZ IDs (`us-east-1` -> `use1`, `ap-southeast-2` ->
/// `apse2`, `us-gov-west-1` -> `usgw1`); `None` for a region whose parts it does not know.
pub fn id_prefix(region: &str) -> Option<String> {
    let parts: Vec<&str> = region.split('-').collect();
    let (first, rest) = parts.split_first()?;
    let (number, middle) = rest.split_last()?;
    if middle.is_empty() || !number.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut out = first.to_string();
    for p in middle {
        out.push_str(match *p {
            "north" => "n",
            "south" => "s",
            "east" => "e",
            "west" => "w",
            "central" => "c",
            "northeast" => "ne",
            "northwest" => "nw",
            "southeast" => "se",
            "southwest" => "sw",
            "gov" => "g",
            _ => return None,
        });
    }
    out.push_str(number);
    Some(out)
}

/// Whether `az` can be an availability zone of `region`, by name or by ID; the reason
/// when not.
pub fn check(region: &str, az: &str) -> Result<(), String> {
    if is_zone_id(az) {
        return match id_prefix(region) {
            Some(p) if !az.starts_with(&format!("{p}-")) => Err(format!(
                "{az:?} is not an availability zone ID of region {region} (its IDs start with \"{p}-\", e.g. {p}-az1)"
            )),
            _ => Ok(()),
        };
    }
    let named = az.len() > region.len()
        && az.starts_with(region)
        && az[region.len()..]
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if named {
        return Ok(());
    }
    let example = id_prefix(region)
        .map(|p| format!(" or an AZ ID such as {p}-az1"))
        .unwrap_or_default();
    Err(format!(
        "{az:?} is not an availability zone of region {region} (give a name such as {region}a{example})"
    ))
}

/// Whether the plan gives any zone by ID (then the region's zones are read).
pub fn uses_ids(plan: &Plan) -> bool {
    plan.every_subnet()
        .any(|(_, s)| is_zone_id(&s.availability_zone))
}

/// Turn every zone the plan gives by ID into this account's name for it, keeping the
/// ID. The problems name the field and list the region's zones.
pub fn resolve(plan: &mut Plan, zones: &[Zone]) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let listing = || {
        let mut all: Vec<String> = zones
            .iter()
            .map(|z| format!("{} ({})", z.id, z.name))
            .collect();
        all.sort();
        all.join(", ")
    };
    let public: Vec<String> = plan.egress.public_subnets.keys().cloned().collect();
    let region = plan.region.clone();
    let subnets = plan
        .subnets
        .iter_mut()
        .chain(plan.egress.public_subnets.iter_mut());
    for (key, spec) in subnets {
        if !is_zone_id(&spec.availability_zone) {
            continue;
        }
        match zones.iter().find(|z| z.id == spec.availability_zone) {
            Some(z) => {
                spec.zone_id = Some(z.id.clone());
                spec.availability_zone = z.name.clone();
            }
            None => {
                let section = if public.contains(key) {
                    "egress.public_subnets"
                } else {
                    "subnets"
                };
                problems.push(format!(
                    "{section}.{key}.availability_zone: {} is not an available zone of {} for this account; its zones are: {}",
                    spec.availability_zone,
                    region,
                    listing()
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests;
