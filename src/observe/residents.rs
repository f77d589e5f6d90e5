//! What lives in a VPC, whoever made it: read before a run deletes the VPC, a subnet or
//! a security group, to find what the plan does not own that would make AWS refuse the
//! delete (`DependencyViolation`) after everything else is already gone.

use serde::{Deserialize, Serialize};

use super::Tags;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResidentKind {
    Subnet,
    SecurityGroup,
    RouteTable,
    InternetGateway,
    NatGateway,
    Endpoint,
    NetworkInterface,
}

impl ResidentKind {
    pub fn label(self) -> &'static str {
        match self {
            ResidentKind::Subnet => "subnet",
            ResidentKind::SecurityGroup => "security group",
            ResidentKind::RouteTable => "route table",
            ResidentKind::InternetGateway => "internet gateway",
            ResidentKind::NatGateway => "NAT gateway",
            ResidentKind::Endpoint => "endpoint",
            ResidentKind::NetworkInterface => "network interface",
        }
    }
}

/// One thing in the VPC. The VPC's default security group and main route table, and
/// deleted endpoints and NAT gateways, are never residents (AWS removes them with it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resident {
    pub kind: ResidentKind,
    pub id: String,
    pub tags: Tags,
    /// The subnet it is in (network interfaces, NAT gateways).
    pub subnet_id: Option<String>,
    /// The security groups it carries (network interfaces).
    pub groups: Vec<String>,
    /// Its network interfaces (interface endpoints, NAT gateways).
    pub interfaces: Vec<String>,
    /// What AWS says it is: a CIDR, a group name, an interface's description.
    pub note: String,
}
