//! Zones by ID and `skip_unsupported_azs` against the in-memory cloud: IDs become this
//! account's names before the diff, an endpoint whose service lacks an AZ is refused
//! (naming the AZ) or, with the option, placed in the other AZs with a note, compared
//! by AZ ID where the service answer carries IDs; each converges and re-plans empty.

use std::sync::Arc;

use super::tests::{converge, plan_from};
use super::*;
use crate::execute::fake::FakeCloud;
use crate::plan::Plan;
use crate::resources::subnet::Api as _;

const STUDIO: &str = include_str!("../../plans/studio-vpc.toml");
const STUDIO_SVC: &str = "aws.sagemaker.us-east-1.studio";

fn plan(name: &str, edit: impl Fn(String) -> String) -> Plan {
    let text = STUDIO.replace("name = \"ml-platform\"", &format!("name = \"{name}\""));
    assert!(text.contains(name), "test bug: plan name");
    plan_from(&edit(text))
}

/// The example plan with its zones given by ID (the fake account maps us-east-1a, b, c
/// to use1-az4, az6, az1).
fn by_id(text: String) -> String {
    text.replace("\"us-east-1a\"", "\"use1-az4\"")
        .replace("\"us-east-1b\"", "\"use1-az6\"")
        .replace("\"us-east-1c\"", "\"use1-az1\"")
}

fn skip(text: String) -> String {
    text.replace(
        "private_dns = true",
        "private_dns = true\nskip_unsupported_azs = true",
    )
}

fn resolved(cloud: &FakeCloud, mut p: Plan) -> Plan {
    let zones = futures::executor::block_on(cloud.describe_zones()).unwrap();
    crate::plan::zones::resolve(&mut p, &zones).unwrap();
    p
}

fn studio_subnets(cloud: &FakeCloud) -> Vec<String> {
    let w = cloud.world.lock().unwrap();
    let ep = w
        .endpoints
        .iter()
        .find(|e| e.service_name == STUDIO_SVC)
        .expect("studio endpoint");
    let mut azs: Vec<String> = ep
        .subnet_ids
        .iter()
        .map(|id| {
            let s = w.subnets.iter().find(|s| &s.id == id).unwrap();
            s.availability_zone.clone()
        })
        .collect();
    azs.sort();
    azs
}

#[tokio::test]
async fn zones_by_id_become_names_and_converge() {
    let cloud = Arc::new(FakeCloud::default());
    let p = resolved(&cloud, plan("z1", by_id));
    assert_eq!(p.subnets["private-a"].availability_zone, "us-east-1a");
    assert_eq!(p.subnets["private-c"].zone_id.as_deref(), Some("use1-az1"));
    converge(&cloud, &p).await;
    let w = cloud.world.lock().unwrap();
    let mut azs: Vec<&str> = w
        .subnets
        .iter()
        .map(|s| s.availability_zone.as_str())
        .collect();
    azs.sort();
    assert_eq!(azs, ["us-east-1a", "us-east-1b", "us-east-1c"]);
}

#[test]
fn a_service_missing_in_an_az_is_refused_and_names_the_option() {
    let cloud = FakeCloud::default();
    cloud
        .world
        .lock()
        .unwrap()
        .services_missing
        .insert(STUDIO_SVC.into(), vec!["us-east-1c".into()]);
    let p = plan("z2", |t| t);
    let msg = diff(&p, &cloud.observe(&p)).unwrap_err().to_string();
    assert!(
        msg.contains("interface_endpoints.subnets: studio: aws.sagemaker.us-east-1.studio is not offered in us-east-1c (subnet private-c); it is offered in: us-east-1a, us-east-1b, us-east-1d, us-east-1e, us-east-1f. With skip_unsupported_azs = true"),
        "{msg}"
    );
}

#[tokio::test]
async fn skip_places_the_endpoint_where_its_service_is_and_says_so() {
    let cloud = Arc::new(FakeCloud::default());
    cloud
        .world
        .lock()
        .unwrap()
        .services_missing
        .insert(STUDIO_SVC.into(), vec!["us-east-1c".into()]);
    let p = plan("z3", skip);
    let cs = converge(&cloud, &p).await;
    let note = cs
        .warnings
        .iter()
        .find(|w| {
            w.starts_with("interface_endpoint.studio: not placed in subnet private-c (us-east-1c)")
        })
        .unwrap_or_else(|| panic!("{:?}", cs.warnings));
    assert!(
        note.contains(
            "aws.sagemaker.us-east-1.studio is not offered in that AZ (skip_unsupported_azs)"
        ),
        "{note}"
    );
    assert_eq!(studio_subnets(&cloud), ["us-east-1a", "us-east-1b"]);
    // Every other endpoint keeps all three subnets.
    let w = cloud.world.lock().unwrap();
    assert!(w
        .endpoints
        .iter()
        .filter(|e| e.service_name != STUDIO_SVC
            && e.endpoint_type == crate::observe::EndpointType::Interface)
        .all(|e| e.subnet_ids.len() == 3));
}

#[tokio::test]
async fn support_is_compared_by_zone_id_when_the_service_tells_it() {
    let cloud = Arc::new(FakeCloud::default());
    {
        let mut w = cloud.world.lock().unwrap();
        w.service_zone_ids = true;
        w.services_missing
            .insert(STUDIO_SVC.into(), vec!["us-east-1b".into()]);
    }
    let p = resolved(&cloud, plan("z4", |t| skip(by_id(t))));
    let cs = converge(&cloud, &p).await;
    assert!(
        cs.warnings.iter().any(|w| w.starts_with(
            "interface_endpoint.studio: not placed in subnet private-b (us-east-1b, use1-az6)"
        )),
        "{:?}",
        cs.warnings
    );
    assert_eq!(studio_subnets(&cloud), ["us-east-1a", "us-east-1c"]);
}

#[test]
fn an_endpoint_offered_in_none_of_its_azs_is_still_refused() {
    let cloud = FakeCloud::default();
    let all = ["us-east-1a", "us-east-1b", "us-east-1c"]
        .map(String::from)
        .to_vec();
    cloud
        .world
        .lock()
        .unwrap()
        .services_missing
        .insert(STUDIO_SVC.into(), all);
    let p = plan("z5", skip);
    let msg = diff(&p, &cloud.observe(&p)).unwrap_err().to_string();
    assert_eq!(msg.matches("studio is not offered in").count(), 3, "{msg}");
}
