#!/usr/bin/env python3
"""moto's server for sagevpc's tests (test-only): SageMaker and EFS for
tests/localstack_studio.rs, where EC2 and IAM are LocalStack's.

moto 5.1's SageMaker has domains only. This launcher makes it answer the way AWS
documents, where the tests depend on it, then runs moto's own server with the given
arguments (`-H 127.0.0.1 -p PORT`):

- timestamps are epoch seconds (moto answers "YYYY-MM-DD HH:MM:SS" strings, which no
  SDK parses);
- a missing domain is `ResourceNotFound` (moto: `ValidationException`);
- with SAGEVPC_MOTO_EC2 set to an EC2 endpoint, a domain gets the two NFS security
  groups SageMaker makes in its VPC (there), which `DeleteDomain` leaves, as on AWS;
- a domain gets a home EFS volume in moto's EFS (as SageMaker makes one), which
  `DeleteDomain` leaves behind here (moto ignores the retention policy), so the tool's
  clean-up of it is exercised;
- `UpdateDomain`, and user profiles and apps (create, describe, list, update, delete,
  tags) as AWS documents them: `DeleteDomain` refuses a domain with user profiles,
  `DeleteUserProfile` refuses a profile with apps that are not `Deleted`, a deleted app
  stays listed as `Deleted`. `ListSpaces` answers no spaces.

This is a model of those calls for the tests, not SageMaker: what it proves is that
sagevpc sends them in an order AWS accepts and reads their answers.
"""

import json
import os
import sys
import time

from moto.efs import models as efs_models
from moto.sagemaker import models, responses
from moto.sagemaker.exceptions import ResourceInUseException, ResourceNotFound

_init = models.Domain.__init__


def _domain_init(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    now = time.time()
    self.creation_time = now
    self.last_modified_time = now
    efs = efs_models.efs_backends[self.account_id][self.region_name]
    fs = efs.create_file_system(
        creation_token=f"sagemaker-{self.id}",
        performance_mode="generalPurpose",
        encrypted=False,
        kms_key_id=None,
        throughput_mode="bursting",
        provisioned_throughput_in_mibps=None,
        availability_zone_name=None,
        backup=False,
        tags=[{"Key": "ManagedByAmazonSageMakerResource", "Value": self.arn}],
    )
    self.home_efs_file_system_id = fs.file_system_id
    _nfs_groups_like_sagemaker(self)


def _nfs_groups_like_sagemaker(domain):
    """With SAGEVPC_MOTO_EC2 (an EC2 endpoint: LocalStack), make the two NFS groups
    SageMaker makes in the domain's VPC, the inbound one admitting NFS from the
    outbound one; DeleteDomain leaves them, as on AWS."""
    endpoint = os.environ.get("SAGEVPC_MOTO_EC2")
    if not endpoint:
        return
    import boto3

    ec2 = boto3.client(
        "ec2",
        endpoint_url=endpoint,
        region_name=domain.region_name,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    ids = []
    for direction in ("inbound", "outbound"):
        g = ec2.create_security_group(
            VpcId=domain.vpc_id,
            GroupName=f"security-group-for-{direction}-nfs-{domain.id}",
            Description=f"[DO NOT DELETE] Security Group that allows {direction} NFS traffic for SageMaker Notebooks Domain [{domain.id}]",
        )
        ids.append(g["GroupId"])
    ec2.authorize_security_group_ingress(
        GroupId=ids[0],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 2049,
                "ToPort": 2049,
                "UserIdGroupPairs": [{"GroupId": ids[1]}],
            }
        ],
    )


models.Domain.__init__ = _domain_init

Backend = models.SageMakerModelBackend
_describe_domain = Backend.describe_domain
_delete_domain = Backend.delete_domain
_resource_from_arn = Backend._get_resource_from_arn


def _profiles(backend):
    if not hasattr(backend, "sagevpc_profiles"):
        backend.sagevpc_profiles = {}
        backend.sagevpc_apps = {}
    return backend.sagevpc_profiles


def _describe_domain_or_not_found(self, domain_id):
    if domain_id not in self.domains:
        raise ResourceNotFound(f"Domain {domain_id} does not exist")
    return _describe_domain(self, domain_id)


def _delete_domain_in_use(self, domain_id, retention_policy):
    if domain_id not in self.domains:
        raise ResourceNotFound(f"Domain {domain_id} does not exist")
    if any(d == domain_id for (d, _) in _profiles(self)):
        raise ResourceInUseException(f"Domain {domain_id} has user profiles")
    _delete_domain(self, domain_id, retention_policy)


class _Tagged:
    def __init__(self, tags):
        self.tags = list(tags or [])


def _resource_from_arn_with_profiles(self, arn):
    resource = arn.split(":")[-1]
    if resource.startswith("user-profile/"):
        _, domain, name = resource.split("/")
        p = _profiles(self).get((domain, name))
        if p is None:
            raise ResourceNotFound(f"{arn} does not exist")
        return p["tagged"]
    return _resource_from_arn(self, arn)


Backend.describe_domain = _describe_domain_or_not_found
Backend.delete_domain = _delete_domain_in_use
Backend._get_resource_from_arn = _resource_from_arn_with_profiles


