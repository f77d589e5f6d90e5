//! The fake's VPCs, internet gateways, subnets, route tables, associations and tags.

use super::{err, FakeCloud};
use crate::aws::AwsError;
use crate::model::TAG_PLAN;
use crate::observe::{
    ObservedAssociation, ObservedInternetGateway, ObservedRoute, ObservedRouteTable,
    ObservedSubnet, ObservedVpc, Tags,
};
use crate::resources::{internet_gateway, route_table, route_table_association, subnet, tags, vpc};

fn owned_by(tags: &Tags, plan: &str) -> bool {
    tags.get(TAG_PLAN).map(String::as_str) == Some(plan)
}

fn overlaps(a: &str, b: &str) -> bool {
    match (a.parse::<ipnet::Ipv4Net>(), b.parse::<ipnet::Ipv4Net>()) {
        (Ok(a), Ok(b)) => a.contains(&b) || b.contains(&a),
        _ => false,
    }
}

impl vpc::Api for FakeCloud {
    async fn describe_vpcs_by_plan(&self, plan: &str) -> Result<Vec<ObservedVpc>, AwsError> {
        let w = self.world();
        Ok(w.vpcs
            .iter()
            .filter(|v| owned_by(&v.tags, plan))
            .cloned()
            .collect())
    }

    async fn describe_plan_vpcs_with_cidr(&self, cidr: &str) -> Result<Vec<ObservedVpc>, AwsError> {
        let w = self.world();
        Ok(w.vpcs
            .iter()
            .filter(|v| v.cidr == cidr && v.tags.contains_key(TAG_PLAN))
            .cloned()
            .collect())
    }

    async fn describe_vpc_by_id(&self, id: &str) -> Result<Option<ObservedVpc>, AwsError> {
        Ok(self.world().vpcs.iter().find(|v| v.id == id).cloned())
    }

    async fn describe_vpc_dns(&self, vpc_id: &str) -> Result<(bool, bool), AwsError> {
        let w = self.world();
        let v = w
            .vpcs
            .iter()
            .find(|v| v.id == vpc_id)
            .ok_or_else(|| err("DescribeVpcAttribute", "InvalidVpcID.NotFound", vpc_id))?;
        Ok((v.dns_support, v.dns_hostnames))
    }

    async fn create_vpc(&self, cidr: &str, tags: &Tags) -> Result<String, AwsError> {
        let id = self.new_id("vpc");
        self.world().vpcs.push(ObservedVpc {
            tenancy: None,
            id: id.clone(),
            cidr: cidr.into(),
            cidrs: vec![cidr.into()],
            dns_support: true,
            dns_hostnames: false,
            tags: tags.clone(),
        });
        Ok(id)
    }

    async fn set_vpc_dns(
        &self,
        vpc_id: &str,
        hostnames: bool,
        value: bool,
    ) -> Result<(), AwsError> {
        let mut w = self.world();
        let v = w
            .vpcs
            .iter_mut()
            .find(|v| v.id == vpc_id)
            .ok_or_else(|| err("ModifyVpcAttribute", "InvalidVpcID.NotFound", vpc_id))?;
        if hostnames {
            v.dns_hostnames = value
        } else {
            v.dns_support = value
        }
        Ok(())
    }

    async fn delete_vpc(&self, id: &str) -> Result<(), AwsError> {
        let mut w = self.world();
        let busy = w.subnets.iter().any(|s| s.vpc_id == id)
            || w.security_groups.iter().any(|g| g.vpc_id == id)
            || w.route_tables.iter().any(|r| r.vpc_id == id)
            || w.endpoints.iter().any(|e| e.vpc_id == id)
            || w.nat_gateways.iter().any(|n| n.vpc_id == id)
            || w.internet_gateways
                .iter()
                .any(|g| g.attached_to.as_deref() == Some(id));
        if busy {
            return Err(err(
                "DeleteVpc",
                "DependencyViolation",
                format!("{id} has dependencies"),
            ));
        }
        w.vpcs.retain(|v| v.id != id);
        Ok(())
    }
}

impl internet_gateway::Api for FakeCloud {
    async fn describe_internet_gateways_by_plan(
        &self,
        plan: &str,
    ) -> Result<Vec<ObservedInternetGateway>, AwsError> {
        let w = self.world();
        Ok(w.internet_gateways
            .iter()
            .filter(|g| owned_by(&g.tags, plan))
            .cloned()
            .collect())
    }

