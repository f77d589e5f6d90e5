//! The fake's security groups and rules.

use super::{err, FakeCloud};
use crate::aws::AwsError;
use crate::model::{Direction, Peer, Protocol, Rule, TAG_PLAN};
use crate::observe::{ObservedSecurityGroup, Tags};
use crate::resources::security_group;
use crate::resources::security_group_rule::{self, AwsRule};

fn to_rule(direction: Direction, r: &AwsRule) -> Rule {
    let peer = match (&r.cidr, &r.group_id, &r.prefix_list_id) {
        (Some(c), _, _) => Peer::Cidr(c.parse().expect("valid cidr in changeset")),
        (None, Some(g), _) => Peer::ForeignGroup(g.clone()),
        (None, None, Some(p)) => Peer::PrefixList(p.clone()),
        (None, None, None) => unreachable!("a rule has a peer"),
    };
    let ports = match (r.protocol, r.ports) {
        (Protocol::All, _) => None,
        (Protocol::Icmp, (Some(-1), _)) => None,
        (_, (Some(a), Some(b))) => Some((a, b)),
        _ => None,
    };
    Rule {
        direction,
        protocol: r.protocol,
        ports,
        peer,
    }
}

impl security_group::Api for FakeCloud {
    async fn describe_security_groups_by_ids(
        &self,
        ids: &[String],
    ) -> Result<Vec<ObservedSecurityGroup>, AwsError> {
        let w = self.world();
        Ok(w.security_groups
            .iter()
            .filter(|g| ids.contains(&g.id))
            .cloned()
            .collect())
    }

    async fn describe_security_groups_by_plan(
        &self,
        plan: &str,
    ) -> Result<Vec<ObservedSecurityGroup>, AwsError> {
        let w = self.world();
        Ok(w.security_groups
            .iter()
            .filter(|g| g.tags.get(TAG_PLAN).map(String::as_str) == Some(plan))
            .cloned()
            .collect())
    }

    async fn create_security_group(
        &self,
        vpc_id: &str,
        name: &str,
        description: &str,
        tags: &Tags,
    ) -> Result<String, AwsError> {
        let id = self.new_id("sg");
        let mut w = self.world();
        if w.security_groups
            .iter()
            .any(|g| g.vpc_id == vpc_id && g.name == name)
        {
            return Err(err("CreateSecurityGroup", "InvalidGroup.Duplicate", name));
        }
        w.security_groups.push(ObservedSecurityGroup {
            id: id.clone(),
            vpc_id: vpc_id.into(),
            name: name.into(),
            description: description.into(),
            rules: vec![Rule::default_egress()],
            tags: tags.clone(),
        });
        Ok(id)
    }

    async fn delete_security_group(&self, id: &str) -> Result<(), AwsError> {
        let op = "DeleteSecurityGroup";
        let mut w = self.world();
        if w.endpoints
            .iter()
            .any(|e| e.security_group_ids.iter().any(|g| g == id))
            || w.domains
                .iter()
                .any(|d| d.security_groups.iter().any(|g| g == id))
            || w.user_profiles
                .iter()
                .any(|p| p.security_groups.iter().any(|g| g == id))
        {
            return Err(err(
                op,
                "DependencyViolation",
                format!("{id} is used by an endpoint"),
            ));
        }
        let named = Peer::ForeignGroup(id.to_string());
        if w.security_groups
            .iter()
            .any(|g| g.id != id && g.rules.iter().any(|r| r.peer == named))
        {
            return Err(err(
                op,
                "DependencyViolation",
                format!("{id} is referenced by another group"),
            ));
        }
        w.security_groups.retain(|g| g.id != id);
        Ok(())
    }

    async fn describe_prefix_lists(
        &self,
        names: &[String],
    ) -> Result<Vec<(String, String)>, AwsError> {
        Ok(names
            .iter()
            .filter(|n| n.ends_with(".s3") || n.ends_with(".dynamodb"))
            .map(|n| (n.clone(), format!("pl-{:08x}", n.len() * 7919)))
            .collect())
    }
}

impl security_group_rule::Api for FakeCloud {
    async fn change_rules(
        &self,
        group_id: &str,
        direction: Direction,
        rules: &[AwsRule],
        grant: bool,
    ) -> Result<(), AwsError> {
        let op = if grant {
            "AuthorizeSecurityGroupIngress"
        } else {
            "RevokeSecurityGroupIngress"
        };
        let mut w = self.world();
        let g = w
            .security_groups
            .iter_mut()
            .find(|g| g.id == group_id)
            .ok_or_else(|| err(op, "InvalidGroup.NotFound", group_id))?;
        let rules: Vec<Rule> = rules.iter().map(|r| to_rule(direction, r)).collect();
        // Like AWS: one rule already there refuses the whole call.
        if grant && rules.iter().any(|r| g.rules.contains(r)) {
            return Err(err(op, "InvalidPermission.Duplicate", "duplicate"));
        }
        for r in rules {
            if grant {
                g.rules.push(r);
            } else {
                g.rules.retain(|x| x != &r);
            }
        }
        Ok(())
    }
}
