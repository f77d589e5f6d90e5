//! The fake's IAM role, Studio domain and user profiles. It enforces what the ordering
//! depends on: a domain with user profiles cannot be deleted, a profile needs its
//! domain, a role's policies must be detached before it is deleted.

use super::{err, FakeCloud};
use crate::aws::AwsError;
use crate::observe::{owned_key, ObservedDomain, ObservedRole, ObservedUserProfile, Tags};
use crate::resources::studio_domain::{DeleteDomain, DomainUpdateIds, NewDomainIds};
use crate::resources::{iam_role, studio_domain, user_profile};

const ACCOUNT: &str = "000000000000";

impl iam_role::Api for FakeCloud {
    async fn get_role(&self, name: &str) -> Result<Option<ObservedRole>, AwsError> {
        Ok(self.world().roles.iter().find(|r| r.name == name).cloned())
    }

    async fn create_role(
        &self,
        name: &str,
        path: &str,
        trust: &str,
        tags: &Tags,
    ) -> Result<String, AwsError> {
        let mut w = self.world();
        if w.roles.iter().any(|r| r.name == name) {
            return Err(err("CreateRole", "EntityAlreadyExists", name));
        }
        let arn = format!("arn:aws:iam::{ACCOUNT}:role{path}{name}");
        w.roles.push(ObservedRole {
            id: arn.clone(),
            name: name.into(),
            path: path.into(),
            trust: serde_json::from_str(trust).expect("a JSON trust policy"),
            policies: Vec::new(),
            tags: tags.clone(),
        });
        Ok(arn)
    }

    async fn attach_role_policy(&self, role: &str, policy: &str) -> Result<(), AwsError> {
        let mut w = self.world();
        let r = w
            .roles
            .iter_mut()
            .find(|r| r.id == role)
            .ok_or_else(|| err("AttachRolePolicy", "NoSuchEntity", role))?;
        if !r.policies.iter().any(|p| p == policy) {
            r.policies.push(policy.into());
        }
        Ok(())
    }

    async fn detach_role_policy(&self, role: &str, policy: &str) -> Result<(), AwsError> {
        if let Some(r) = self.world().roles.iter_mut().find(|r| r.id == role) {
            r.policies.retain(|p| p != policy);
        }
        Ok(())
    }

    async fn update_trust(&self, role: &str, trust: &str) -> Result<(), AwsError> {
        let mut w = self.world();
        let r = w
            .roles
            .iter_mut()
            .find(|r| r.id == role)
            .ok_or_else(|| err("UpdateAssumeRolePolicy", "NoSuchEntity", role))?;
        r.trust = serde_json::from_str(trust).expect("a JSON trust policy");
        Ok(())
    }

    async fn delete_role(&self, role: &str) -> Result<(), AwsError> {
        let mut w = self.world();
        if w.roles
            .iter()
            .any(|r| r.id == role && !r.policies.is_empty())
        {
            return Err(err(
                "DeleteRole",
                "DeleteConflict",
                "detach the policies first",
            ));
        }
        w.roles.retain(|r| r.id != role);
        Ok(())
    }
}

impl studio_domain::Api for FakeCloud {
    async fn describe_domains_by_plan(&self, plan: &str) -> Result<Vec<ObservedDomain>, AwsError> {
        let w = self.world();
        Ok(w.domains
            .iter()
            .filter(|d| owned_key(&d.tags, plan).is_some())
            .cloned()
            .collect())
    }

