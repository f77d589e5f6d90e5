//! Parsing and validation of a plan file. Every problem is collected (not only the
//! first) and reported with file, line, column and field. Never panics on any input.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use ipnet::{IpNet, Ipv4Net};
use serde_json::Value;

use super::file::{
    PortsValue, RawGatewayEndpoint, RawInterfaceEndpoints, RawPlan, RawRule, RawSecurityGroup,
    RawSubnet, S,
};
use super::services::{service_name, GATEWAY_SERVICES, INTERFACE_SERVICES};
use super::{
    Diagnostic, EgressSpec, GatewayEndpointSpec, InterfaceEndpointSpec, Plan, PlanError, Ref,
    SecurityGroupSpec, SubnetSpec, VpcSpec,
};
use crate::model::{Direction, Peer, Protocol, Rule};

struct Ctx<'a> {
    file: PathBuf,
    text: &'a str,
    diags: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text.as_bytes()[..offset];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map(|p| p + 1)
            .unwrap_or(0);
        let column = String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count()
            + 1;
        (line, column)
    }

    fn err(&mut self, span: Range<usize>, field: impl Into<String>, message: impl Into<String>) {
        let (line, column) = if span == (0..0) {
            (1, 1)
        } else {
            self.position(span.start)
        };
        self.diags.push(Diagnostic {
            file: self.file.clone(),
            line,
            column,
            field: field.into(),
            message: message.into(),
        });
    }
}

/// Parse and validate plan text read from `path`.
pub fn validate_source(path: &Path, text: &str) -> Result<Plan, PlanError> {
    let mut ctx = Ctx {
        file: path.to_path_buf(),
        text,
        diags: Vec::new(),
    };
    let de = toml::Deserializer::new(text);
    let raw: RawPlan = match serde_path_to_error::deserialize(de) {
        Ok(raw) => raw,
        Err(e) => {
            let span = e.inner().span();
            let field = field_path(text, e.path(), span.clone());
            let inner = e.into_inner();
            let mut msg = inner.message().trim().to_string();
            if msg.contains("expected a borrowed string") {
                // toml cannot give a position to a table written with dotted keys
                // (`vpc.cidr = ...`) or only through sub-table headers (`[vpc.x]`).
                let table = field.rsplit_once('.').map_or(field.as_str(), |(t, _)| t);
                msg = format!(
                    "write table `{table}` under its own [{table}] header or inline ({table} = {{ ... }}); dotted keys and sub-tables ([{table}.x]) are not supported here"
                );
            }
            if msg.is_empty() {
                // toml gives no message for some syntax errors (e.g. a lone '\r').
                let at = span
                    .as_ref()
                    .and_then(|s| text.get(s.start..)?.chars().next());
                msg = match at {
                    Some(c) => format!("invalid TOML: unexpected character {c:?}"),
                    None => "invalid TOML".to_string(),
                };
            }
            ctx.err(span.unwrap_or(0..0), field, msg);
            return Err(PlanError {
                diagnostics: ctx.diags,
            });
        }
    };
    let plan = check(&mut ctx, raw);
    if ctx.diags.is_empty() {
        Ok(plan.expect("a plan is built whenever no diagnostic was raised"))
    } else {
        Err(PlanError {
            diagnostics: ctx.diags,
        })
    }
}

/// The document's keys with their positions. serde_path_to_error cannot capture map
/// keys that are deserialized as `Spanned<String>` (they come out as
/// `Segment::Unknown`); this tree names them from the error's position instead.
enum KeyNode {
    Table(Vec<(S<String>, KeyNode)>),
    Array(Vec<KeyNode>),
    Scalar,
}

