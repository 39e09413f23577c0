//! The membership document in the formats `resolve --format` and the file
//! sink offer: rollcall's own (JSON, shell variables, a table, nft sets),
//! the consumer formats it ships, and templates of the operator's own.

mod bundled;
mod env;
mod nft;
mod template;
mod text;

pub use env::variables as env_variables;
pub use template::{Template, TemplateError};

use crate::membership::Membership;
use crate::settings::{Format, SettingsError};
use std::sync::Arc;

/// Why an answer could not be written in its format.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The document would not serialize.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A template failed: it would not load, or failed on this answer.
    #[error(transparent)]
    Template(#[from] TemplateError),
}

/// The document in `format`, ending in a newline (a template's ends as
/// the template does). A template is parsed and checked on every call: a
/// sink keeps a [`Renderer`] instead.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let fleet = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/seed-fleet.json");
/// # let plugin = std::path::Path::new(kit::plugins::ELASTIC_GRID);
/// # let policy = rollcall::PolicyEngine::new()?.load(&plugin, "{}", Default::default())?;
/// # let fleet = rollcall::InventorySource::fetch(&rollcall::FileSource::new(fleet)).await?;
/// let answer = rollcall::resolve(fleet.into(), std::sync::Arc::new(policy), Some("i-df71a7b6".into())).await?;
/// let env = rollcall::render(&answer, rollcall::Format::Env)?;
/// assert!(env.contains("ROLLCALL_REGISTER_WITH='10.251.199.99'\n"));
/// # Ok(())
/// # }
/// ```
pub fn render(membership: &Membership, format: Format) -> Result<String, RenderError> {
    Ok(match format {
        Format::Json => serde_json::to_string_pretty(membership)? + "\n",
        Format::Env => env::render(membership),
        Format::Text => text::render(membership),
        Format::Nft => nft::render(membership),
        Format::Bundled(_) | Format::Template(_) => Renderer::new(&format)
            .map_err(|err| err.template)?
            .render(membership)?,
    })
}

/// What writes answers in one format: a template parsed and checked once,
/// when it is built, then used for every answer.
#[derive(Clone)]
pub struct Renderer(Writer);

#[derive(Clone)]
enum Writer {
    /// A format of rollcall's own.
    Own(Format),
    Template(Arc<Template>),
}

/// A template that cannot be used, as a settings error (`FILE:LINE: ...`)
/// and as the template's own.
#[derive(Debug)]
pub struct Unusable {
    /// The template's error.
    pub template: TemplateError,
    /// The same, as settings say it.
    pub setting: SettingsError,
}

impl Renderer {
    /// The renderer of `format`; for a template, once it has loaded and
    /// passed its checks.
    pub fn new(format: &Format) -> Result<Renderer, Unusable> {
        let (name, text, path) = match format {
            Format::Bundled(bundled) => (
                format!("format {}", bundled.name()),
                bundled::template(*bundled),
                None,
            ),
            Format::Template(file) => (
                file.path.display().to_string(),
                &*file.text,
                Some(file.path.clone()),
            ),
            own => return Ok(Renderer(Writer::Own(own.clone()))),
        };
        match Template::load(&name, text) {
            Ok(template) => Ok(Renderer(Writer::Template(Arc::new(template)))),
            Err(template) => Err(Unusable {
                setting: SettingsError::Template {
                    path: path.unwrap_or_else(|| name.into()),
                    line: template.line.unwrap_or(1),
                    message: template.message.clone(),
                },
                template,
            }),
        }
    }

    /// `membership` in the renderer's format.
    pub fn render(&self, membership: &Membership) -> Result<String, RenderError> {
        match &self.0 {
            Writer::Own(format) => render(membership, format.clone()),
            Writer::Template(template) => Ok(template.render(membership)?),
        }
    }
}

/// `address` or `address:port`, with IPv6 addresses bracketed when a port
/// follows.
pub fn endpoint(address: &str, port: Option<u16>) -> String {
    match port {
        None => address.to_owned(),
        Some(port) if address.contains(':') => format!("[{address}]:{port}"),
        Some(port) => format!("{address}:{port}"),
    }
}

#[cfg(test)]
mod tests {
    use super::endpoint;

    #[test]
    fn endpoints_bracket_ipv6_only_when_a_port_follows() {
        assert_eq!(endpoint("10.0.0.5", None), "10.0.0.5");
        assert_eq!(endpoint("10.0.0.5", Some(7070)), "10.0.0.5:7070");
        assert_eq!(endpoint("2600:1f18::1", None), "2600:1f18::1");
        assert_eq!(endpoint("2600:1f18::1", Some(7070)), "[2600:1f18::1]:7070");
    }
}