    async fn create_domain(&self, d: &NewDomainIds) -> Result<String, AwsError> {
        let id = self.new_id("d");
        let mut w = self.world();
        if !w.roles.iter().any(|r| r.id == d.role) && !d.role.contains(":role/existing") {
            return Err(err(
                "CreateDomain",
                "ValidationException",
                "the role cannot be assumed",
            ));
        }
        w.domains.push(ObservedDomain {
            id: id.clone(),
            arn: format!("arn:aws:sagemaker:us-east-1:{ACCOUNT}:domain/{id}"),
            name: d.name.clone(),
            status: "InService".into(),
            auth_mode: d.auth_mode.clone(),
            vpc_id: d.vpc.clone(),
            subnet_ids: d.subnets.clone(),
            vpc_only: true,
            execution_role: d.role.clone(),
            security_groups: d.groups.clone(),
            home_efs: Some(format!("fs-{id}")),
            url: None,
            tags: d.tags.clone(),
        });
        Ok(id)
    }

    async fn update_domain(&self, u: &DomainUpdateIds) -> Result<(), AwsError> {
        let mut w = self.world();
        let d = w
            .domains
            .iter_mut()
            .find(|d| d.id == u.domain)
            .ok_or_else(|| err("UpdateDomain", "ResourceNotFound", &u.domain))?;
        d.subnet_ids = u.subnets.clone();
        d.security_groups = u.groups.clone();
        d.execution_role = u.role.clone();
        d.vpc_only = true;
        Ok(())
    }

    async fn wait_domain_in_service(&self, _id: &str) -> Result<(), AwsError> {
        Ok(())
    }

    async fn delete_domain(&self, id: &str) -> Result<(), AwsError> {
        let mut w = self.world();
        if w.user_profiles.iter().any(|p| p.domain_id == id) {
            return Err(err(
                "DeleteDomain",
                "ResourceInUse",
                "the domain has user profiles",
            ));
        }
        w.domains.retain(|d| d.id != id);
        Ok(())
    }

    async fn delete_domain_leftovers(&self, _d: &DeleteDomain) -> Result<(), AwsError> {
        Ok(())
    }

    async fn tag_domain_leftovers(
        &self,
        _d: &str,
        _vpc: &str,
        _plan: &str,
    ) -> Result<(), AwsError> {
        Ok(())
    }

    async fn describe_domain_leftovers(
        &self,
        _plan: &str,
    ) -> Result<Vec<(String, String)>, AwsError> {
        Ok(Vec::new())
    }
}

impl user_profile::Api for FakeCloud {
    async fn describe_user_profiles_by_plan(
        &self,
        plan: &str,
        domains: &[String],
    ) -> Result<Vec<ObservedUserProfile>, AwsError> {
        let w = self.world();
        Ok(w.user_profiles
            .iter()
            .filter(|p| domains.contains(&p.domain_id) && owned_key(&p.tags, plan).is_some())
            .cloned()
            .collect())
    }

    async fn create_user_profile(
        &self,
        domain: &str,
        name: &str,
        groups: &[String],
        tags: &Tags,
    ) -> Result<String, AwsError> {
        let mut w = self.world();
        if !w.domains.iter().any(|d| d.id == domain) {
            return Err(err("CreateUserProfile", "ResourceNotFound", domain));
        }
        let id = format!("{domain}/{name}");
        w.user_profiles.push(ObservedUserProfile {
            id: id.clone(),
            arn: format!("arn:aws:sagemaker:us-east-1:{ACCOUNT}:user-profile/{id}"),
            domain_id: domain.into(),
            name: name.into(),
            status: "InService".into(),
            security_groups: groups.to_vec(),
            tags: tags.clone(),
        });
        Ok(id)
    }

    async fn update_user_profile(
        &self,
        domain: &str,
        name: &str,
        groups: &[String],
    ) -> Result<(), AwsError> {
        let mut w = self.world();
        let p = w
            .user_profiles
            .iter_mut()
            .find(|p| p.domain_id == domain && p.name == name)
            .ok_or_else(|| err("UpdateUserProfile", "ResourceNotFound", name))?;
        p.security_groups = groups.to_vec();
        Ok(())
    }

    async fn delete_user_profile(&self, domain: &str, name: &str) -> Result<(), AwsError> {
        self.world()
            .user_profiles
            .retain(|p| !(p.domain_id == domain && p.name == name));
        Ok(())
    }
}
