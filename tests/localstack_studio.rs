//! SageMaker Studio domains in the plan's VPC (LocalStack for EC2, moto's server for
//! SageMaker, which LocalStack's community edition does not emulate). A Studio domain
//! puts network interfaces in its subnets and security groups and EFS mount targets in
//! its subnets; sagevpc must refuse, before any change, to delete what a domain uses
//! (destroy, a replaced subnet), and go ahead once the domain is gone.

mod common;

use aws_sdk_sagemaker::types::{AppNetworkAccessType, AuthMode, UserSettings};
use common::moto::{iam, Moto};
use common::*;

fn mutating(err: &str) -> u64 {
    err.lines()
        .find_map(|l| {
            let rest = l.strip_prefix("stats: ")?;
            let open = rest.find('(')?;
            rest[open + 1..]
                .strip_suffix(" mutating)")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no stats line in:\n{err}"))
}

#[tokio::test]
async fn a_studio_domain_blocks_deleting_its_network_until_it_is_gone() {
    let moto = Moto::start();
    let sm = moto.client().await;
    let env = [("AWS_ENDPOINT_URL_SAGEMAKER", moto.url.as_str())];
    let c = ec2().await;
    let name = unique_name("studio");
    let (mut dir, path) = PlanDir::studio(&name);
    let plan = path.to_string_lossy().into_owned();
    run_expect(0, &["apply", &plan, "--auto-approve"]);

    let vpc = vpcs_of(&c, &name).await[0]
        .vpc_id()
        .expect("vpc id")
        .to_string();
    let subnet = |key: &'static str| {
        let c = c.clone();
        let name = name.clone();
        async move {
            subnets_of(&c, &name)
                .await
                .into_iter()
                .find(|s| tag(s.tags(), "sagevpc:key") == Some(key))
                .and_then(|s| s.subnet_id().map(str::to_string))
                .expect(key)
        }
    };
    let (sub_a, sub_b) = (
        subnet("subnet.private-a").await,
        subnet("subnet.private-b").await,
    );
    let workloads = security_groups_of(&c, &name)
        .await
        .into_iter()
        .find(|g| tag(g.tags(), "sagevpc:key") == Some("security_group.workloads"))
        .and_then(|g| g.group_id().map(str::to_string))
        .expect("workloads group");

    // A VpcOnly Studio domain on private-a and private-b, its users in `workloads`, and
    // one in another VPC that must not matter.
    let domain = sm
        .create_domain()
        .domain_name(format!("{name}-studio"))
        .auth_mode(AuthMode::Iam)
        .default_user_settings(
            UserSettings::builder()
                .execution_role("arn:aws:iam::000000000000:role/sagemaker")
                .security_groups(&workloads)
                .build(),
        )
        .vpc_id(&vpc)
        .subnet_ids(&sub_a)
        .subnet_ids(&sub_b)
        .app_network_access_type(AppNetworkAccessType::VpcOnly)
        .send()
        .await
        .expect("create domain");
    let domain_id = domain
        .domain_arn()
        .and_then(|a| a.rsplit('/').next())
        .expect("domain id")
        .to_string();
    sm.create_domain()
        .domain_name(format!("{name}-other"))
        .auth_mode(AuthMode::Iam)
        .default_user_settings(
            UserSettings::builder()
                .execution_role("arn:aws:iam::000000000000:role/sagemaker")
                .build(),
        )
        .vpc_id("vpc-0123456789abcdef0")
        .subnet_ids("subnet-0123456789abcdef0")
        .send()
        .await
        .expect("create other domain");
    let before = owned(&c, &name).await;

    // destroy: refused before any change, naming each blocked resource and the domain.
    let (code, out, err) = run_env(&["destroy", &plan, "--auto-approve", "--stats"], &env);
    assert_eq!(code, 1, "destroy must be refused\n{out}\n{err}");
    for (addr, id) in [
        ("subnet.private-a", sub_a.as_str()),
        ("subnet.private-b", sub_b.as_str()),
        ("security_group.workloads", workloads.as_str()),
        ("vpc.main", vpc.as_str()),
    ] {
        assert!(
            err.contains(&format!("{addr} ({id}) cannot be deleted: SageMaker Studio domain {name}-studio ({domain_id}, InService)")),
            "{addr} not named:\n{err}"
        );
    }
    assert!(
        !err.contains("subnet.private-c"),
        "private-c is not the domain's:\n{err}"
    );
    assert!(err.contains("Nothing was changed."), "{err}");
    assert_eq!(mutating(&err), 0, "no mutating call:\n{err}");
    assert!(err.contains("ListDomains"), "{err}");
    let after = owned(&c, &name).await;
    assert_eq!(after.total(), before.total(), "{before:?} -> {after:?}");

    // A plan edit that replaces a subnet the domain uses is refused the same way; one
    // that replaces a subnet it does not use plans normally.
    let text = shipped("studio-vpc.toml");
    dir.write("edited.toml", &text.replace("us-east-1a\"", "us-east-1d\""));
    let edited = dir
        .path()
        .join("edited.toml")
        .to_string_lossy()
        .into_owned();
    let (code, _, err) = run_env(&["plan", &edited], &env);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("subnet.private-a ("), "{err}");
    dir.write("edited.toml", &text.replace("us-east-1c\"", "us-east-1d\""));
    let (code, out, err) = run_env(&["plan", &edited, "--detailed-exitcode"], &env);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(out.contains("-/+ subnet.private-c"), "{out}");

    // A no-op or create-only plan makes no SageMaker call at all.
    dir.write("studio-vpc.toml", &text);
    let (code, _, err) = run_env(&["plan", &plan, "--detailed-exitcode", "--stats"], &env);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("ListDomains"), "{err}");

    // Once the domain is gone, destroy goes ahead and leaves nothing.
    sm.delete_domain()
        .domain_id(&domain_id)
        .send()
        .await
        .expect("delete domain");
    let (code, out, err) = run_env(&["destroy", &plan, "--auto-approve"], &env);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(!err.contains("warning"), "{err}");
    assert_eq!(owned(&c, &name).await.total(), 0);
    dir.keep();
}