    async fn create_internet_gateway(&self, tags: &Tags) -> Result<String, AwsError> {
        let id = self.new_id("igw");
        self.world()
            .internet_gateways
            .push(ObservedInternetGateway {
                id: id.clone(),
                attached_to: None,
                tags: tags.clone(),
            });
        Ok(id)
    }

    async fn attach_internet_gateway(&self, gateway: &str, vpc_id: &str) -> Result<(), AwsError> {
        let mut w = self.world();
        if w.internet_gateways
            .iter()
            .any(|g| g.attached_to.as_deref() == Some(vpc_id))
        {
            return Err(err(
                "AttachInternetGateway",
                "Resource.AlreadyAssociated",
                vpc_id,
            ));
        }
        let g = w
            .internet_gateways
            .iter_mut()
            .find(|g| g.id == gateway)
            .ok_or_else(|| {
                err(
                    "AttachInternetGateway",
                    "InvalidInternetGatewayID.NotFound",
                    gateway,
                )
            })?;
        g.attached_to = Some(vpc_id.to_string());
        Ok(())
    }

    async fn detach_internet_gateway(&self, gateway: &str, vpc_id: &str) -> Result<(), AwsError> {
        let mut w = self.world();
        if w.nat_gateways.iter().any(|n| n.vpc_id == vpc_id) {
            return Err(err(
                "DetachInternetGateway",
                "DependencyViolation",
                format!("Network {vpc_id} has some mapped public address(es)"),
            ));
        }
        if let Some(g) = w.internet_gateways.iter_mut().find(|g| g.id == gateway) {
            g.attached_to = None;
        }
        Ok(())
    }

    async fn delete_internet_gateway(&self, gateway: &str) -> Result<(), AwsError> {
        let mut w = self.world();
        if w.internet_gateways
            .iter()
            .any(|g| g.id == gateway && g.attached_to.is_some())
        {
            return Err(err(
                "DeleteInternetGateway",
                "DependencyViolation",
                format!("{gateway} is attached"),
            ));
        }
        w.internet_gateways.retain(|g| g.id != gateway);
        Ok(())
    }
}

impl subnet::Api for FakeCloud {
    async fn describe_subnets_by_plan(&self, plan: &str) -> Result<Vec<ObservedSubnet>, AwsError> {
        let w = self.world();
        Ok(w.subnets
            .iter()
            .filter(|s| owned_by(&s.tags, plan))
            .cloned()
            .collect())
    }

    async fn describe_subnets_by_ids(
        &self,
        ids: &[String],
    ) -> Result<Vec<ObservedSubnet>, AwsError> {
        let w = self.world();
        Ok(w.subnets
            .iter()
            .filter(|s| ids.contains(&s.id))
            .cloned()
            .collect())
    }

    async fn describe_zones(&self) -> Result<Vec<crate::plan::zones::Zone>, AwsError> {
        Ok("abcdef"
            .chars()
            .filter_map(|c| {
                let name = format!("us-east-1{c}");
                Some(crate::plan::zones::Zone {
                    id: zone_id(&name)?,
                    name,
                })
            })
            .collect())
    }

    async fn describe_subnets_in_vpc(&self, vpc_id: &str) -> Result<Vec<ObservedSubnet>, AwsError> {
        let w = self.world();
        Ok(w.subnets
            .iter()
            .filter(|s| s.vpc_id == vpc_id)
            .cloned()
            .collect())
    }

    async fn create_subnet(
        &self,
        vpc_id: &str,
        az: &str,
        cidr: &str,
        tags: &Tags,
    ) -> Result<String, AwsError> {
        let mut w = self.world();
        if !w.vpcs.iter().any(|v| v.id == vpc_id) {
            return Err(err("CreateSubnet", "InvalidVpcID.NotFound", vpc_id));
        }
        if w.subnets
            .iter()
            .any(|s| s.vpc_id == vpc_id && overlaps(&s.cidr, cidr))
        {
            return Err(err(
                "CreateSubnet",
                "InvalidSubnet.Conflict",
                format!("{cidr} conflicts"),
            ));
        }
        let id = self.new_id("subnet");
        w.subnets.push(ObservedSubnet {
            id: id.clone(),
            vpc_id: vpc_id.into(),
            availability_zone: az.into(),
            availability_zone_id: zone_id(az),
            cidr: cidr.into(),
            tags: tags.clone(),
            // AWS reserves 5 addresses of every subnet.
            available_ips: cidr
                .parse::<ipnet::Ipv4Net>()
                .ok()
                .map(|n| (1u32 << (32 - u32::from(n.prefix_len()))).saturating_sub(5)),
        });
        Ok(id)
    }

