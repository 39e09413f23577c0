//! Who am I: the instance rollcall runs on, from a flag or from IMDSv2.

use std::time::Duration;

/// IMDS must answer quickly or not at all: off EC2 nothing listens, and a
/// boot must not wait.
const IMDS_CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
const IMDS_READ_TIMEOUT: Duration = Duration::from_millis(1000);
const IMDS_OPERATION_TIMEOUT: Duration = Duration::from_millis(1500);

/// An IMDSv2 client (token first) with short timeouts and a single attempt.
/// Honours `AWS_EC2_METADATA_SERVICE_ENDPOINT`.
pub fn imds_client() -> aws_config::imds::Client {
    aws_config::imds::Client::builder()
        .connect_timeout(IMDS_CONNECT_TIMEOUT)
        .read_timeout(IMDS_READ_TIMEOUT)
        .operation_timeout(IMDS_OPERATION_TIMEOUT)
        .max_attempts(1)
        .build()
}

/// The id of the instance this process runs on, from IMDS. Honours
/// `AWS_EC2_METADATA_DISABLED` as the SDK does.
pub async fn instance_id_from_imds() -> Result<String, String> {
    if std::env::var("AWS_EC2_METADATA_DISABLED")
        .is_ok_and(|value| value.eq_ignore_ascii_case("true"))
    {
        return Err(
            "cannot tell which instance this is: the instance metadata service is \
                    disabled (AWS_EC2_METADATA_DISABLED=true); pass --self INSTANCE_ID, or \
                    --self none to resolve without one"
                .to_owned(),
        );
    }
    let endpoint = std::env::var("AWS_EC2_METADATA_SERVICE_ENDPOINT")
        .unwrap_or_else(|_| "http://169.254.169.254".to_owned());
    let id = imds_client()
        .get("/latest/meta-data/instance-id")
        .await
        .map_err(|err| {
            format!(
                "cannot tell which instance this is: the instance metadata service at \
                 {endpoint} did not answer ({}); off EC2 pass --self INSTANCE_ID, or \
                 --self none to resolve without one",
                crate::report::error_chain(&err)
            )
        })?;
    let id: &str = id.as_ref();
    Ok(id.trim().to_owned())
}
