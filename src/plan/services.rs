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

#[cfg(test)]
mod tests {
    use super::*;

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
