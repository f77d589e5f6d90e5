//! SageMaker user profiles: read by domain, create and update (until `InService`),
//! delete with the user's apps and private spaces first (SageMaker refuses to delete a
//! profile that still has them).

use std::time::Duration;

use aws_sdk_sagemaker::types::UserSettings;

use super::poll::{self, Look};
use super::sagemaker::sm_tags;
use super::{gone_ok, pages, send, Aws, AwsError};
use crate::observe::{ObservedUserProfile, Tags};
use crate::resources::user_profile::Api;

/// How long a profile or an app may take to become `InService` or go away.
const WAIT: Duration = Duration::from_secs(30 * 60);

/// An app as `DeleteApp` names it.
#[derive(Debug, Clone, PartialEq)]
struct App {
    app_type: aws_sdk_sagemaker::types::AppType,
    name: String,
    space: Option<String>,
    status: String,
}

impl Aws {
    async fn describe_profile(
        &self,
        domain: &str,
        name: &str,
    ) -> Result<Option<ObservedUserProfile>, AwsError> {
        let p = match send!(self
            .sagemaker
            .describe_user_profile()
            .domain_id(domain)
            .user_profile_name(name))
        {
            Ok(p) => p,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let arn = p.user_profile_arn().unwrap_or_default().to_string();
        Ok(Some(ObservedUserProfile {
            id: format!("{domain}/{name}"),
            tags: self.sagemaker_tags_of(&arn).await?,
            arn,
            domain_id: domain.to_string(),
            name: name.to_string(),
            status: p
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            security_groups: p
                .user_settings()
                .map(|u| u.security_groups().to_vec())
                .unwrap_or_default(),
        }))
    }

    /// Until the profile is `InService` (`in_service = false`: until it is gone).
    async fn wait_profile(
        &self,
        domain: &str,
        name: &str,
        in_service: bool,
    ) -> Result<(), AwsError> {
        let what = format!("user profile {name} of {domain}");
        poll::until("DescribeUserProfile", &what, WAIT, || async {
            let status = match send!(self
                .sagemaker
                .describe_user_profile()
                .domain_id(domain)
                .user_profile_name(name))
            {
                Err(e) if e.is_not_found() && !in_service => return Ok(Look::Done(())),
                p => p?
                    .status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            };
            if in_service && status == "InService" {
                return Ok(Look::Done(()));
            }
            if status.ends_with("Failed") {
                return Err(AwsError::new(
                    "DescribeUserProfile",
                    Some(status.as_str()),
                    format!("{what} is {status}"),
                ));
            }
            Ok(Look::NotYet(status))
        })
        .await
    }

    async fn apps(
        &self,
        domain: &str,
        user: Option<&str>,
        space: Option<&str>,
    ) -> Result<Vec<App>, AwsError> {
        let pages = pages!(self
            .sagemaker
            .list_apps()
            .domain_id_equals(domain)
            .set_user_profile_name_equals(user.map(str::to_string))
            .set_space_name_equals(space.map(str::to_string))
            .into_paginator())?;
        Ok(pages
            .iter()
            .flat_map(|p| p.apps())
            .filter_map(|a| {
                Some(App {
                    app_type: a.app_type()?.clone(),
                    name: a.app_name()?.to_string(),
                    space: a.space_name().map(str::to_string),
                    status: a
                        .status()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                })
            })
            .collect())
    }

    /// Delete the apps (of a user, or of a space) and wait until each is `Deleted`.
    async fn delete_apps(
        &self,
        domain: &str,
        user: Option<&str>,
        space: Option<&str>,
    ) -> Result<(), AwsError> {
        poll::until("ListApps", &format!("an app of {domain}"), WAIT, || async {
            let live: Vec<App> = self
                .apps(domain, user, space)
                .await?
                .into_iter()
                .filter(|a| a.status != "Deleted" && a.status != "Failed")
                .collect();
            if live.is_empty() {
                return Ok(Look::Done(()));
            }
            for a in live.iter().filter(|a| a.status != "Deleting") {
                let r = send!(self
                    .sagemaker
                    .delete_app()
                    .domain_id(domain)
                    .set_user_profile_name(user.filter(|_| a.space.is_none()).map(str::to_string))
                    .set_space_name(a.space.clone())
                    .app_type(a.app_type.clone())
                    .app_name(&a.name));
                gone_ok(r.map(|_| ()))?;
            }
            Ok(Look::NotYet(format!("running ({} apps)", live.len())))
        })
        .await
    }

    /// The spaces `user` owns (private spaces), with their apps, then the spaces.
    async fn delete_spaces_of(&self, domain: &str, user: &str) -> Result<(), AwsError> {
        let pages = pages!(self
            .sagemaker
            .list_spaces()
            .domain_id_equals(domain)
            .into_paginator())?;
        let owned: Vec<String> = pages
            .iter()
            .flat_map(|p| p.spaces())
            .filter(|s| {
                s.ownership_settings_summary()
                    .and_then(|o| o.owner_user_profile_name())
                    == Some(user)
            })
            .filter_map(|s| s.space_name().map(str::to_string))
            .collect();
        for space in owned {
            self.delete_apps(domain, None, Some(&space)).await?;
            let r = send!(self
                .sagemaker
                .delete_space()
                .domain_id(domain)
                .space_name(&space));
            gone_ok(r.map(|_| ()))?;
        }
        Ok(())
    }
}

impl Api for Aws {
    async fn describe_user_profiles_by_plan(
        &self,
        plan: &str,
        domains: &[String],
    ) -> Result<Vec<ObservedUserProfile>, AwsError> {
        let mut out = Vec::new();
        for domain in domains {
            let pages = pages!(self
                .sagemaker
                .list_user_profiles()
                .domain_id_equals(domain)
                .into_paginator())?;
            let names: Vec<String> = pages
                .iter()
                .flat_map(|p| p.user_profiles())
                .filter_map(|u| u.user_profile_name().map(str::to_string))
                .collect();
            let described =
                futures::future::join_all(names.iter().map(|n| self.describe_profile(domain, n)))
                    .await;
            for p in described {
                out.extend(p?.filter(|p| crate::observe::owned_key(&p.tags, plan).is_some()));
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn create_user_profile(
        &self,
        domain: &str,
        name: &str,
        groups: &[String],
        tags: &Tags,
    ) -> Result<String, AwsError> {
        let user = UserSettings::builder()
            .set_security_groups(Some(groups.to_vec()))
            .build();
        send!(self
            .sagemaker
            .create_user_profile()
            .domain_id(domain)
            .user_profile_name(name)
            .user_settings(user)
            .set_tags(Some(sm_tags(tags))))?;
        self.wait_profile(domain, name, true).await?;
        Ok(format!("{domain}/{name}"))
    }

    async fn update_user_profile(
        &self,
        domain: &str,
        name: &str,
        groups: &[String],
    ) -> Result<(), AwsError> {
        let user = UserSettings::builder()
            .set_security_groups(Some(groups.to_vec()))
            .build();
        send!(self
            .sagemaker
            .update_user_profile()
            .domain_id(domain)
            .user_profile_name(name)
            .user_settings(user))?;
        self.wait_profile(domain, name, true).await
    }

    async fn delete_user_profile(&self, domain: &str, name: &str) -> Result<(), AwsError> {
        self.delete_apps(domain, Some(name), None).await?;
        self.delete_spaces_of(domain, name).await?;
        match send!(self
            .sagemaker
            .delete_user_profile()
            .domain_id(domain)
            .user_profile_name(name))
        {
            Err(e) if e.is_not_found() => Ok(()),
            other => {
                other?;
                self.wait_profile(domain, name, false).await
            }
        }
    }
}