impl<'de> serde::Deserialize<'de> for KeyNode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = KeyNode;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any TOML value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<KeyNode, E> {
                Ok(KeyNode::Scalar)
            }
            fn visit_i64<E>(self, _: i64) -> Result<KeyNode, E> {
                Ok(KeyNode::Scalar)
            }
            fn visit_u64<E>(self, _: u64) -> Result<KeyNode, E> {
                Ok(KeyNode::Scalar)
            }
            fn visit_f64<E>(self, _: f64) -> Result<KeyNode, E> {
                Ok(KeyNode::Scalar)
            }
            fn visit_str<E>(self, _: &str) -> Result<KeyNode, E> {
                Ok(KeyNode::Scalar)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<KeyNode, A::Error> {
                let mut items = Vec::new();
                while let Some(x) = a.next_element()? {
                    items.push(x);
                }
                Ok(KeyNode::Array(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<KeyNode, A::Error> {
                let mut entries = Vec::new();
                while let Some(k) = a.next_key()? {
                    entries.push((k, a.next_value()?));
                }
                Ok(KeyNode::Table(entries))
            }
        }
        d.deserialize_any(V)
    }
}

impl KeyNode {
    fn child(&self, key: &str) -> Option<&KeyNode> {
        match self {
            KeyNode::Table(entries) => entries
                .iter()
                .find(|(k, _)| k.get_ref() == key)
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Start of the last key of this subtree that begins before `end`.
    fn last_key_before(&self, end: usize) -> Option<usize> {
        match self {
            KeyNode::Table(entries) => entries
                .iter()
                .flat_map(|(k, v)| {
                    [
                        Some(k.span().start).filter(|&s| s < end),
                        v.last_key_before(end),
                    ]
                })
                .flatten()
                .max(),
            KeyNode::Array(items) => items.iter().filter_map(|v| v.last_key_before(end)).max(),
            KeyNode::Scalar => None,
        }
    }

    /// The entry of this table the error at `span` lies in: the one holding the last
    /// key written before the end of the span.
    fn locate(&self, span: &Range<usize>) -> Option<(&str, &KeyNode)> {
        let KeyNode::Table(entries) = self else {
            return None;
        };
        let end = span.end.max(span.start + 1);
        entries
            .iter()
            .filter_map(|(k, v)| {
                let last = [
                    Some(k.span().start).filter(|&s| s < end),
                    v.last_key_before(end),
                ]
                .into_iter()
                .flatten()
                .max()?;
                Some((last, k.get_ref().as_str(), v))
            })
            .max_by_key(|(last, _, _)| *last)
            .map(|(_, k, v)| (k, v))
    }
}

/// Dotted field path (`subnets.private-a.cidr`, `interface_endpoints.services[2]`) of a
/// deserialization error.
fn field_path(text: &str, path: &serde_path_to_error::Path, span: Option<Range<usize>>) -> String {
    use serde_path_to_error::Segment;
    let tree: Option<KeyNode> = toml::from_str(text).ok();
    let mut node = tree.as_ref();
    let mut parts: Vec<String> = Vec::new();
    for seg in path.iter() {
        match seg {
            Segment::Map { key } if key.starts_with("$__") => {}
            Segment::Map { key } => {
                parts.push(key.clone());
                node = node.and_then(|n| n.child(key));
            }
            Segment::Seq { index } => {
                parts.push(format!("[{index}]"));
                node = node.and_then(|n| match n {
                    KeyNode::Array(items) => items.get(*index),
                    _ => None,
                });
            }
            Segment::Unknown => match (node, &span) {
                (Some(n), Some(sp)) => match n.locate(sp) {
                    Some((k, child)) => {
                        parts.push(k.to_string());
                        node = Some(child);
                    }
                    None => {
                        parts.push("?".to_string());
                        node = None;
                    }
                },
                _ => {
                    parts.push("?".to_string());
                    node = None;
                }
            },
            Segment::Enum { .. } => {}
        }
    }
    parts.join(".").replace(".[", "[")
}

fn is_key_like(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
}

fn is_region(s: &str) -> bool {
    // us-east-1, eu-central-2, us-gov-west-1, ap-southeast-4, cn-north-1 ...
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[0].chars().all(|c| c.is_ascii_lowercase())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

/// Characters AWS accepts in a security group description.
fn valid_sg_description(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c))
}

fn parse_v4_cidr(s: &str) -> Result<Ipv4Net, String> {
    let net: Ipv4Net = s
        .parse()
        .map_err(|_| format!("invalid IPv4 CIDR {s:?} (expected a.b.c.d/n)"))?;
    if net.trunc() != net {
        return Err(format!(
            "CIDR {s:?} has host bits set; did you mean {}?",
            net.trunc()
        ));
    }
    Ok(net)
}

fn check(ctx: &mut Ctx, raw: RawPlan) -> Option<Plan> {
    let name = raw.name.get_ref().trim().to_string();
    if name.is_empty() {
        ctx.err(raw.name.span(), "name", "plan name must not be empty");
    } else if !is_key_like(&name) || name != *raw.name.get_ref() {
        ctx.err(
            raw.name.span(),
            "name",
            format!("plan name {:?} may contain only letters, digits, '-' and '_' (at most 64, starting with a letter or digit)", raw.name.get_ref()),
        );
    }
    let region = raw.region.get_ref().clone();
    if !is_region(&region) {
        ctx.err(
            raw.region.span(),
            "region",
            format!("{region:?} is not an AWS region name (e.g. us-east-1)"),
        );
    }

    let mut tags = BTreeMap::new();
    for (k, v) in &raw.tags {
        if k.starts_with("sagevpc:") || k.starts_with("aws:") || k == "Name" {
            ctx.err(
                v.span(),
                format!("tags.{k}"),
                "tag keys 'Name', 'sagevpc:*' and 'aws:*' are reserved",
            );
        } else if k.is_empty() || k.len() > 128 || v.get_ref().len() > 256 {
            ctx.err(
                v.span(),
                format!("tags.{k}"),
                "tag keys are 1-128 characters and values at most 256",
            );
        } else if k.contains(',') {
            ctx.err(
                v.span(),
                format!("tags.{k}"),
                "tag keys may not contain ',' (sagevpc lists the plan's tag keys in its sagevpc:tags tag)",
            );
        } else {
            tags.insert(k.clone(), v.get_ref().clone());
        }
    }
    // The keys are recorded, comma-separated, in one tag value (at most 256 characters).
    let listed = tags.keys().map(String::len).sum::<usize>() + tags.len().saturating_sub(1);
    if listed > 256 {
        if let Some(v) = raw.tags.values().next() {
            ctx.err(
                v.span(),
                "tags",
                format!("the plan's tag keys take {listed} characters together (with a comma between each); at most 256 fit in the sagevpc:tags tag that records them"),
            );
        }
    }

    // --- VPC
    let vpc_span = raw.vpc.span();
    let rv = raw.vpc.into_inner();
    let vpc = match (&rv.cidr, &rv.id) {
        (Some(_), Some(id)) => {
            ctx.err(
                id.span(),
                "vpc.id",
                "give either `cidr` (create a VPC) or `id` (adopt one), not both",
            );
            None
        }
        (None, None) => {
            ctx.err(
                vpc_span,
                "vpc",
                "missing `cidr` (create a VPC) or `id` (adopt an existing one)",
            );
            None
        }
        (Some(cidr), None) => {
            if let Some(m) = &rv.manage_dns {
                ctx.err(
                    m.span(),
                    "vpc.manage_dns",
                    "`manage_dns` applies to an adopted VPC (`id`); an owned VPC always has DNS support and hostnames on",
                );
            }
            match parse_v4_cidr(cidr.get_ref()) {
                Ok(net) if !(16..=28).contains(&net.prefix_len()) => {
                    ctx.err(
                        cidr.span(),
                        "vpc.cidr",
                        format!(
                            "VPC CIDR {net} has prefix /{}; AWS allows /16 to /28",
                            net.prefix_len()
                        ),
                    );
                    None
                }
                Ok(net) => Some(VpcSpec::Owned { cidr: net }),
                Err(m) => {
                    ctx.err(cidr.span(), "vpc.cidr", m);
                    None
                }
            }
        }
        (None, Some(id)) => {
            let v = id.get_ref();
            if !is_aws_id(v, "vpc-") {
                ctx.err(
                    id.span(),
                    "vpc.id",
                    format!("{v:?} is not a VPC id (vpc- followed by 8 or 17 hex digits)"),
                );
                None
            } else {
                Some(VpcSpec::Adopted {
                    id: v.clone(),
                    manage_dns: rv.manage_dns.as_ref().is_some_and(|m| *m.get_ref()),
                })
            }
        }
    };
    let vpc_cidr = match &vpc {
        Some(VpcSpec::Owned { cidr }) => Some(*cidr),
        _ => None,
    };

    // --- subnets
    let mut subnets: BTreeMap<String, SubnetSpec> = BTreeMap::new();
    let mut subnet_spans: Vec<(String, Ipv4Net, Range<usize>)> = Vec::new();
    for (key, sub) in &raw.subnets {
        let field = format!("subnets.{}", key.get_ref());
        if !is_key_like(key.get_ref()) {
            ctx.err(
                key.span(),
                &field,
                "subnet names may contain only letters, digits, '-' and '_'",
            );
        }
        if matches!(vpc, Some(VpcSpec::Adopted { .. })) {
            // Allowed: owned subnets inside an adopted VPC.
        }
        if let Some(spec) = check_subnet(ctx, &field, sub.get_ref(), &region, vpc_cidr) {
            subnet_spans.push((key.get_ref().clone(), spec.cidr, sub.get_ref().cidr.span()));
            subnets.insert(key.get_ref().clone(), spec);
        }
    }
    for i in 0..subnet_spans.len() {
        for j in (i + 1)..subnet_spans.len() {
            let (ka, a, _) = &subnet_spans[i];
            let (kb, b, span_b) = &subnet_spans[j];
            if a.contains(b) || b.contains(a) {
                ctx.err(
                    span_b.clone(),
                    format!("subnets.{kb}.cidr"),
                    format!("{b} overlaps subnet {ka} ({a})"),
                );
            }
        }
    }

    // --- security groups
    let sg_keys: BTreeSet<String> = raw
        .security_groups
        .keys()
        .map(|k| k.get_ref().clone())
        .collect();
    let mut security_groups = BTreeMap::new();
    for (key, sg) in &raw.security_groups {
        let field = format!("security_groups.{}", key.get_ref());
        if !is_key_like(key.get_ref()) {
            ctx.err(
                key.span(),
                &field,
                "security group names may contain only letters, digits, '-' and '_'",
            );
        } else if key.get_ref() == "self" {
            ctx.err(
                key.span(),
                &field,
                "\"self\" is reserved: in a rule it names the rule's own group",
            );
        }
        if let Some(spec) = check_security_group(ctx, &field, key.get_ref(), sg.get_ref(), &sg_keys)
        {
            security_groups.insert(key.get_ref().clone(), spec);
        }
    }

    // --- gateway endpoints
    let mut gateway_endpoints = BTreeMap::new();
    for (key, gw) in &raw.gateway_endpoints {
        let field = format!("gateway_endpoints.{}", key.get_ref());
        if !GATEWAY_SERVICES.contains(&key.get_ref().as_str()) {
            ctx.err(
                key.span(),
                &field,
                format!(
                    "unknown gateway endpoint service {:?}; gateway endpoints exist for: {}",
                    key.get_ref(),
                    GATEWAY_SERVICES.join(", ")
                ),
            );
            continue;
        }
        if let Some(spec) = check_gateway(ctx, &field, key.get_ref(), gw.get_ref(), &region) {
            gateway_endpoints.insert(key.get_ref().clone(), spec);
        }
    }
    if !gateway_endpoints.is_empty() && subnets.is_empty() {
        let (k, _) = raw.gateway_endpoints.iter().next().expect("non-empty");
        ctx.err(
            k.span(),
            format!("gateway_endpoints.{}", k.get_ref()),
            "a gateway endpoint is attached to the plan's route table, which exists only when the plan has subnets",
        );
    }

    // --- interface endpoints
    let mut interface_endpoints = BTreeMap::new();
    if let Some(ie) = &raw.interface_endpoints {
        let subnet_keys: BTreeSet<String> =
            raw.subnets.keys().map(|k| k.get_ref().clone()).collect();
        interface_endpoints = check_interface_endpoints(
            ctx,
            ie.get_ref(),
            ie.span(),
            &region,
            (&subnets, &subnet_keys),
            (&security_groups, &sg_keys),
        );
        if interface_endpoints.contains_key("s3")
            && !gateway_endpoints.contains_key("s3")
            && *ie.get_ref().private_dns.get_ref()
        {
            // AWS requires the gateway endpoint first for S3 interface private DNS.
            let dns = &ie.get_ref().private_dns;
            ctx.err(
                if dns.span() == (0..0) {
                    ie.get_ref().services.span()
                } else {
                    dns.span()
                },
                "interface_endpoints.private_dns",
                "private DNS for an S3 interface endpoint needs an S3 gateway endpoint in the same VPC: add [gateway_endpoints.s3]",
            );
        }
    }

    if !ctx.diags.is_empty() {
        return None;
    }
    Some(Plan {
        name,
        region,
        source: ctx.file.clone(),
        tags,
        vpc: vpc?,
        subnets,
        security_groups,
        gateway_endpoints,
        interface_endpoints,
        egress: EgressSpec {
            internet_gateway: raw
                .egress
                .as_ref()
                .and_then(|e| e.get_ref().internet_gateway.as_ref())
                .is_some_and(|b| *b.get_ref()),
        },
    })
}

fn is_aws_id(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix).is_some_and(|hex| {
        (hex.len() == 8 || hex.len() == 17) && hex.chars().all(|c| c.is_ascii_hexdigit())
    })
}

fn check_subnet(
    ctx: &mut Ctx,
    field: &str,
    sub: &RawSubnet,
    region: &str,
    vpc_cidr: Option<Ipv4Net>,
) -> Option<SubnetSpec> {
    let az = sub.availability_zone.get_ref();
    let az_ok = az.len() > region.len()
        && az.starts_with(region)
        && az[region.len()..]
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !az_ok {
        ctx.err(
            sub.availability_zone.span(),
            format!("{field}.availability_zone"),
            format!("{az:?} is not an availability zone of region {region} (e.g. {region}a)"),
        );
    }
    let cidr = match parse_v4_cidr(sub.cidr.get_ref()) {
        Ok(n) => n,
        Err(m) => {
            ctx.err(sub.cidr.span(), format!("{field}.cidr"), m);
            return None;
        }
    };
    if !(16..=28).contains(&cidr.prefix_len()) {
        ctx.err(
            sub.cidr.span(),
            format!("{field}.cidr"),
            format!(
                "subnet CIDR {cidr} has prefix /{}; AWS allows /16 to /28",
                cidr.prefix_len()
            ),
        );
        return None;
    }
    if let Some(v) = vpc_cidr {
        if !v.contains(&cidr) {
            ctx.err(
                sub.cidr.span(),
                format!("{field}.cidr"),
                format!("subnet CIDR {cidr} is outside the VPC CIDR {v}"),
            );
            return None;
        }
    }
    if !az_ok {
        return None;
    }
    Some(SubnetSpec {
        availability_zone: az.clone(),
        cidr,
    })
}

fn parse_ports(
    ctx: &mut Ctx,
    field: &str,
    protocol: Protocol,
    ports: Option<&S<PortsValue>>,
) -> Option<Option<(i32, i32)>> {
    let Some(p) = ports else {
        return Some(match protocol {
            Protocol::Tcp | Protocol::Udp => Some((0, 65535)),
            Protocol::All | Protocol::Icmp => None,
        });
    };
    match protocol {
        Protocol::All => {
            ctx.err(
                p.span(),
                format!("{field}.ports"),
                "protocol \"all\" covers every port; remove `ports`",
            );
            return None;
        }
        Protocol::Icmp => {
            ctx.err(
                p.span(),
                format!("{field}.ports"),
                "icmp rules cover all types and codes; remove `ports`",
            );
            return None;
        }
        _ => {}
    }
    let text = match p.get_ref() {
        PortsValue::Number(n) => n.to_string(),
        PortsValue::Text(s) => s.trim().to_string(),
    };
    let parse_one = |s: &str| {
        s.trim()
            .parse::<i64>()
            .ok()
            .filter(|n| (0..=65535).contains(n))
    };
    let range = match text.split_once('-') {
        Some((a, b)) => parse_one(a).zip(parse_one(b)),
        None => parse_one(&text).map(|n| (n, n)),
    };
    match range {
        Some((a, b)) if a <= b => Some(Some((a as i32, b as i32))),
        Some((a, b)) => {
            ctx.err(
                p.span(),
                format!("{field}.ports"),
                format!("port range {a}-{b} is reversed"),
            );
            None
        }
        None => {
            ctx.err(
                p.span(),
                format!("{field}.ports"),
                format!(
                    "{text:?} is not a port (\"443\") or range (\"1024-65535\") within 0-65535"
                ),
            );
            None
        }
    }
}

fn check_rule(
    ctx: &mut Ctx,
    field: &str,
    own_key: &str,
    direction: Direction,
    spanned: &S<RawRule>,
    sg_keys: &BTreeSet<String>,
) -> Option<Rule> {
    let rule = spanned.get_ref();
    let (peer_field, peer, wrong) = match direction {
        Direction::Ingress => ("from", &rule.from, &rule.to),
        Direction::Egress => ("to", &rule.to, &rule.from),
    };
    if let Some(w) = wrong {
        ctx.err(
            w.span(),
            field,
            format!(
                "{} rules name their peer with `{peer_field}`",
                direction.as_str()
            ),
        );
        return None;
    }
    let protocol = match rule.protocol.get_ref().as_str() {
        "all" | "-1" => Some(Protocol::All),
        "tcp" => Some(Protocol::Tcp),
        "udp" => Some(Protocol::Udp),
        "icmp" => Some(Protocol::Icmp),
        other => {
            ctx.err(
                rule.protocol.span(),
                format!("{field}.protocol"),
                format!("unknown protocol {other:?}; use tcp, udp, icmp or all"),
            );
            None
        }
    };
    let peer = match peer {
        None => {
            ctx.err(
                spanned.span(),
                field,
                format!("missing `{peer_field}` (self, a security group of the plan, or a CIDR)"),
            );
            None
        }
        Some(p) => {
            let v = p.get_ref().trim();
            // The group's own name is the same permission as `self` to AWS.
            if v == "self" || v == own_key {
                Some(Peer::SelfGroup)
            } else if sg_keys.contains(v) {
                Some(Peer::Group(v.to_string()))
            } else if v.contains('/') {
                match v.parse::<IpNet>() {
                    Ok(n) if n.trunc() == n => Some(Peer::Cidr(n)),
                    Ok(n) => {
                        ctx.err(
                            p.span(),
                            format!("{field}.{peer_field}"),
                            format!("CIDR {v:?} has host bits set; did you mean {}?", n.trunc()),
                        );
                        None
                    }
                    Err(_) => {
                        ctx.err(
                            p.span(),
                            format!("{field}.{peer_field}"),
                            format!("invalid CIDR {v:?}"),
                        );
                        None
                    }
                }
            } else {
                let known: Vec<&str> = sg_keys.iter().map(String::as_str).collect();
                ctx.err(
                    p.span(),
                    format!("{field}.{peer_field}"),
                    format!(
                        "unknown security group reference {v:?}; use \"self\", a CIDR, or one of the plan's groups: {}",
                        if known.is_empty() { "(none)".to_string() } else { known.join(", ") }
                    ),
                );
                None
            }
        }
    };
    let protocol = protocol?;
    let ports = parse_ports(ctx, field, protocol, rule.ports.as_ref())?;
    Some(Rule {
        direction,
        protocol,
        ports,
        peer: peer?,
    })
}

fn check_security_group(
    ctx: &mut Ctx,
    field: &str,
    own_key: &str,
    sg: &RawSecurityGroup,
    sg_keys: &BTreeSet<String>,
) -> Option<SecurityGroupSpec> {
    let desc = sg.description.get_ref();
    let mut ok = true;
    if desc.trim().is_empty() || desc.len() > 255 || !valid_sg_description(desc) {
        ctx.err(
            sg.description.span(),
            format!("{field}.description"),
            "description must be 1-255 characters of a-z A-Z 0-9 spaces and ._-:/()#,@[]+=&;{}!$*",
        );
        ok = false;
    }
    let mut rules = BTreeSet::new();
    type RuleList<'r> = Option<&'r Vec<S<RawRule>>>;
    let lists: [(Direction, &str, RuleList); 2] = [
        (Direction::Ingress, "ingress", Some(&sg.ingress)),
        (Direction::Egress, "egress", sg.egress.as_ref()),
    ];
    for (dir, name, list) in lists {
        let Some(list) = list else {
            rules.insert(Rule::default_egress());
            continue;
        };
        for (i, r) in list.iter().enumerate() {
            let rf = format!("{field}.{name}[{i}]");
            match check_rule(ctx, &rf, own_key, dir, r, sg_keys) {
                Some(rule) => {
                    if !rules.insert(rule) {
                        ctx.err(r.span(), &rf, "duplicate rule: AWS rejects the same permission twice (InvalidPermission.Duplicate)");
                        ok = false;
                    }
                }
                None => ok = false,
            }
        }
    }
    ok.then(|| SecurityGroupSpec {
        description: desc.clone(),
        rules,
    })
}

/// AWS's limit on an endpoint policy document (sent without whitespace).
const MAX_POLICY_CHARS: usize = 20_480;

/// Read a policy file: a regular file (never a device or FIFO, which could block or
/// never end), read no further than 1 MiB.
fn read_policy_file(path: &Path) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind, Read};
    const MAX_BYTES: u64 = 1 << 20;
    if !std::fs::metadata(path)?.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_BYTES {
        return Err(Error::new(ErrorKind::InvalidData, "larger than 1 MiB"));
    }
    Ok(text)
}

