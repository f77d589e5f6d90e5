//! The tool's view of a failed AWS call: the operation, AWS's code and message, and for
//! calls that got no answer, why in words (never an SDK `Debug` dump).

use std::fmt;

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};

/// Every cause of an error, outermost first, each said once: `dispatch failure: io
/// error: Connection refused (os error 111)`.
fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = e.source();
    }
    parts.join(": ")
}

/// What kind of failure: AWS answered with an error, or it was never asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// AWS (or the emulator) answered with an error code.
    Service,
    /// No answer: connection refused, a name that does not resolve, a timeout.
    Unreachable,
    /// No credentials could be found (or loaded).
    Credentials,
    /// Anything else before an answer (a request that could not be built).
    Other,
}

/// An AWS call that failed, in the tool's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsError {
    pub operation: &'static str,
    /// AWS error code, e.g. `InvalidVpcID.NotFound`; `None` for transport failures.
    pub code: Option<String>,
    pub message: String,
    pub failure: Failure,
}

impl AwsError {
    pub fn new(operation: &'static str, code: Option<&str>, message: impl Into<String>) -> Self {
        AwsError {
            operation,
            code: code.map(str::to_string),
            message: message.into(),
            failure: if code.is_some() {
                Failure::Service
            } else {
                Failure::Other
            },
        }
    }

    /// A response without the id it should carry.
    pub fn missing(operation: &'static str, what: &str) -> Self {
        AwsError::new(operation, None, format!("response carried no {what}"))
    }

    pub fn is_not_found(&self) -> bool {
        self.code
            .as_deref()
            .is_some_and(|c| c.ends_with(".NotFound") || c.ends_with("NotFound"))
    }

    /// Whether trying again may succeed: throttling, server errors, a lost connection,
    /// an id not visible yet, a dependency still going away. Anything else (a bad
    /// parameter, a conflict, a quota, a permission) needs its cause fixed first.
    pub fn is_transient(&self) -> bool {
        if self.failure == Failure::Credentials {
            return false;
        }
        let Some(code) = self.code.as_deref() else {
            return true; // transport: no answer at all
        };
        self.is_not_found()
            || matches!(
                code,
                "RequestLimitExceeded"
                    | "Throttling"
                    | "ThrottlingException"
                    | "InternalError"
                    | "InternalFailure"
                    | "ServiceUnavailable"
                    | "Unavailable"
                    | "DependencyViolation"
                    | "IncorrectState"
            )
    }

    /// A hint for errors a user can act on.
    pub fn hint(&self) -> Option<&'static str> {
        let code = self.code.as_deref()?;
        Some(match code {
            "UnauthorizedOperation" | "AccessDenied" | "AccessDeniedException" => {
                "the credentials in use lack this permission; check the IAM policy of the caller"
            }
            "AuthFailure" | "InvalidClientTokenId" | "SignatureDoesNotMatch" => {
                "AWS rejected the credentials; check --profile or the AWS_* variables"
            }
            "VpcLimitExceeded" | "SecurityGroupLimitExceeded" | "VpcEndpointLimitExceeded" => {
                "an account quota is reached; raise it in Service Quotas or remove unused resources"
            }
            "InvalidSubnet.Conflict" => {
                "the subnet CIDR overlaps a subnet that already exists in the VPC"
            }
            "DuplicateSubnetsInSameZone" => "an endpoint takes one subnet per availability zone",
            "InvalidParameter" if self.message.contains("private DNS") => {
                "private DNS needs enableDnsSupport and enableDnsHostnames on the VPC"
            }
            _ => return None,
        })
    }

    pub(crate) fn from_sdk<E, R>(operation: &'static str, err: SdkError<E, R>) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: fmt::Debug + Send + Sync + 'static,
    {
        if let (Some(code), SdkError::ServiceError(_)) = (err.code(), &err) {
            return AwsError {
                operation,
                code: Some(code.to_string()),
                message: err.message().unwrap_or_default().to_string(),
                failure: Failure::Service,
            };
        }
        // No answer: say why in words (the chain of causes, no Debug dump).
        let chain = causes(&err);
        let failure = match &err {
            _ if chain.contains("credentials") => Failure::Credentials,
            SdkError::TimeoutError(_) => Failure::Unreachable,
            SdkError::DispatchFailure(d) if d.is_io() || d.is_timeout() => Failure::Unreachable,
            SdkError::ResponseError(_) => Failure::Unreachable,
            _ => Failure::Other,
        };
        AwsError {
            operation,
            code: err.code().map(str::to_string),
            message: err.message().map(str::to_string).unwrap_or(chain),
            failure,
        }
    }
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(c) => write!(f, "{} failed: {c}: {}", self.operation, self.message),
            None => write!(f, "{} failed: {}", self.operation, self.message),
        }
    }
}

impl std::error::Error for AwsError {}