/// Where SageMaker cannot be read (no permission, an emulator without it: here
/// LocalStack's community edition), a destroy warns and goes ahead.
#[tokio::test]
async fn without_sagemaker_a_destroy_warns_and_goes_ahead() {
    let c = ec2().await;
    let name = unique_name("nosm");
    let (mut dir, path) = PlanDir::studio(&name);
    let plan = path.to_string_lossy().into_owned();
    run_expect(0, &["apply", &plan, "--auto-approve"]);
    let (code, out, err) = run(&["destroy", &plan, "--auto-approve"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        err.contains("warning: could not check whether a SageMaker Studio domain uses vpc-"),
        "{err}"
    );
    assert_eq!(owned(&c, &name).await.total(), 0);
    dir.keep();
}

/// The ids of the NFS groups SageMaker made for `domain` in `vpc`, with their tags.
async fn nfs_groups(
    c: &aws_sdk_ec2::Client,
    vpc: &str,
    domain: &str,
) -> Vec<(String, Vec<aws_sdk_ec2::types::Tag>)> {
    let out = c
        .describe_security_groups()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("vpc-id")
                .values(vpc)
                .build(),
        )
        .send()
        .await
        .expect("describe groups");
    out.security_groups()
        .iter()
        .filter(|g| {
            g.group_name()
                .is_some_and(|n| n.contains("-nfs-") && n.ends_with(domain))
        })
        .map(|g| (g.group_id().unwrap().to_string(), g.tags().to_vec()))
        .collect()
}

