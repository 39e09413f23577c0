//! Where the fleet comes from: a describe-instances file, or the EC2 API
//! (behind the fleet's shared snapshot when one is named). The flags that
//! say so, and what they mean as settings.

use super::overrides::Ec2Overrides;
use super::{Ec2Settings, SettingsError, SnapshotSettings};
use clap::Args;
use std::path::PathBuf;

/// Where the fleet comes from, as every command uses it.
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "built once per configuration load; boxing buys nothing"
)]
pub enum SourceSettings {
    /// A describe-instances JSON file, re-read when it changes.
    File(PathBuf),
    /// The EC2 API, and the fleet's shared listing when its nodes share one.
    Ec2 {
        ec2: Ec2Settings,
        snapshot: Option<SnapshotSettings>,
    },
}

impl SourceSettings {
    /// Whether the instance metadata service may be asked (for self and
    /// the region): EC2 with IMDS on.
    pub fn imds_allowed(&self) -> bool {
        matches!(self, SourceSettings::Ec2 { ec2, .. } if ec2.region_from_imds)
    }

    /// Whether the fleet's nodes share one listing through S3.
    pub fn is_shared(&self) -> bool {
        matches!(
            self,
            SourceSettings::Ec2 {
                snapshot: Some(_),
                ..
            }
        )
    }
}

/// Where the fleet comes from: a file, or else the EC2 API.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Inventory source")]
pub struct SourceArgs {
    /// Read the fleet from a file instead of EC2: what `aws ec2
    /// describe-instances --output json` prints, or a JSON array of such
    /// pages.
    #[arg(long, value_name = "FILE", conflicts_with_all = ec2_flags())]
    pub inventory: Option<PathBuf>,

    #[command(flatten)]
    pub ec2: Ec2Overrides,
}

impl SourceArgs {
    /// The source these flags name, over the defaults; `no_imds`:
    /// `--no-imds` was given.
    pub fn settings(&self, no_imds: bool) -> Result<SourceSettings, SettingsError> {
        if let Some(path) = &self.inventory {
            return Ok(SourceSettings::File(path.clone()));
        }
        let mut ec2 = self
            .ec2
            .apply_to(Ec2Settings::default())
            .map_err(SettingsError::Flag)?;
        ec2.region_from_imds = !no_imds;
        let snapshot = self.ec2.apply_snapshot(None).map_err(SettingsError::Flag)?;
        Ok(SourceSettings::Ec2 { ec2, snapshot })
    }
}

/// The ids of the EC2 flags, which `--inventory` excludes. (Excluding their
/// group instead would make clap list every one of them in the error, not
/// just those given.)
fn ec2_flags() -> Vec<clap::Id> {
    Ec2Overrides::augment_args(clap::Command::new("ec2"))
        .get_arguments()
        .map(|arg| arg.get_id().clone())
        .collect()
}
