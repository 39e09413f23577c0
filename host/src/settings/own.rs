//! Who this node is, as a setting: `self` in the file, `--self` and
//! `--no-imds` on the command line. One parser for both.

use super::{SettingsError, SourceSettings};
use clap::Args;

/// Where self comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelfChoice {
    /// An instance id given by the operator.
    Given(String),
    /// Explicitly none: resolve the fleet as an outsider.
    Nobody,
    /// Ask the instance metadata service.
    FromImds,
}

/// `self = "imds"` (or `--self imds`) where the instance metadata service
/// may not be asked: a file source, or IMDS turned off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImdsUnavailable;

impl SelfChoice {
    /// The instance id, when the operator gave one.
    pub fn given_id(&self) -> Option<&str> {
        match self {
            SelfChoice::Given(id) => Some(id),
            SelfChoice::Nobody | SelfChoice::FromImds => None,
        }
    }

    /// Self as written (`none`, `imds` or an instance id; `None` when not
    /// given), where asking IMDS is `imds_allowed` (an EC2 source with IMDS
    /// on). Not given: IMDS when allowed, else nobody.
    pub fn read(written: Option<&str>, imds_allowed: bool) -> Result<SelfChoice, ImdsUnavailable> {
        match written {
            None | Some("imds") if imds_allowed => Ok(SelfChoice::FromImds),
            None | Some("none") => Ok(SelfChoice::Nobody),
            Some("imds") => Err(ImdsUnavailable),
            Some(id) => Ok(SelfChoice::Given(id.to_owned())),
        }
    }
}

/// Which instance rollcall runs on.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Self")]
pub struct SelfArgs {
    /// The instance rollcall runs on; its role and registration targets lead
    /// the answer. `none` resolves without one. Default: asked of the
    /// instance metadata service (IMDSv2) when reading EC2, none with
    /// --inventory.
    #[arg(long = "self", value_name = "INSTANCE_ID|none")]
    pub self_id: Option<String>,

    /// Never ask the instance metadata service (neither for self nor for the
    /// region); without --self, resolve without one.
    #[arg(long)]
    pub no_imds: bool,
}

impl SelfArgs {
    /// Where self comes from, reading the fleet from `source` (to which
    /// `--no-imds` is already applied).
    pub fn choice(&self, source: &SourceSettings) -> Result<SelfChoice, SettingsError> {
        SelfChoice::read(self.self_id.as_deref(), source.imds_allowed()).map_err(|_| {
            SettingsError::Usage("--self imds needs the EC2 source, without --no-imds")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_is_an_id_none_or_imds_where_imds_may_be_asked() {
        let read = SelfChoice::read;
        assert_eq!(read(None, true), Ok(SelfChoice::FromImds));
        assert_eq!(read(None, false), Ok(SelfChoice::Nobody));
        assert_eq!(read(Some("none"), true), Ok(SelfChoice::Nobody));
        assert_eq!(read(Some("imds"), true), Ok(SelfChoice::FromImds));
        assert_eq!(read(Some("imds"), false), Err(ImdsUnavailable));
        assert_eq!(
            read(Some("i-1"), false),
            Ok(SelfChoice::Given("i-1".into()))
        );
    }
}