/// The whole Studio half: one apply makes the execution role (LocalStack's IAM), the
/// VpcOnly domain and a profile per user, each with its own group (moto's SageMaker),
/// and re-plans empty; a user's app is deleted before the user; destroy removes the
/// users, the domain, what SageMaker left of it (its EFS volume, its NFS groups), the
/// network and the role, and a second destroy has nothing to do.
#[tokio::test]
async fn a_studio_plan_bootstraps_role_domain_and_users_and_destroy_takes_it_all_away() {
    let moto = Moto::with_nfs_groups();
    let sm = moto.client().await;
    let env = [
        ("AWS_ENDPOINT_URL_SAGEMAKER", moto.url.as_str()),
        ("AWS_ENDPOINT_URL_EFS", moto.url.as_str()),
    ];
    let (c, iam) = (ec2().await, iam().await);
    let name = unique_name("domain");
    let mut dir = PlanDir::new(&name);
    dir.keep(); // the cleanup on drop would not reach moto
    let text = shipped("studio-domain.toml").replace(
        "domain_name = \"ml-studio\"",
        &format!("domain_name = \"{name}\""),
    );
    let plan = dir
        .write("studio-domain.toml", &text)
        .to_string_lossy()
        .into_owned();

    let (code, out, err) = run_env(&["apply", &plan, "--auto-approve"], &env);
    assert_eq!(code, 0, "apply\n{err}\n{out}");
    for a in [
        "+ iam_role.execution",
        "+ studio_domain.main",
        "+ user_profile.alice",
        "+ security_group.user-bob",
    ] {
        assert!(out.contains(a), "{a} in\n{out}");
    }
    let role = iam
        .get_role()
        .role_name(format!("{name}-sagemaker-execution"))
        .send()
        .await
        .expect("the execution role exists");
    let role = role.role().unwrap();
    assert_eq!(role.path(), "/sagevpc/");
    let attached = iam
        .list_attached_role_policies()
        .role_name(role.role_name())
        .send()
        .await
        .unwrap();
    assert_eq!(attached.attached_policies().len(), 1);
    let domains = sm.list_domains().send().await.unwrap();
    let domain_id = domains.domains()[0].domain_id().unwrap().to_string();
    let d = sm
        .describe_domain()
        .domain_id(&domain_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        d.app_network_access_type().map(|t| t.as_str()),
        Some("VpcOnly")
    );
    assert_eq!(
        d.default_user_settings().unwrap().execution_role(),
        Some(role.arn())
    );
    assert_eq!(d.subnet_ids().len(), 3);
    let groups = security_groups_of(&c, &name).await;
    let group = |key: &str| {
        groups
            .iter()
            .find(|g| tag(g.tags(), "sagevpc:key") == Some(key))
            .and_then(|g| g.group_id().map(str::to_string))
            .unwrap_or_else(|| panic!("{key}"))
    };
    let alice = sm
        .describe_user_profile()
        .domain_id(&domain_id)
        .user_profile_name("alice")
        .send()
        .await
        .expect("alice");
    assert_eq!(
        alice.user_settings().unwrap().security_groups(),
        [group("security_group.user-alice")]
    );
    let (code, out, err) = run_env(&["plan", &plan, "--detailed-exitcode"], &env);
    assert_eq!(code, 0, "re-plan is empty\n{out}\n{err}");
    let (code, out, err) = run_env(&["output", &plan, "-o", "json"], &env);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("output is JSON");
    assert_eq!(doc["domain_id"], domain_id.as_str());
    assert_eq!(doc["execution_role_arn"], role.arn());
    assert_eq!(
        doc["security_group_ids"]["user-alice"],
        group("security_group.user-alice").as_str()
    );
    assert_eq!(
        doc["user_profiles"]["alice"]["security_group_ids"][0],
        group("security_group.user-alice").as_str()
    );
    assert_eq!(doc["studio_subnet_ids"].as_array().unwrap().len(), 3);
    assert_eq!(doc["vpc_config"]["Subnets"].as_array().unwrap().len(), 3);
    assert!(
        doc["endpoint_dns_names"]["sts"][0]
            .as_str()
            .is_some_and(|d| d.contains("sts")),
        "the sts endpoint's DNS names: {doc}"
    );

    // What SageMaker made and leaves (the moto launcher makes them as SageMaker does):
    // the NFS groups, tagged by the apply as the plan's leftovers, and the home EFS
    // volume; and a running app of alice.
    let vpc = vpcs_of(&c, &name).await[0].vpc_id().unwrap().to_string();
    let nfs: Vec<String> = nfs_groups(&c, &vpc, &domain_id)
        .await
        .into_iter()
        .map(|(id, tags)| {
            assert_eq!(
                tag(&tags, "sagevpc:left-by"),
                Some(name.as_str()),
                "{id} tagged"
            );
            id
        })
        .collect();
    assert_eq!(nfs.len(), 2);
    sm.create_app()
        .domain_id(&domain_id)
        .user_profile_name("alice")
        .app_type(aws_sdk_sagemaker::types::AppType::JupyterServer)
        .app_name("default")
        .send()
        .await
        .expect("an app");
    let efs_id = d.home_efs_file_system_id().unwrap().to_string();

    let (code, out, err) = run_env(&["destroy", &plan, "--auto-approve", "--stats"], &env);
    assert_eq!(code, 0, "destroy\n{err}\n{out}");
    for op in [
        "DeleteApp",
        "DeleteUserProfile",
        "DeleteDomain",
        "DeleteFileSystem",
        "DeleteRole",
    ] {
        assert!(err.contains(op), "{op} in the stats:\n{err}");
    }
    assert_eq!(owned(&c, &name).await.total(), 0);
    for g in &nfs {
        assert!(
            security_group_by_id(&c, g).await.is_none(),
            "NFS group {g} is gone"
        );
    }
    assert!(vpc_by_id(&c, &vpc).await.is_none());
    assert!(sm.list_domains().send().await.unwrap().domains().is_empty());
    let efs = aws_sdk_efs::Client::from_conf(
        aws_sdk_efs::config::Builder::from(&moto.config().await).build(),
    );
    let fs = efs
        .describe_file_systems()
        .file_system_id(&efs_id)
        .send()
        .await;
    assert!(fs.is_err(), "the home EFS volume is gone: {fs:?}");
    assert!(iam
        .get_role()
        .role_name(role.role_name())
        .send()
        .await
        .is_err());
    let (code, out, err) = run_env(&["destroy", &plan, "--auto-approve"], &env);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("No changes"),
        "a second destroy has nothing to do:\n{out}"
    );
}