    async fn delete_subnet(&self, id: &str) -> Result<(), AwsError> {
        let mut w = self.world();
        if w.endpoints
            .iter()
            .any(|e| e.subnet_ids.iter().any(|s| s == id))
            || w.domains
                .iter()
                .any(|d| d.subnet_ids.iter().any(|s| s == id))
            || w.nat_gateways.iter().any(|n| n.subnet_id == id)
        {
            return Err(err(
                "DeleteSubnet",
                "DependencyViolation",
                format!("{id} has endpoint or Studio interfaces"),
            ));
        }
        for r in &mut w.route_tables {
            r.associations.retain(|a| a.subnet_id != id);
        }
        w.subnets.retain(|s| s.id != id);
        Ok(())
    }
}

impl route_table::Api for FakeCloud {
    async fn describe_route_tables_by_plan(
        &self,
        plan: &str,
    ) -> Result<Vec<ObservedRouteTable>, AwsError> {
        let w = self.world();
        Ok(w.route_tables
            .iter()
            .filter(|r| owned_by(&r.tags, plan))
            .cloned()
            .collect())
    }

    async fn describe_route_tables_in_vpc(
        &self,
        vpc_id: &str,
    ) -> Result<Vec<ObservedRouteTable>, AwsError> {
        let w = self.world();
        Ok(w.route_tables
            .iter()
            .filter(|r| r.vpc_id == vpc_id)
            .cloned()
            .collect())
    }

    async fn create_route_table(
        &self,
        vpc_id: &str,
        tags: &Tags,
        _token: &str,
    ) -> Result<String, AwsError> {
        let id = self.new_id("rtb");
        self.world().route_tables.push(ObservedRouteTable {
            id: id.clone(),
            vpc_id: vpc_id.into(),
            associations: vec![],
            routes: vec![ObservedRoute {
                destination: "local".into(),
                target: "local".into(),
            }],
            tags: tags.clone(),
            main: false,
        });
        Ok(id)
    }

    async fn delete_route_table(&self, id: &str) -> Result<(), AwsError> {
        let mut w = self.world();
        if w.route_tables
            .iter()
            .any(|r| r.id == id && !r.associations.is_empty())
        {
            return Err(err(
                "DeleteRouteTable",
                "DependencyViolation",
                format!("{id} has associations"),
            ));
        }
        w.route_tables.retain(|r| r.id != id);
        Ok(())
    }
}

impl route_table_association::Api for FakeCloud {
    async fn associate_route_table(
        &self,
        route_table_id: &str,
        subnet_id: &str,
    ) -> Result<String, AwsError> {
        let op = "AssociateRouteTable";
        let aid = self.new_id("rtbassoc");
        let mut w = self.world();
        if w.route_tables
            .iter()
            .any(|r| r.associations.iter().any(|a| a.subnet_id == subnet_id))
        {
            return Err(err(op, "Resource.AlreadyAssociated", subnet_id));
        }
        let rt = w
            .route_tables
            .iter_mut()
            .find(|r| r.id == route_table_id)
            .ok_or_else(|| err(op, "InvalidRouteTableID.NotFound", route_table_id))?;
        rt.associations.push(ObservedAssociation {
            id: aid.clone(),
            subnet_id: subnet_id.into(),
        });
        Ok(aid)
    }

    async fn replace_route_table_association(
        &self,
        association_id: &str,
        route_table_id: &str,
    ) -> Result<String, AwsError> {
        let op = "ReplaceRouteTableAssociation";
        let aid = self.new_id("rtbassoc");
        let mut w = self.world();
        if !w.route_tables.iter().any(|r| r.id == route_table_id) {
            return Err(err(op, "InvalidRouteTableID.NotFound", route_table_id));
        }
        let subnet = w
            .route_tables
            .iter_mut()
            .find_map(|r| {
                let i = r.associations.iter().position(|a| a.id == association_id)?;
                Some(r.associations.remove(i).subnet_id)
            })
            .ok_or_else(|| err(op, "InvalidAssociationID.NotFound", association_id))?;
        let rt = w
            .route_tables
            .iter_mut()
            .find(|r| r.id == route_table_id)
            .expect("checked above");
        rt.associations.push(ObservedAssociation {
            id: aid.clone(),
            subnet_id: subnet,
        });
        Ok(aid)
    }

