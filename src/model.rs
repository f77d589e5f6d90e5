//! Domain vocabulary shared by every stage: resource addresses, ownership tags,
//! security-group rules. No SDK types here.

use std::fmt;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Tag naming the plan that owns a resource.
pub const TAG_PLAN: &str = "sagevpc:plan";
/// Tag naming the logical key (the address) of a resource inside its plan.
pub const TAG_KEY: &str = "sagevpc:key";
/// The keys of the plan's own extra tags (`tags = {...}`), comma-separated, so that a
/// key removed from the plan is removed from the resource too.
pub const TAG_MANAGED: &str = "sagevpc:tags";
/// Tag sagevpc puts on what SageMaker makes for a plan's domain and leaves behind when
/// the domain is deleted (its NFS security groups): the plan's name. A destroy stopped
/// after the domain was gone finds them by it and finishes the job.
pub const TAG_LEFT_BY: &str = "sagevpc:left-by";
/// AWS's display name tag.
pub const TAG_NAME: &str = "Name";

pub use crate::resources::Kind;

/// A resource's identity inside a plan: kind plus logical key, e.g. `subnet.private-a`.
/// It is also the value of the `sagevpc:key` tag.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    pub kind: Kind,
    pub key: String,
}

impl Address {
    pub fn new(kind: Kind, key: impl Into<String>) -> Self {
        Address {
            kind,
            key: key.into(),
        }
    }

    pub fn parse(s: &str) -> Option<Address> {
        let (kind, key) = s.split_once('.')?;
        Some(Address::new(Kind::parse(kind)?, key))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kind.as_str(), self.key)
    }
}

impl Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Address::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("bad address {s:?}")))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    All,
    Tcp,
    Udp,
    Icmp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::All => "all",
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp",
        }
    }

    /// The value AWS uses in `IpProtocol`.
    pub fn aws_code(self) -> &'static str {
        match self {
            Protocol::All => "-1",
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp",
        }
    }

    pub fn from_aws_code(code: &str) -> Option<Protocol> {
        Some(match code {
            "-1" | "all" => Protocol::All,
            "tcp" | "6" => Protocol::Tcp,
            "udp" | "17" => Protocol::Udp,
            "icmp" | "1" => Protocol::Icmp,
            _ => return None,
        })
    }
}

/// The other side of a rule: the group itself, another group of the plan (by key),
/// a group outside the plan (by id, only ever observed), or a CIDR block.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Peer {
    SelfGroup,
    Group(String),
    ForeignGroup(String),
    Cidr(IpNet),
    /// A managed prefix list: by id (`pl-...`) as AWS has it, or in a plan by the name
    /// of the gateway service it stands for (`com.amazonaws.us-east-1.s3`), resolved to
    /// the id at plan time.
    PrefixList(String),
    /// The plan's VPC's CIDR (an adopted VPC's is known only at plan time).
    VpcCidr,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::SelfGroup => f.write_str("self"),
            Peer::Group(k) => f.write_str(k),
            Peer::ForeignGroup(id) => f.write_str(id),
            Peer::Cidr(n) => write!(f, "{n}"),
            Peer::PrefixList(p) => f.write_str(p),
            Peer::VpcCidr => f.write_str("vpc-cidr"),
        }
    }
}

/// One security-group rule, normalised so that a planned rule and an observed rule
/// compare equal exactly when AWS would consider them the same permission.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rule {
    pub direction: Direction,
    pub protocol: Protocol,
    /// Inclusive port range; `None` for `all` (and for icmp: all types and codes).
    pub ports: Option<(i32, i32)>,
    pub peer: Peer,
}

impl Rule {
    /// AWS's implicit egress rule of every new security group.
    pub fn default_egress() -> Rule {
        Rule {
            direction: Direction::Egress,
            protocol: Protocol::All,
            ports: None,
            peer: Peer::Cidr("0.0.0.0/0".parse().expect("static cidr")),
        }
    }

    /// Stable logical key of the rule inside its group, used in addresses:
    /// `ingress.tcp.443.endpoints`.
    pub fn key(&self) -> String {
        let ports = match self.ports {
            None => "all".to_string(),
            Some((a, b)) if a == b => a.to_string(),
            Some((a, b)) => format!("{a}-{b}"),
        };
        format!(
            "{}.{}.{}.{}",
            self.direction.as_str(),
            self.protocol.as_str(),
            ports,
            self.peer
        )
    }

    /// (from_port, to_port) as AWS stores them.
    pub fn aws_ports(&self) -> (Option<i32>, Option<i32>) {
        match (self.protocol, self.ports) {
            (Protocol::All, _) => (None, None),
            (Protocol::Icmp, None) => (Some(-1), Some(-1)),
            (_, Some((a, b))) => (Some(a), Some(b)),
            (_, None) => (Some(0), Some(65535)),
        }
    }
}

/// Name tag value for a resource of a plan.
pub fn name_tag(plan: &str, addr: &Address) -> String {
    format!("{plan}-{}", addr.key)
}

pub mod rules_serde {
    //! Observed rules are serialised (saved plans fingerprint them) as their keys plus
    //! the structured form.
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{Direction, Peer, Protocol, Rule};

    #[derive(Serialize, Deserialize)]
    struct R {
        direction: Direction,
        protocol: Protocol,
        ports: Option<(i32, i32)>,
        peer: String,
    }

    pub fn serialize<S: Serializer>(rules: &[Rule], s: S) -> Result<S::Ok, S::Error> {
        rules
            .iter()
            .map(|r| R {
                direction: r.direction,
                protocol: r.protocol,
                ports: r.ports,
                peer: match &r.peer {
                    Peer::Cidr(n) => n.to_string(),
                    Peer::PrefixList(p) => format!("prefix-list:{p}"),
                    other => format!("group:{other}"),
                },
            })
            .collect::<Vec<_>>()
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Rule>, D::Error> {
        let v = Vec::<R>::deserialize(d)?;
        v.into_iter()
            .map(|r| {
                let peer = if let Some(g) = r.peer.strip_prefix("group:") {
                    Peer::ForeignGroup(g.to_string())
                } else if let Some(p) = r.peer.strip_prefix("prefix-list:") {
                    Peer::PrefixList(p.to_string())
                } else {
                    Peer::Cidr(r.peer.parse().map_err(serde::de::Error::custom)?)
                };
                Ok(Rule {
                    direction: r.direction,
                    protocol: r.protocol,
                    ports: r.ports,
                    peer,
                })
            })
            .collect()
    }
}