def _profile_view(p):
    return {
        "DomainId": p["domain"],
        "UserProfileName": p["name"],
        "UserProfileArn": p["arn"],
        "Status": "InService",
        "UserSettings": p["settings"],
        "CreationTime": p["created"],
        "LastModifiedTime": p["created"],
    }


def update_domain(self):
    d = self.sagemaker_backend.domains.get(self._get_param("DomainId"))
    if d is None:
        raise ResourceNotFound("no such domain")
    if self._get_param("DefaultUserSettings") is not None:
        d.default_user_settings = self._get_param("DefaultUserSettings")
    if self._get_param("SubnetIds") is not None:
        d.subnet_ids = self._get_param("SubnetIds")
    if self._get_param("AppNetworkAccessType") is not None:
        d.app_network_access_type = self._get_param("AppNetworkAccessType")
    return json.dumps({"DomainArn": d.arn})


def create_user_profile(self):
    b = self.sagemaker_backend
    domain, name = self._get_param("DomainId"), self._get_param("UserProfileName")
    d = b.domains.get(domain)
    if d is None:
        raise ResourceNotFound(f"Domain {domain} does not exist")
    if (domain, name) in _profiles(b):
        raise ResourceInUseException(f"User profile {name} exists")
    arn = d.arn.replace(f":domain/{domain}", f":user-profile/{domain}/{name}")
    _profiles(b)[(domain, name)] = {
        "domain": domain,
        "name": name,
        "arn": arn,
        "settings": self._get_param("UserSettings") or {},
        "created": time.time(),
        "tagged": _Tagged(self._get_param("Tags")),
    }
    return json.dumps({"UserProfileArn": arn})


def _profile(self):
    key = (self._get_param("DomainId"), self._get_param("UserProfileName"))
    p = _profiles(self.sagemaker_backend).get(key)
    if p is None:
        raise ResourceNotFound(f"User profile {key[1]} does not exist")
    return key, p


def describe_user_profile(self):
    return json.dumps(_profile_view(_profile(self)[1]))


def update_user_profile(self):
    _, p = _profile(self)
    if self._get_param("UserSettings") is not None:
        p["settings"] = self._get_param("UserSettings")
    return json.dumps({"UserProfileArn": p["arn"]})


def list_user_profiles(self):
    domain = self._get_param("DomainIdEquals")
    out = [
        {
            "DomainId": p["domain"],
            "UserProfileName": p["name"],
            "Status": "InService",
            "CreationTime": p["created"],
            "LastModifiedTime": p["created"],
        }
        for p in _profiles(self.sagemaker_backend).values()
        if domain is None or p["domain"] == domain
    ]
    return json.dumps({"UserProfiles": out})


def delete_user_profile(self):
    key, _ = _profile(self)
    b = self.sagemaker_backend
    _profiles(b)
    live = [
        a
        for a in b.sagevpc_apps.values()
        if (a["DomainId"], a.get("UserProfileName")) == key and a["Status"] != "Deleted"
    ]
    if live:
        raise ResourceInUseException(f"User profile {key[1]} has apps")
    del b.sagevpc_profiles[key]
    return json.dumps({})


def create_app(self):
    b = self.sagemaker_backend
    key = (self._get_param("DomainId"), self._get_param("UserProfileName"))
    if key not in _profiles(b):
        raise ResourceNotFound("no such user profile")
    app = {
        "DomainId": key[0],
        "UserProfileName": key[1],
        "AppType": self._get_param("AppType"),
        "AppName": self._get_param("AppName"),
        "Status": "InService",
        "CreationTime": time.time(),
    }
    b.sagevpc_apps[(key, app["AppType"], app["AppName"])] = app
    return json.dumps({"AppArn": f"{key[0]}/{key[1]}/{app['AppName']}"})


def list_apps(self):
    b = self.sagemaker_backend
    _profiles(b)
    domain = self._get_param("DomainIdEquals")
    user = self._get_param("UserProfileNameEquals")
    out = [
        a
        for a in b.sagevpc_apps.values()
        if (domain is None or a["DomainId"] == domain)
        and (user is None or a.get("UserProfileName") == user)
    ]
    return json.dumps({"Apps": out})


def delete_app(self):
    b = self.sagemaker_backend
    _profiles(b)
    key = (self._get_param("DomainId"), self._get_param("UserProfileName"))
    app = b.sagevpc_apps.get((key, self._get_param("AppType"), self._get_param("AppName")))
    if app is None:
        raise ResourceNotFound("no such app")
    app["Status"] = "Deleted"
    return json.dumps({})


def list_spaces(self):
    return json.dumps({"Spaces": []})


for f in [
    update_domain,
    create_user_profile,
    describe_user_profile,
    update_user_profile,
    list_user_profiles,
    delete_user_profile,
    create_app,
    list_apps,
    delete_app,
    list_spaces,
]:
    setattr(responses.SageMakerResponse, f.__name__, f)

from moto.server import main  # noqa: E402  (after the patches)

if __name__ == "__main__":
    main(sys.argv[1:])
