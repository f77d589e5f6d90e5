//! EC2: one file per kind (its `Api` implemented for [`Aws`]), plus what they share:
//! tags, filters, the apply lock's key pair.

mod endpoint;
mod internet_gateway;
pub mod inventory;
mod key_pair;
mod nat_gateway;
mod residents;
mod route;
mod route_table;
mod security_group;
mod subnet;
mod tags;
mod unowned;
mod vpc;

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};

use super::Aws;
use crate::model::TAG_PLAN;
use crate::observe::Tags;

fn tag_list(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Tags applied at creation: a crash between a create and its tagging cannot happen.
fn tag_spec(rt: ResourceType, tags: &Tags) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(rt)
        .set_tags(Some(tag_list(tags)))
        .build()
}

fn tags_of(tags: &[Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
        .collect()
}

/// Everything tagged with the plan.
fn plan_filter(plan: &str) -> Filter {
    filter(&format!("tag:{TAG_PLAN}"), plan)
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

impl Aws {
    /// How long `*.NotFound` right after a create is retried.
    fn not_found_window(&self) -> std::time::Duration {
        self.limits.not_found_window
    }

    pub(crate) fn dependency_window(&self) -> std::time::Duration {
        self.limits.dependency_window
    }
}
