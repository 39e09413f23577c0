//! The membership document in the formats `resolve --format` and the file
//! sink offer.

mod env;
mod nft;
mod text;

pub use env::variables as env_variables;

use crate::membership::Membership;
use crate::settings::Format;

/// The document in `format`, ending in a newline.
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
pub fn render(membership: &Membership, format: Format) -> serde_json::Result<String> {
    Ok(match format {
        Format::Json => serde_json::to_string_pretty(membership)? + "\n",
        Format::Env => env::render(membership),
        Format::Text => text::render(membership),
        Format::Nft => nft::render(membership),
        Format::Dot => crate::graph::dot::render(&crate::graph::Graph::of_answer(membership)),
    })
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
