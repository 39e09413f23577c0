//! Counts API attempts by outcome, per service: `DescribeInstances` (EC2),
//! `DescribeAutoScalingGroups` (Auto Scaling) and `DescribeSecurityGroups`
//! (EC2, for groups not met before), in all and per
//! account-region. Each one, retries included, spends a token of the
//! account-region's API budget, which every tool in the account shares; a
//! listing's cost is the attempts of both.

use super::parts::PartKey;
use aws_sdk_ec2::config::interceptors::FinalizerInterceptorContextRef;
use aws_sdk_ec2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ec2::error::BoxError;
use prometheus_client::metrics::counter::Counter;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

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

/// The attempts of one source, per service, in all and per
/// account-region. Clones count into the same counters.
#[derive(Debug, Clone, Default)]
pub struct ApiCalls {
    /// `DescribeInstances`.
    pub ec2: CallCounts,
    /// `DescribeAutoScalingGroups`.
    pub auto_scaling: CallCounts,
    /// `DescribeSecurityGroups`, for the owners of groups not met before.
    pub security_groups: CallCounts,
    /// Each account-region's share of them.
    parts: Arc<Mutex<BTreeMap<PartKey, PartCalls>>>,
}

/// One account-region's attempts, per service.
#[derive(Debug, Clone, Default)]
pub struct PartCalls {
    pub ec2: CallCounts,
    pub auto_scaling: CallCounts,
    pub security_groups: CallCounts,
}

impl ApiCalls {
    /// Counters that count `DescribeInstances` in all into `ec2` (a
    /// metric's series).
    pub fn counting_ec2_into(ec2: CallCounts) -> ApiCalls {
        ApiCalls {
            ec2,
            ..ApiCalls::default()
        }
    }

    /// Every attempt so far, of both services: what a listing spends of the
    /// budget.
    pub fn total(&self) -> u64 {
        self.ec2.total() + self.auto_scaling.total() + self.security_groups.total()
    }

    /// The interceptor counting `DescribeInstances` in `part` (and in all).
    pub fn counting_ec2(&self, part: &PartKey) -> CountCalls {
        CountCalls {
            all: self.ec2.clone(),
            part: self.part(part).ec2,
        }
    }

    /// The interceptor counting `DescribeAutoScalingGroups` in `part` (and
    /// in all).
    pub fn counting_auto_scaling(&self, part: &PartKey) -> CountCalls {
        CountCalls {
            all: self.auto_scaling.clone(),
            part: self.part(part).auto_scaling,
        }
    }

    /// The interceptor counting `DescribeSecurityGroups` in `part` (and in
    /// all).
    pub fn counting_security_groups(&self, part: &PartKey) -> CountCalls {
        CountCalls {
            all: self.security_groups.clone(),
            part: self.part(part).security_groups,
        }
    }

    /// The counters of `part`, made on first use.
    pub fn part(&self, part: &PartKey) -> PartCalls {
        self.parts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(part.clone())
            .or_default()
            .clone()
    }

    /// Every account-region counted so far, in order.
    pub fn by_part(&self) -> Vec<(PartKey, PartCalls)> {
        self.parts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(part, calls)| (part.clone(), calls.clone()))
            .collect()
    }
}

/// The interceptor that keeps [`CallCounts`]: in all, and of one
/// account-region.
#[derive(Debug, Clone)]
pub struct CountCalls {
    all: CallCounts,
    part: CallCounts,
}

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
        let status = context
            .response()
            .map(|response| response.status().as_u16());
        for counts in [&self.all, &self.part] {
            let counter = match status {
                Some(200..=299) => &counts.answered,
                Some(429 | 503) => &counts.throttled,
                _ => &counts.failed,
            };
            counter.inc();
        }
        Ok(())
    }
}