fn load_policy(ctx: &mut Ctx, field: &str, path: &S<String>) -> Option<Value> {
    let base = ctx.file.parent().map(Path::to_path_buf).unwrap_or_default();
    let full = base.join(path.get_ref());
    let text = match read_policy_file(&full) {
        Ok(t) => t,
        Err(e) => {
            ctx.err(
                path.span(),
                field,
                format!("cannot read policy file {}: {e}", full.display()),
            );
            return None;
        }
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(v)
            if v.get("Statement").is_some() && v.to_string().chars().count() > MAX_POLICY_CHARS =>
        {
            ctx.err(
                path.span(),
                field,
                format!(
                    "policy file {} is {} characters without whitespace; AWS allows at most {MAX_POLICY_CHARS} for an endpoint policy",
                    full.display(),
                    v.to_string().chars().count()
                ),
            );
            None
        }
        Ok(v) if v.get("Statement").is_some() => Some(v),
        Ok(_) => {
            ctx.err(
                path.span(),
                field,
                format!("policy file {} has no \"Statement\"", full.display()),
            );
            None
        }
        Err(e) => {
            ctx.err(
                path.span(),
                field,
                format!(
                    "policy file {} is not valid JSON: {e} (at {}:{}:{})",
                    full.display(),
                    full.display(),
                    e.line(),
                    e.column()
                ),
            );
            None
        }
    }
}

