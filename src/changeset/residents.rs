//! Deletes that things the plan does not own would block: checked before the first
//! write, so a destroy does not remove every endpoint and subnet and then fail on
//! `DeleteVpc` (or a subnet, or a group) naming nothing.

use std::collections::{BTreeMap, BTreeSet};

use super::Changeset;
use crate::model::{Kind, TAG_PLAN};
use crate::observe::owned_key;
use crate::observe::residents::{Resident, ResidentKind};

/// What blocks the changeset's deletes, one line per thing in the way.
#[derive(Debug, Default, PartialEq)]
pub struct Blockers {
    /// In the VPC the changeset deletes (the VPC alone could be kept: `--keep-vpc`).
    pub in_vpc: Vec<String>,
    /// Network interfaces in subnets, or carrying groups, the changeset deletes.
    pub in_subnets_or_groups: Vec<String>,
}

impl Blockers {
    pub fn is_empty(&self) -> bool {
        self.in_vpc.is_empty() && self.in_subnets_or_groups.is_empty()
    }
}

fn owner(r: &Resident) -> String {
    let name = r
        .tags
        .get("Name")
        .map(|n| format!("named {n:?}, "))
        .unwrap_or_default();
    match r.tags.get(TAG_PLAN) {
        Some(p) => format!("{name}sagevpc plan {p:?}"),
        None => format!("{name}not made by sagevpc"),
    }
}

fn line(r: &Resident, parent: Option<&Resident>) -> String {
    let note = if r.note.is_empty() {
        String::new()
    } else {
        format!(" ({})", r.note)
    };
    match parent {
        Some(p) => format!(
            "{} {}{note} of {} {}: {}",
            r.kind.label(),
            r.id,
            p.kind.label(),
            p.id,
            owner(p)
        ),
        None => format!("{} {}{note}: {}", r.kind.label(), r.id, owner(r)),
    }
}

/// Whether SageMaker made `r` for a domain whose id (or EFS volume id) is in `marks`:
/// its NFS groups are named after the domain, its interfaces' descriptions name the
/// domain or the volume.
fn left_by(r: &Resident, marks: &[String]) -> bool {
    marks.iter().any(|m| {
        crate::aws::leftovers::nfs_group_names(m).contains(&r.note)
            || (r.kind == ResidentKind::NetworkInterface && r.note.contains(m.as_str()))
    })
}

impl Changeset {
    /// The ids of the Studio domains the changeset deletes, and of their EFS volumes.
    fn deleted_domain_marks(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter_map(|n| match &n.op {
                crate::resources::Op::StudioDomain(
                    crate::resources::studio_domain::Op::Delete(d),
                ) => Some(std::iter::once(d.domain.clone()).chain(d.home_efs.clone())),
                _ => None,
            })
            .flatten()
            .collect()
    }

    /// The residents of the VPC that the plan does not own and that stand in the way of
    /// its deletes. `residents`: what `Aws::vpc_residents` read.
    pub fn blocked_by(&self, plan: &str, residents: &[Resident]) -> Blockers {
        let marks = self.deleted_domain_marks();
        let nfs: BTreeSet<&str> = residents
            .iter()
            .filter(|r| r.kind == ResidentKind::SecurityGroup && left_by(r, &marks))
            .map(|r| r.id.as_str())
            .collect();
        // What a domain the changeset deletes leaves is removed with it: its NFS groups,
        // its EFS mount targets' and its apps' interfaces.
        let ours = |r: &Resident| {
            owned_key(&r.tags, plan).is_some()
                || left_by(r, &marks)
                || r.groups.iter().any(|g| nfs.contains(g.as_str()))
        };
        // A network interface belongs to its endpoint or NAT gateway, which is named
        // instead (the plan's own ones go with them).
        let mut parent: BTreeMap<&str, &Resident> = BTreeMap::new();
        for r in residents {
            for i in &r.interfaces {
                parent.insert(i.as_str(), r);
            }
        }
        let mut vpc = false;
        let (mut subnets, mut groups) = (BTreeSet::new(), BTreeSet::new());
        for (n, id) in self.network_deletes() {
            match n.address.kind {
                Kind::Subnet => subnets.insert(id),
                Kind::SecurityGroup => groups.insert(id),
                _ => {
                    vpc = true;
                    true
                }
            };
        }
        let mut b = Blockers::default();
        for r in residents {
            let up = parent.get(r.id.as_str()).copied();
            if ours(r) || up.is_some_and(ours) {
                continue;
            }
            let is_eni = r.kind == ResidentKind::NetworkInterface;
            let in_the_way = is_eni
                && (r.subnet_id.as_deref().is_some_and(|s| subnets.contains(s))
                    || r.groups.iter().any(|g| groups.contains(g.as_str())));
            if in_the_way {
                b.in_subnets_or_groups.push(line(r, up));
            } else if vpc && !(is_eni && up.is_some()) {
                b.in_vpc.push(line(r, up));
            }
        }
        b
    }
}
