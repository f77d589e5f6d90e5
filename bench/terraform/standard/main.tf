# Terraform equivalent of plans/studio-vpc.toml (the sagevpc standard plan), for
# bench/tf_peer.py. Same resources, same attributes, tags equivalent to sagevpc's:
# every resource sagevpc tags gets Name = "<name>-<key>", sagevpc:plan = <name> and
# sagevpc:key = "<kind>.<key>" (route-table associations and rules carry no tags, as
# with sagevpc).
#
# Security-group rules are separate resources (aws_vpc_security_group_ingress_rule /
# _egress_rule), not inline blocks: (1) it is the form HashiCorp recommends, one rule per
# resource = one Authorize call per rule, as sagevpc does; (2) the large plan's ring of
# groups (g000 -> g001 -> ... -> g147 -> g000, bench/gen_large_plan.py) references groups
# cyclically, which inline rules cannot express (a dependency cycle), so both
# configurations use the same form. Note that aws_security_group always revokes AWS's
# default allow-all egress rule when it creates a group; sagevpc keeps it, so each group
# gets an explicit allow-all egress rule resource to reach the same end state (one
# RevokeSecurityGroupEgress + one AuthorizeSecurityGroupEgress per group that sagevpc
# does not need).

locals {
  policy_file = coalesce(var.policy_file, "${path.module}/../../../plans/policies/s3-deny-amazon-linux-repos.json")
  plan_tag    = { "sagevpc:plan" = var.name }

  subnets = {
    "private-a" = { az = "us-east-1a", cidr = "10.20.0.0/20" }
    "private-b" = { az = "us-east-1b", cidr = "10.20.16.0/20" }
    "private-c" = { az = "us-east-1c", cidr = "10.20.32.0/20" }
  }

  # interface endpoint key (sagevpc's short name) -> service name
  interface_endpoints = {
    "sagemaker.api"     = "com.amazonaws.us-east-1.sagemaker.api"
    "sagemaker.runtime" = "com.amazonaws.us-east-1.sagemaker.runtime"
    "studio"            = "aws.sagemaker.us-east-1.studio"
    "sts"               = "com.amazonaws.us-east-1.sts"
    "logs"              = "com.amazonaws.us-east-1.logs"
  }
}

resource "aws_vpc" "main" {
  cidr_block           = "10.20.0.0/16"
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(local.plan_tag, { Name = "${var.name}-main", "sagevpc:key" = "vpc.main" })
}

resource "aws_subnet" "private" {
  for_each          = local.subnets
  vpc_id            = aws_vpc.main.id
  availability_zone = each.value.az
  cidr_block        = each.value.cidr
  tags              = merge(local.plan_tag, { Name = "${var.name}-${each.key}", "sagevpc:key" = "subnet.${each.key}" })
}

resource "aws_route_table" "private" {
  vpc_id = aws_vpc.main.id
  # no `route` blocks: only the local route (and the S3 gateway endpoint's prefix-list
  # route, which the endpoint manages) - Terraform then leaves routes unmanaged.
  tags = merge(local.plan_tag, { Name = "${var.name}-private", "sagevpc:key" = "route_table.private" })
}

resource "aws_route_table_association" "private" {
  for_each       = aws_subnet.private
  subnet_id      = each.value.id
  route_table_id = aws_route_table.private.id
}

resource "aws_security_group" "workloads" {
  name        = "${var.name}-workloads"
  description = "Studio apps, training and processing containers"
  vpc_id      = aws_vpc.main.id
  tags        = merge(local.plan_tag, { Name = "${var.name}-workloads", "sagevpc:key" = "security_group.workloads" })
}

resource "aws_security_group" "endpoints" {
  name        = "${var.name}-endpoints"
  description = "Interface endpoints"
  vpc_id      = aws_vpc.main.id
  tags        = merge(local.plan_tag, { Name = "${var.name}-endpoints", "sagevpc:key" = "security_group.endpoints" })
}

# workloads: ingress all traffic from itself
resource "aws_vpc_security_group_ingress_rule" "workloads_self" {
  security_group_id            = aws_security_group.workloads.id
  referenced_security_group_id = aws_security_group.workloads.id
  ip_protocol                  = "-1"
}

# endpoints: ingress tcp 443 from workloads
resource "aws_vpc_security_group_ingress_rule" "endpoints_https_from_workloads" {
  security_group_id            = aws_security_group.endpoints.id
  referenced_security_group_id = aws_security_group.workloads.id
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
}

# AWS's default egress (allow all to 0.0.0.0/0), which sagevpc keeps and Terraform revokes.
resource "aws_vpc_security_group_egress_rule" "workloads_default" {
  security_group_id = aws_security_group.workloads.id
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
}

resource "aws_vpc_security_group_egress_rule" "endpoints_default" {
  security_group_id = aws_security_group.endpoints.id
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
}

resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.main.id
  service_name      = "com.amazonaws.us-east-1.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.private.id]
  policy            = file(local.policy_file)
  tags              = merge(local.plan_tag, { Name = "${var.name}-s3", "sagevpc:key" = "gateway_endpoint.s3" })

  # LocalStack 4.13 drops "Version" from a stored endpoint policy (AWS keeps it), so every
  # plan would report the policy as changed and re-send it. sagevpc tolerates that quirk in
  # its policy comparison; here the policy is ignored after creation instead. Remove this
  # against real AWS. (The reads a plan makes are the same either way.)
  lifecycle {
    ignore_changes = [policy]
  }
}

resource "aws_vpc_endpoint" "interface" {
  for_each            = local.interface_endpoints
  vpc_id              = aws_vpc.main.id
  service_name        = each.value
  vpc_endpoint_type   = "Interface"
  subnet_ids          = [for k in sort(keys(local.subnets)) : aws_subnet.private[k].id]
  security_group_ids  = [aws_security_group.endpoints.id]
  private_dns_enabled = true
  tags                = merge(local.plan_tag, { Name = "${var.name}-${each.key}", "sagevpc:key" = "interface_endpoint.${each.key}" })
}