/// A destroy stopped after `DeleteDomain` (killed, or its clean-up refused) leaves the
/// domain's NFS groups, which block the VPC: the next destroy finds them by the tag the
/// apply put on them and finishes the job.
#[tokio::test]
async fn a_destroy_stopped_after_the_domain_was_deleted_is_finished_by_the_next_one() {
    let moto = Moto::with_nfs_groups();
    let sm = moto.client().await;
    let env = [
        ("AWS_ENDPOINT_URL_SAGEMAKER", moto.url.as_str()),
        ("AWS_ENDPOINT_URL_EFS", moto.url.as_str()),
    ];
    let c = ec2().await;
    let name = unique_name("orphan");
    let mut dir = PlanDir::new(&name);
    dir.keep(); // the cleanup on drop would not reach moto
    let text = shipped("studio-domain.toml").replace(
        "domain_name = \"ml-studio\"",
        &format!("domain_name = \"{name}\""),
    );
    let plan = dir
        .write("studio-domain.toml", &text)
        .to_string_lossy()
        .into_owned();
    let (code, out, err) = run_env(&["apply", &plan, "--auto-approve"], &env);
    assert_eq!(code, 0, "apply\n{err}\n{out}");
    let domain_id = sm.list_domains().send().await.unwrap().domains()[0]
        .domain_id()
        .unwrap()
        .to_string();
    let vpc = vpcs_of(&c, &name).await[0].vpc_id().unwrap().to_string();

    // What the first destroy did before it stopped: the users and the domain are gone.
    for user in ["alice", "bob"] {
        sm.delete_user_profile()
            .domain_id(&domain_id)
            .user_profile_name(user)
            .send()
            .await
            .expect("delete user");
    }
    sm.delete_domain()
        .domain_id(&domain_id)
        .send()
        .await
        .expect("delete domain");
    assert_eq!(nfs_groups(&c, &vpc, &domain_id).await.len(), 2);
    let efs = aws_sdk_efs::Client::from_conf(
        aws_sdk_efs::config::Builder::from(&moto.config().await).build(),
    );
    let volumes = efs.describe_file_systems().send().await.unwrap();
    assert_eq!(
        volumes.file_systems().len(),
        1,
        "the home volume is left (moto keeps it)"
    );

    let (code, out, err) = run_env(&["destroy", &plan, "--auto-approve"], &env);
    assert_eq!(code, 0, "destroy\n{err}\n{out}");
    assert!(
        out.contains(&format!("studio_domain.leftovers-{domain_id}")),
        "the leftovers are named:\n{out}"
    );
    assert!(nfs_groups(&c, &vpc, &domain_id).await.is_empty());
    assert!(vpc_by_id(&c, &vpc).await.is_none());
    assert_eq!(owned(&c, &name).await.total(), 0);
    let volumes = efs.describe_file_systems().send().await.unwrap();
    assert!(
        volumes.file_systems().is_empty(),
        "the home volume, found by its SageMaker tag, is gone"
    );
    let (code, out, err) = run_env(&["destroy", &plan, "--auto-approve"], &env);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("No changes"), "{out}");
}
