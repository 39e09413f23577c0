//! The open-file limit: the daemon raises its soft `RLIMIT_NOFILE` to the
//! hard limit at start, so that the common default of 1,024 does not decide
//! how many connections and files it can hold.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Raises the soft open-file limit to the hard one and returns the limit now
/// in force (`u64::MAX` for unlimited). When the raise is refused, the limit
/// stays as it was and a warning says so.
pub fn raise_to_hard_limit() -> u64 {
    let limit = getrlimit(Resource::Nofile);
    let unlimited = |value: Option<u64>| value.unwrap_or(u64::MAX);
    let (soft, hard) = (unlimited(limit.current), unlimited(limit.maximum));
    if soft >= hard {
        return soft;
    }
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => {
            tracing::debug!(from = soft, to = hard, "Open-file limit raised.");
            hard
        }
        Err(err) => {
            tracing::warn!(
                error = %err,
                soft,
                hard,
                "Cannot raise the open-file limit; keeping the soft limit."
            );
            soft
        }
    }
}
