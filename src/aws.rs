//! The AWS SDK's configuration, one way for every client (EventBridge, SQS, Glue): the standard
//! credential chain (environment, profile, SSO, instance role), never a credential in a flag.

/// The SDK config with an optional region and endpoint (LocalStack, moto, tests).
pub async fn sdk_config(region: Option<&str>, endpoint_url: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_owned()));
    }
    if let Some(endpoint_url) = endpoint_url {
        loader = loader.endpoint_url(endpoint_url);
    }
    loader.load().await
}

/// Whether a failed SDK call may succeed if made again: the network, a timeout, an unreadable
/// response, or the service saying it is busy or failing; not a request it refused (access
/// denied, no such queue, a bad parameter) or one that could not be built.
pub fn is_transient<E, R>(error: &aws_sdk_sqs::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata,
{
    use aws_sdk_sqs::error::SdkError;
    match error {
        SdkError::ConstructionFailure(_) => false,
        SdkError::ServiceError(service) => match service.err().code() {
            Some(code) => TRANSIENT_CODES.contains(&code),
            None => true,
        },
        _ => true,
    }
}

/// Service error codes that say "try again later" (throttling and the service's own faults).
pub(crate) const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "SlowDown",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "AWS.SimpleQueueService.ServiceUnavailable",
    "KMS.ThrottlingException",
];

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sqs::error::{ErrorMetadata, SdkError};
    use aws_sdk_sqs::operation::receive_message::ReceiveMessageError;

    fn service_error(code: &str) -> SdkError<ReceiveMessageError, ()> {
        let error = ReceiveMessageError::generic(ErrorMetadata::builder().code(code).build());
        SdkError::service_error(error, ())
    }

    #[test]
    fn refusals_are_not_retried_and_throttling_is() {
        assert!(!is_transient(&service_error("AccessDenied")));
        assert!(!is_transient(&service_error(
            "AWS.SimpleQueueService.NonExistentQueue"
        )));
        assert!(is_transient(&service_error("ThrottlingException")));
        assert!(is_transient(&service_error("ServiceUnavailable")));
        assert!(is_transient(
            &SdkError::<ReceiveMessageError, ()>::timeout_error("slow")
        ));
    }
}