fn check_gateway(
    ctx: &mut Ctx,
    field: &str,
    key: &str,
    gw: &RawGatewayEndpoint,
    region: &str,
) -> Option<GatewayEndpointSpec> {
    let policy = match &gw.policy {
        None => None,
        Some(p) => Some(load_policy(ctx, &format!("{field}.policy"), p)?),
    };
    Some(GatewayEndpointSpec {
        service_name: service_name(region, key),
        policy,
    })
}

fn check_interface_endpoints(
    ctx: &mut Ctx,
    ie: &RawInterfaceEndpoints,
    span: Range<usize>,
    region: &str,
    // Valid items, and the names of all items (an invalid one is already reported).
    (subnets, subnet_keys): (&BTreeMap<String, SubnetSpec>, &BTreeSet<String>),
    (sgs, sg_keys): (&BTreeMap<String, SecurityGroupSpec>, &BTreeSet<String>),
) -> BTreeMap<String, InterfaceEndpointSpec> {
    let mut out = BTreeMap::new();
    let before = ctx.diags.len();
    let mut services = Vec::new();
    if ie.services.get_ref().is_empty() {
        ctx.err(
            ie.services.span(),
            "interface_endpoints.services",
            "list at least one service",
        );
    }
    let mut seen = BTreeSet::new();
    for (i, s) in ie.services.get_ref().iter().enumerate() {
        let f = format!("interface_endpoints.services[{i}]");
        let v = s.get_ref();
        if !INTERFACE_SERVICES.contains(&v.as_str()) {
            let hint = INTERFACE_SERVICES
                .iter()
                .find(|k| v.contains(*k) || k.contains(v.as_str()))
                .map(|k| format!(" (did you mean {k:?}?)"))
                .unwrap_or_default();
            ctx.err(
                s.span(),
                f,
                format!("unknown interface endpoint service {v:?}{hint}; short names look like sagemaker.api, sagemaker.runtime, studio, sts, logs, ecr.dkr"),
            );
        } else if !seen.insert(v.clone()) {
            ctx.err(s.span(), f, format!("service {v:?} listed twice"));
        } else {
            services.push(v.clone());
        }
    }
    if seen.contains("studio") && !seen.contains("sagemaker.api") {
        ctx.err(
            ie.services.span(),
            "interface_endpoints.services",
            "the studio endpoint needs a sagemaker.api endpoint too: CreatePresignedDomainUrl goes through the SageMaker API endpoint",
        );
    }

    let mut subnet_refs = BTreeSet::new();
    let mut az_of: BTreeMap<&str, &str> = BTreeMap::new();
    if ie.subnets.get_ref().is_empty() {
        ctx.err(
            ie.subnets.span(),
            "interface_endpoints.subnets",
            "list at least one subnet (one per availability zone)",
        );
    }
    for (i, s) in ie.subnets.get_ref().iter().enumerate() {
        let f = format!("interface_endpoints.subnets[{i}]");
        let v = s.get_ref();
        if let Some(spec) = subnets.get(v) {
            if let Some(prev) = az_of.insert(spec.availability_zone.as_str(), v.as_str()) {
                ctx.err(
                    s.span(),
                    f,
                    format!(
                        "subnets {prev} and {v} are both in {}: an endpoint takes one subnet per availability zone (DuplicateSubnetsInSameZone)",
                        spec.availability_zone
                    ),
                );
                continue;
            }
            if !subnet_refs.insert(Ref::Key(v.clone())) {
                ctx.err(s.span(), f, format!("subnet {v:?} listed twice"));
            }
        } else if is_aws_id(v, "subnet-") {
            if !subnet_refs.insert(Ref::Id(v.clone())) {
                ctx.err(s.span(), f, format!("subnet {v:?} listed twice"));
            }
        } else if subnet_keys.contains(v) {
            // An invalid subnet of the plan: its own diagnostic says why.
        } else {
            let known: Vec<&str> = subnets.keys().map(String::as_str).collect();
            ctx.err(
                s.span(),
                f,
                format!(
                    "unknown subnet {v:?}; use a subnet of the plan ({}) or an existing subnet id (subnet-...)",
                    if known.is_empty() { "none defined".to_string() } else { known.join(", ") }
                ),
            );
        }
    }

    let mut sg_refs = BTreeSet::new();
    for (i, s) in ie.security_groups.iter().enumerate() {
        let f = format!("interface_endpoints.security_groups[{i}]");
        let v = s.get_ref();
        if sgs.contains_key(v) {
            sg_refs.insert(Ref::Key(v.clone()));
        } else if is_aws_id(v, "sg-") {
            sg_refs.insert(Ref::Id(v.clone()));
        } else if sg_keys.contains(v) {
            // An invalid group of the plan: its own diagnostic says why.
        } else {
            let known: Vec<&str> = sgs.keys().map(String::as_str).collect();
            ctx.err(
                s.span(),
                f,
                format!(
                    "unknown security group reference {v:?}; use a group of the plan ({}) or an existing group id (sg-...)",
                    if known.is_empty() { "none defined".to_string() } else { known.join(", ") }
                ),
            );
        }
    }
    // The endpoint's own groups must let HTTPS in, or nothing can reach the endpoint.
    let plan_groups: Vec<&SecurityGroupSpec> = sg_refs
        .iter()
        .filter_map(|r| match r {
            Ref::Key(k) => sgs.get(k),
            Ref::Id(_) => None,
        })
        .collect();
    if !plan_groups.is_empty()
        && plan_groups.len() == sg_refs.len()
        && !plan_groups.iter().any(|g| {
            g.rules.iter().any(|r| {
                r.direction == Direction::Ingress
                    && match (r.protocol, r.ports) {
                        (Protocol::All, _) => true,
                        (Protocol::Tcp, Some((a, b))) => a <= 443 && 443 <= b,
                        _ => false,
                    }
            })
        })
    {
        ctx.err(
            span.clone(),
            "interface_endpoints.security_groups",
            "no security group of the interface endpoints allows inbound HTTPS (tcp 443): clients could not reach the endpoints",
        );
    }

    let policy = match &ie.policy {
        None => None,
        Some(p) => load_policy(ctx, "interface_endpoints.policy", p),
    };
    if ctx.diags.len() > before {
        return out;
    }
    for s in services {
        out.insert(
            s.clone(),
            InterfaceEndpointSpec {
                service_name: service_name(region, &s),
                subnets: subnet_refs.clone(),
                security_groups: sg_refs.clone(),
                private_dns: *ie.private_dns.get_ref(),
                policy: policy.clone(),
            },
        );
    }
    out
}
