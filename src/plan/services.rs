//! Endpoint service names. Short names in the plan map to AWS service names:
//! `studio` → `aws.sagemaker.<region>.studio`, anything else →
//! `com.amazonaws.<region>.<name>`.

/// Interface (PrivateLink) services a plan may name. The list covers the services a
/// SageMaker workload reaches; a name outside it is rejected at validation so that a
/// typo never reaches AWS.
pub const INTERFACE_SERVICES: &[&str] = &[
    "sagemaker.api",
    "sagemaker.runtime",
    "sagemaker.runtime-fips",
    "sagemaker.featurestore-runtime",
    "sagemaker.metrics",
    "sagemaker.notebook",
    "studio",
    "notebook",
    "sts",
    "logs",
    "monitoring",
    "events",
    "servicecatalog",
    "servicecatalog-appregistry",
    "ecr.api",
    "ecr.dkr",
    "s3",
    "kms",
    "secretsmanager",
    "ssm",
    "ssmmessages",
    "ec2",
    "ec2messages",
    "elasticfilesystem",
    "codecommit",
    "git-codecommit",
    "codeartifact.api",
    "codeartifact.repositories",
    "athena",
    "glue",
    "lambda",
    "states",
    "sqs",
    "sns",
    "kinesis-streams",
    "kinesis-firehose",
    "elasticloadbalancing",
    "autoscaling",
    "application-autoscaling",
    "emr-serverless",
    "elasticmapreduce",
    "redshift",
    "redshift-data",
    "bedrock",
    "bedrock-runtime",
    "bedrock-agent",
    "bedrock-agent-runtime",
    "comprehend",
    "textract",
    "rekognition",
    "translate",
    "forecast",
    "personalize",
    "xray",
    "cloudtrail",
    "dynamodb",
    "execute-api",
];

/// AWS's commercial, GovCloud and China regions, to catch a typo'd region name (a
/// region not listed but unlike all of these is taken as written: AWS adds regions).
pub const REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-south-1",
    "eu-south-2",
    "eu-north-1",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-gov-east-1",
    "us-gov-west-1",
    "cn-north-1",
    "cn-northwest-1",
];

/// The known name nearest to `name` by edit distance, when it is a likely typo of it.
pub fn nearest<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (strsim::levenshtein(name, k), k))
        .filter(|(d, k)| *d > 0 && *d <= 2 && *d < k.len().min(name.len()))
        .min()
        .map(|(_, k)| k)
}

/// A service as written in the plan: a short name (`ecr.dkr`, `studio`) or a full one
/// (`com.amazonaws.us-east-1.ecr.dkr`, `aws.sagemaker.us-east-1.studio`), in the plan's
/// region. Returns the short name (the endpoint's key) and the full name.
pub fn parse_service(region: &str, written: &str) -> Result<(String, String), String> {
    let short = if let Some(rest) = written.strip_prefix("com.amazonaws.") {
        let (r, svc) = rest.split_once('.').ok_or_else(|| {
            format!("{written:?} is not a service name (com.amazonaws.<region>.<service>)")
        })?;
        if !region.is_empty() && r != region {
            return Err(format!(
                "{written:?} is a service of region {r}; the plan's region is {region}"
            ));
        }
        svc.to_string()
    } else if let Some(rest) = written.strip_prefix("aws.sagemaker.") {
        match rest.split_once('.') {
            Some((r, "studio")) if r == region || region.is_empty() => "studio".to_string(),
            Some((r, "studio")) => {
                return Err(format!(
                    "{written:?} is a service of region {r}; the plan's region is {region}"
                ))
            }
            _ => {
                return Err(format!(
                    "{written:?} is not a service name (aws.sagemaker.<region>.studio)"
                ))
            }
        }
    } else {
        written.to_string()
    };
    let ok = !short.is_empty()
        && short.len() <= 100
        && short.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && short.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-' || c == '_'
        });
    if !ok {
        return Err(format!(
            "{written:?} is not a service name: short names look like sagemaker.api, sagemaker.runtime, studio, sts, logs, ecr.dkr (or give the full name, com.amazonaws.{region}.<service>)"
        ));
    }
    let full = service_name(region, &short);
    Ok((short, full))
}

/// Services reachable through a gateway endpoint.
pub const GATEWAY_SERVICES: &[&str] = &["s3", "dynamodb"];

/// Full AWS service name for a short name in `region`.
pub fn service_name(region: &str, short: &str) -> String {
    if short == "studio" {
        format!("aws.sagemaker.{region}.studio")
    } else {
        format!("com.amazonaws.{region}.{short}")
    }
}

/// The short name of a full service name of `region` (`sagemaker.api`, `studio`); a
/// name of another form (another region's, a PrivateLink service) is kept whole.
pub fn short_name(region: &str, full: &str) -> String {
    if full == service_name(region, "studio") {
        return "studio".to_string();
    }
    full.strip_prefix(&service_name(region, ""))
        .filter(|s| !s.is_empty())
        .unwrap_or(full)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_and_short_names() {
        assert_eq!(
            parse_service("us-east-1", "com.amazonaws.us-east-1.ecs").unwrap(),
            ("ecs".to_string(), "com.amazonaws.us-east-1.ecs".to_string())
        );
        assert_eq!(
            parse_service("us-east-1", "aws.sagemaker.us-east-1.studio")
                .unwrap()
                .0,
            "studio"
        );
        assert!(parse_service("us-east-1", "com.amazonaws.eu-west-1.ecs")
            .unwrap_err()
            .contains("region eu-west-1"));
        assert!(parse_service("us-east-1", "Ecr DKR").is_err());
        assert_eq!(
            parse_service("us-east-1", "bedrock-agentcore").unwrap().0,
            "bedrock-agentcore"
        );
    }

    #[test]
    fn typos_find_the_nearest() {
        assert_eq!(
            nearest("ecr.dokr", INTERFACE_SERVICES.iter().copied()),
            Some("ecr.dkr")
        );
        assert_eq!(
            nearest("us-eats-1", REGIONS.iter().copied()),
            Some("us-east-1")
        );
        assert_eq!(
            nearest("bedrock-agentcore", INTERFACE_SERVICES.iter().copied()),
            None
        );
    }

    #[test]
    fn short_names_of_full_ones() {
        assert_eq!(
            short_name("us-east-1", "aws.sagemaker.us-east-1.studio"),
            "studio"
        );
        assert_eq!(
            short_name("us-east-1", "com.amazonaws.us-east-1.sagemaker.api"),
            "sagemaker.api"
        );
        assert_eq!(
            short_name("us-east-1", "com.amazonaws.vpce.us-east-1.vpce-svc-1"),
            "com.amazonaws.vpce.us-east-1.vpce-svc-1"
        );
    }

    #[test]
    fn studio_uses_the_aws_sagemaker_prefix() {
        assert_eq!(
            service_name("us-east-1", "studio"),
            "aws.sagemaker.us-east-1.studio"
        );
        assert_eq!(
            service_name("eu-west-1", "sagemaker.api"),
            "com.amazonaws.eu-west-1.sagemaker.api"
        );
    }
}