    async fn disassociate_route_table(&self, association_id: &str) -> Result<(), AwsError> {
        for r in &mut self.world().route_tables {
            r.associations.retain(|a| a.id != association_id);
        }
        Ok(())
    }
}

impl tags::Api for FakeCloud {
    async fn create_tags(&self, id: &str, set: &Tags) -> Result<(), AwsError> {
        let mut w = self.world();
        let t = w
            .tags_of(id)
            .ok_or_else(|| err("CreateTags", "InvalidID", id))?;
        t.extend(set.clone());
        Ok(())
    }

    async fn delete_tags(&self, id: &str, keys: &[String]) -> Result<(), AwsError> {
        let mut w = self.world();
        let t = w
            .tags_of(id)
            .ok_or_else(|| err("DeleteTags", "InvalidID", id))?;
        for k in keys {
            t.remove(k);
        }
        Ok(())
    }

    async fn tag_role(&self, role: &str, tags: &Tags) -> Result<(), AwsError> {
        self.create_tags(role, tags).await
    }

    async fn untag_role(&self, role: &str, keys: &[String]) -> Result<(), AwsError> {
        self.delete_tags(role, keys).await
    }

    async fn tag_policy(&self, policy: &str, tags: &Tags) -> Result<(), AwsError> {
        self.create_tags(policy, tags).await
    }

    async fn untag_policy(&self, policy: &str, keys: &[String]) -> Result<(), AwsError> {
        self.delete_tags(policy, keys).await
    }

    async fn add_sagemaker_tags(&self, arn: &str, tags: &Tags) -> Result<(), AwsError> {
        self.create_tags(arn, tags).await
    }

    async fn delete_sagemaker_tags(&self, arn: &str, keys: &[String]) -> Result<(), AwsError> {
        self.delete_tags(arn, keys).await
    }
}

impl super::World {
    fn tags_of(&mut self, id: &str) -> Option<&mut Tags> {
        let w = self;
        if let Some(x) = w.roles.iter_mut().find(|x| x.id == id) {
            return Some(&mut x.tags);
        }
        if let Some(x) = w.policies.iter_mut().find(|x| x.id == id) {
            return Some(&mut x.tags);
        }
        if let Some(x) = w.domains.iter_mut().find(|x| x.arn == id) {
            return Some(&mut x.tags);
        }
        if let Some(x) = w.user_profiles.iter_mut().find(|x| x.arn == id) {
            return Some(&mut x.tags);
        }
        if let Some(x) = w.vpcs.iter_mut().find(|x| x.id == id) {
            return Some(&mut x.tags);
        }
        if let Some(x) = w.internet_gateways.iter_mut().find(|x| x.id == id) {
            return Some(&mut x.tags);
        }
        if let Some(x) = w.addresses.iter_mut().find(|x| x.id == id) {
            return Some(&mut x.tags);
        }
        if let Some(x) = w.nat_gateways.iter_mut().find(|x| x.id == id) {
            return Some(&mut x.tags);
        }
        if let Some(x) = w.subnets.iter_mut().find(|x| x.id == id) {
            return Some(&mut x.tags);
        }
        if let Some(x) = w.route_tables.iter_mut().find(|x| x.id == id) {
            return Some(&mut x.tags);
        }
        if let Some(x) = w.security_groups.iter_mut().find(|x| x.id == id) {
            return Some(&mut x.tags);
        }
        w.endpoints
            .iter_mut()
            .find(|x| x.id == id)
            .map(|x| &mut x.tags)
    }
}

/// The fake account's zone IDs: names map to IDs in no particular order, as on AWS
/// (us-east-1a is use1-az4 here).
pub fn zone_id(name: &str) -> Option<String> {
    let letter = name.strip_prefix("us-east-1")?;
    let n = match letter {
        "a" => 4,
        "b" => 6,
        "c" => 1,
        "d" => 2,
        "e" => 3,
        "f" => 5,
        _ => return None,
    };
    Some(format!("use1-az{n}"))
}
