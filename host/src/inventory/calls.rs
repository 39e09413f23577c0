//! Counts API attempts by outcome, per service: `DescribeInstances` (EC2)
//! and `DescribeAutoScalingGroups` (Auto Scaling). Each one, retries
//! included, spends a token of the account's API budget, which every tool in
//! the account shares; a listing's cost is the attempts of both.

use aws_sdk_ec2::config::interceptors::FinalizerInterceptorContextRef;
use aws_sdk_ec2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ec2::error::BoxError;
use prometheus_client::metrics::counter::Counter;

/// Attempts so far: answered (2xx), throttled (503 or 429: EC2 says
/// `RequestLimitExceeded`), failed (any other answer, or none). Clones count
/// into the same counters (the daemon's metrics hold them).
#[derive(Debug, Clone, Default)]
pub struct CallCounts {
    pub answered: Counter,
    pub throttled: Counter,
    pub failed: Counter,
}

impl CallCounts {
    /// Every attempt so far.
    pub fn total(&self) -> u64 {
        self.answered.get() + self.throttled.get() + self.failed.get()
    }
}

/// The attempts of one source, per service. Clones count into the same
/// counters.
#[derive(Debug, Clone, Default)]
pub struct ApiCalls {
    /// `DescribeInstances`.
    pub ec2: CallCounts,
    /// `DescribeAutoScalingGroups`.
    pub auto_scaling: CallCounts,
}

impl ApiCalls {
    /// Every attempt so far, of both services: what a listing spends of the
    /// budget.
    pub fn total(&self) -> u64 {
        self.ec2.total() + self.auto_scaling.total()
    }
}

/// The interceptor that keeps [`CallCounts`].
#[derive(Debug, Clone)]
pub struct CountCalls(pub CallCounts);

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "CountCalls"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let counts = &self.0;
        let counter = match context
            .response()
            .map(|response| response.status().as_u16())
        {
            Some(200..=299) => &counts.answered,
            Some(429 | 503) => &counts.throttled,
            _ => &counts.failed,
        };
        counter.inc();
        Ok(())
    }
}
