//! What the one-shot commands (`resolve`, `explain`, `inventory`) read the
//! fleet with: the source and self their flags name.

use super::{SelfArgs, SelfChoice, SettingsError, SourceArgs, SourceSettings};

/// The fleet's source and self, for one answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolveSettings {
    pub source: SourceSettings,
    pub own: SelfChoice,
}

impl ResolveSettings {
    /// The source and self `source` and `identity` name.
    pub fn from_flags(
        source: &SourceArgs,
        identity: &SelfArgs,
    ) -> Result<ResolveSettings, SettingsError> {
        let source = source.settings(identity.no_imds)?;
        let own = identity.choice(&source)?;
        Ok(ResolveSettings { source, own })
    }

    /// The source `source` names, read by no instance of the fleet (a
    /// recording of it: never the snapshot's writer).
    pub fn outsider(source: &SourceArgs) -> Result<ResolveSettings, SettingsError> {
        Ok(ResolveSettings {
            source: source.settings(false)?,
            own: SelfChoice::Nobody,
        })
    }
}
