//! Security groups and their rules.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;

use super::{is_key_like, valid_sg_description, Ctx};
use crate::model::{Direction, Peer, Protocol, Rule};
use crate::plan::file::{PortsValue, RawPlan, RawRule, RawSecurityGroup, S};
use crate::plan::SecurityGroupSpec;

/// The names of the plan's groups, valid or not (rules and endpoints refer to them).
/// Groups named by id are not among them (references to those are their ids).
pub(super) fn keys(raw: &RawPlan) -> BTreeSet<String> {
    raw.security_groups
        .iter()
        .filter(|(_, g)| g.get_ref().id.is_none())
        .map(|(k, _)| k.get_ref().clone())
        .collect()
}

/// `[security_groups.<key>]`.
pub(super) fn check_all(
    ctx: &mut Ctx,
    raw: &RawPlan,
    sg_keys: &BTreeSet<String>,
) -> BTreeMap<String, SecurityGroupSpec> {
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
        if sg.get_ref().id.is_some() {
            continue; // an existing group (validate/existing.rs)
        }
        if sg.get_ref().description.is_none() {
            ctx.err(
                sg.span(),
                &field,
                "missing field `description`: a group the plan creates needs one (or `id = \"sg-...\"` to use a group that exists)",
            );
            ctx.help(format!("add `description = ...` to [{field}]"));
            continue;
        }
        if let Some(spec) = check_security_group(ctx, &field, key.get_ref(), sg.get_ref(), sg_keys)
        {
            security_groups.insert(key.get_ref().clone(), spec);
        }
    }
    security_groups
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
            } else if let Some(id) = ctx.existing.security_groups.get(v) {
                Some(Peer::ForeignGroup(id.clone()))
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
                ctx.suggest(v, known.iter().copied().chain(["self"]));
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
    let description = sg.description.as_ref()?;
    let desc = description.get_ref();
    let mut ok = true;
    if desc.trim().is_empty() || desc.len() > 255 || !valid_sg_description(desc) {
        ctx.err(
            description.span(),
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
