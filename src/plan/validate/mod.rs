//! Parsing and validation of a plan file. Every problem is collected (not only the
//! first) and reported with file, line, column and field. Never panics on any input.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;

use super::file::{RawPlan, S};
use super::{Diagnostic, Plan, PlanError, VpcSpec};

struct Ctx<'a> {
    file: PathBuf,
    text: &'a str,
    diags: Vec<Diagnostic>,
    /// Files the plan names, given rather than read (a saved plan carries them).
    given: &'a BTreeMap<String, String>,
    /// Files the plan named, as read, by the path it names them with.
    read: BTreeMap<String, String>,
    /// The plan's region once checked; empty while unknown or invalid (then the checks
    /// that depend on it, like AZ names, stay quiet: one typo, one error).
    region: String,
    /// What the plan names by id under its own keys (checked first).
    existing: super::Existing,
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
        // A caret under the value; a span over several lines (a table) is underlined
        // only when it starts with its header, else at its first character.
        let width = match self.text.get(span.clone()) {
            Some(t) if !t.trim_end().contains('\n') || t.starts_with('[') => {
                t.lines().next().map_or(0, |l| l.chars().count())
            }
            _ => 1,
        }
        .max(1);
        self.diags.push(Diagnostic {
            file: self.file.clone(),
            line,
            column,
            field: field.into(),
            message: message.into(),
            width,
            help: None,
        });
    }

    /// Attach a fix to the last problem raised.
    fn help(&mut self, help: impl Into<String>) {
        if let Some(d) = self.diags.last_mut() {
            d.help = Some(help.into());
        }
    }

    /// Attach `did you mean ...?` to the last problem raised, when `wrong` is a likely
    /// typo of one of `known`.
    fn suggest<'k>(&mut self, wrong: &str, known: impl IntoIterator<Item = &'k str>) {
        let Some(k) = crate::plan::services::nearest(wrong, known) else {
            return;
        };
        if let Some(d) = self.diags.last_mut() {
            d.help = Some(format!("did you mean {k:?}?"));
        }
    }
}

/// The names serde lists in "unknown field `x`, expected `a`, `b` or `c`" (or "one of
/// ...") and the unknown one: (unknown, expected).
fn unknown_field(message: &str) -> Option<(&str, Vec<&str>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (wrong, rest) = rest.split_once('`')?;
    let expected = rest.split_once("expected")?.1;
    let names = expected.split('`').skip(1).step_by(2).collect();
    Some((wrong, names))
}

/// Parse and validate plan text read from `path`.
pub fn validate_source(path: &Path, text: &str) -> Result<Plan, PlanError> {
    validate_with_files(path, text, &BTreeMap::new())
}

/// Parse and validate plan text, taking the files it names from `given` where it has
/// them (by the path the plan names them with) and from the disk otherwise.
pub fn validate_with_files(
    path: &Path,
    text: &str,
    given: &BTreeMap<String, String>,
) -> Result<Plan, PlanError> {
    let mut ctx = Ctx {
        given,
        read: BTreeMap::new(),
        region: String::new(),
        existing: Default::default(),
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
            ctx.err(span.unwrap_or(0..0), field, &msg);
            if let Some((wrong, known)) = unknown_field(&msg) {
                ctx.suggest(wrong, known);
            } else if let Some(missing) = msg
                .strip_prefix("missing field `")
                .and_then(|m| m.split_once('`'))
            {
                let table = ctx
                    .diags
                    .last()
                    .map(|d| d.field.clone())
                    .unwrap_or_default();
                let place = if table.is_empty() {
                    "at the top of the file, before the first [table]".to_string()
                } else {
                    format!("to [{table}]")
                };
                if let Some(d) = ctx.diags.last_mut() {
                    d.help = Some(format!("add `{} = ...` {place}", missing.0));
                    if table.is_empty() {
                        // The whole document: no one value to underline.
                        d.width = 1;
                    }
                }
            }
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

mod access;
mod endpoints;
mod existing;
mod network;
mod quotas;
mod security_groups;
mod studio;
mod top;

pub use studio::{CLIENT_GROUP, DOMAIN_GROUP, REQUIRED, ROLE_SUFFIX};

fn check(ctx: &mut Ctx, raw: RawPlan) -> Option<Plan> {
    let (name, region, tags) = top::check(ctx, &raw);
    let vpc = network::vpc(ctx, &raw.vpc);
    let adopted = matches!(vpc, Some(VpcSpec::Adopted { .. }));
    ctx.existing = existing::check(ctx, &raw, adopted);
    let vpc_cidr = match &vpc {
        Some(VpcSpec::Owned { cidr }) => Some(*cidr),
        _ => None,
    };
    let subnets = network::subnets(ctx, &raw, &region, vpc_cidr);
    let sg_keys = security_groups::keys(&raw);
    let mut security_groups = security_groups::check_all(ctx, &raw, &sg_keys);
    let gateway_endpoints = endpoints::gateways(ctx, &raw, &region, &subnets);
    let interface_endpoints = endpoints::interfaces(
        ctx,
        &raw,
        &region,
        (&subnets, &security_groups, &sg_keys),
        &gateway_endpoints,
    );
    network::zone_style(ctx, &raw);
    let egress = network::egress(ctx, &raw, &region, vpc_cidr, &subnets);
    let request_limits = network::request_limits(ctx, &raw);
    let quota_settings = quotas::settings(ctx, &raw);
    let rules_per_group = crate::quotas::Limits::offline(&quota_settings)
        .value(crate::quotas::Quota::RulesPerSecurityGroup);
    let net = studio::Network {
        name: &name,
        vpc: vpc.as_ref(),
        subnets: &subnets,
        gateway_endpoints: &gateway_endpoints,
        interface_endpoints: &interface_endpoints,
    };
    let studio = if ctx.diags.is_empty() {
        studio::check(ctx, &raw, &net, &mut security_groups, rules_per_group)
    } else {
        None
    };
    let parts = access::Parts {
        vpc: vpc.as_ref(),
        interface_endpoints: &interface_endpoints,
        studio: studio.as_ref(),
    };
    let studio_access = if ctx.diags.is_empty() {
        access::check(ctx, &raw, &parts)
    } else {
        None
    };
    if ctx.diags.is_empty() {
        let parts = crate::quotas::usage::Parts {
            subnets: subnets
                .keys()
                .chain(egress.public_subnets.keys())
                .map(String::as_str)
                .collect(),
            security_groups: &security_groups,
            interface_endpoints: &interface_endpoints,
            studio: studio.as_ref(),
        };
        quotas::check(ctx, &raw, &parts, &quota_settings);
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
        egress,
        request_limits,
        files: std::mem::take(&mut ctx.read),
        studio,
        studio_access,
        existing: std::mem::take(&mut ctx.existing),
        quotas: quota_settings,
    })
}

fn is_aws_id(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix).is_some_and(|hex| {
        (hex.len() == 8 || hex.len() == 17) && hex.chars().all(|c| c.is_ascii_hexdigit())
    })
}
