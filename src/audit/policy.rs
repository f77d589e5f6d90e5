//! Just enough of IAM policy evaluation to tell whether an endpoint policy still lets
//! anyone read a bucket: some `Allow` matches (whatever its principal or condition:
//! someone may meet it), and no `Deny` for everyone without a condition matches.
//! Wildcards `*` and `?`; actions compare without case, as IAM does.

use serde_json::Value;

/// The Amazon Linux repository bucket families and an object in each (`{r}` is the
/// region): Amazon Linux, Amazon Linux 2, Amazon Linux 2023.
pub const REPOSITORIES: &[(&str, &[&str])] = &[
    (
        "Amazon Linux",
        &[
            "arn:aws:s3:::packages.{r}.amazonaws.com/2018.03/main/mirror.list",
            "arn:aws:s3:::repo.{r}.amazonaws.com/latest/main/mirror.list",
        ],
    ),
    (
        "Amazon Linux 2",
        &[
            "arn:aws:s3:::amazonlinux.{r}.amazonaws.com/2/core/latest/x86_64/mirror.list",
            "arn:aws:s3:::amazonlinux-2-repos-{r}/2/core/latest/x86_64/mirror.list",
        ],
    ),
    (
        "Amazon Linux 2023",
        &["arn:aws:s3:::al2023-repos-{r}-de612dc2/core/mirrors/latest/x86_64/mirror.list"],
    ),
];

/// Whether `policy` (`None`: AWS's default full access) lets someone `action` on
/// `resource`.
pub fn allows(policy: Option<&Value>, action: &str, resource: &str) -> bool {
    let Some(doc) = policy else {
        return true;
    };
    let statements: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => return false,
    };
    let matching: Vec<&Value> = statements
        .into_iter()
        .filter(|s| applies(s, action, resource))
        .collect();
    let allowed = matching.iter().any(|s| effect(s) == Some("Allow"));
    let denied = matching
        .iter()
        .any(|s| effect(s) == Some("Deny") && s.get("Condition").is_none() && for_everyone(s));
    allowed && !denied
}

fn effect(s: &Value) -> Option<&str> {
    s.get("Effect").and_then(Value::as_str)
}

/// `Principal` absent, `"*"` or `{"AWS": "*"}`.
fn for_everyone(s: &Value) -> bool {
    match s.get("Principal") {
        None => true,
        Some(Value::String(p)) => p == "*",
        Some(Value::Object(m)) => m.get("AWS").is_some_and(|a| strings(a).contains(&"*")),
        _ => false,
    }
}

fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// The statement's action and resource elements cover `action` on `resource`.
fn applies(s: &Value, action: &str, resource: &str) -> bool {
    let element = |yes: &str, no: &str, value: &str, fold: bool| match (s.get(yes), s.get(no)) {
        (Some(v), _) => strings(v).iter().any(|p| glob(p, value, fold)),
        (None, Some(v)) => !strings(v).iter().any(|p| glob(p, value, fold)),
        (None, None) => false,
    };
    element("Action", "NotAction", action, true)
        && element("Resource", "NotResource", resource, false)
}

/// `pattern` with `*` (any run) and `?` (any one character) matches `text` whole.
pub fn glob(pattern: &str, text: &str, fold: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if fold {
        (
            pattern.to_lowercase().chars().collect(),
            text.to_lowercase().chars().collect(),
        )
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The repository families `policy` still lets someone read in `region`.
pub fn allowed_repositories(policy: Option<&Value>, region: &str) -> Vec<&'static str> {
    REPOSITORIES
        .iter()
        .filter(|(_, objects)| {
            objects
                .iter()
                .any(|o| allows(policy, "s3:GetObject", &o.replace("{r}", region)))
        })
        .map(|(name, _)| *name)
        .collect()
}
