//! The filters rollcall adds to the template language, for what a
//! consumer's configuration needs and Jinja has no word for:
//!
//! - `m|endpoint`, `m|endpoint(2380)`: a member's or target's `ADDR` or
//!   `ADDR:PORT` (IPv6 bracketed before a port), with a port of its own
//!   or the one given; `m|endpoint(brackets=true)` brackets an IPv6
//!   address without a port too (`[2600:1f18::1]`), as nginx and
//!   Prometheus read one;
//! - `members|usable`: the members that can be named in a configuration
//!   file as they are: an address that is an IP address or a host name,
//!   an instance id of letters, digits, `-`, `_` and `.`; members without
//!   an address are left out quietly (the policy gave none), the others
//!   with one WARN a render;
//! - `roles|usable_roles`: the roles whose name can stand in an
//!   identifier (`rollcall_ROLE`) with their usable members, those without
//!   any left out (a WARN for a name that cannot stand);
//! - `m|prometheus_labels`: a Prometheus target group's labels for a
//!   member: `__meta_rollcall_instance_id`, `_role`, `_clusters`
//!   (`,a,b,`), and `__meta_rollcall_label_NAME` for each label, NAME
//!   turned into a valid label name.

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State, Value};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Adds the filters to `environment`.
pub fn register(environment: &mut Environment<'static>) {
    environment.add_filter("endpoint", endpoint);
    environment.add_filter("usable", usable);
    environment.add_filter("usable_roles", usable_roles);
    environment.add_filter("prometheus_labels", prometheus_labels);
}

/// A string attribute of `value`, if it has one.
fn text(value: &Value, name: &str) -> Option<String> {
    value
        .get_attr(name)
        .ok()
        .filter(|attribute| attribute.kind() == ValueKind::String)
        .and_then(|attribute| attribute.as_str().map(str::to_owned))
}

fn endpoint(value: &Value, port: Option<u16>, options: Kwargs) -> Result<String, Error> {
    let brackets: Option<bool> = options.get("brackets")?;
    options.assert_all_used()?;
    let address = text(value, "address").ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "endpoint: {} has no address (leave such members out: |selectattr(\"address\"), or |usable)",
                text(value, "instance_id").unwrap_or_else(|| value.to_string())
            ),
        )
    })?;
    let own_port = value
        .get_attr("port")
        .ok()
        .and_then(|port| u16::try_from(port).ok());
    Ok(match own_port.or(port) {
        None if brackets == Some(true) && address.contains(':') => format!("[{address}]"),
        port => crate::output::endpoint(&address, port),
    })
}

/// Whether `text` can be written as a name in any consumer's file: a
/// letter, digit, `-`, `_` or `.`, and at most 255 of them.
pub fn is_plain_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 255
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Whether `text` is an IP address or a DNS host name (labels of letters,
/// digits, `-` and `_`, none empty or longer than 63, 253 in all).
pub fn is_host(text: &str) -> bool {
    if text.parse::<IpAddr>().is_ok() {
        return true;
    }
    let name = text.strip_suffix('.').unwrap_or(text);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        })
}

/// Why a member with an address cannot be named as it is, if it cannot.
fn unusable(member: &Value) -> Option<String> {
    let id = text(member, "instance_id").unwrap_or_default();
    let address = text(member, "address")?;
    if !is_plain_name(&id) {
        return Some(format!("instance id {id:?} is not a plain name"));
    }
    if !is_host(&address) {
        return Some(format!(
            "{id}'s address {address:?} is neither an IP address nor a host name"
        ));
    }
    None
}

/// The usable members of `members`, and what was wrong with the others.
fn usable_of(members: &Value) -> Result<(Vec<Value>, Vec<String>), Error> {
    let mut kept = Vec::new();
    let mut refused = Vec::new();
    for member in members.try_iter()? {
        if text(&member, "address").is_none() {
            continue;
        }
        match unusable(&member) {
            None => kept.push(member),
            Some(why) => refused.push(why),
        }
    }
    Ok((kept, refused))
}

/// One WARN for everything `what` left out of `template`'s output.
fn warn_of(state: &State, what: &str, refused: &[String]) {
    if let Some(example) = refused.first() {
        tracing::warn!(
            template = %state.name(),
            left_out = refused.len(),
            example = %example,
            "{what} left out of the output: their text cannot be written into this consumer's file safely."
        );
    }
}

fn usable(state: &State, members: &Value) -> Result<Vec<Value>, Error> {
    let (kept, refused) = usable_of(members)?;
    warn_of(state, "Members", &refused);
    Ok(kept)
}

fn usable_roles(state: &State, roles: &Value) -> Result<Vec<Value>, Error> {
    let mut kept = Vec::new();
    let mut refused = Vec::new();
    for role in roles.try_iter()? {
        let name = text(&role, "name").unwrap_or_default();
        let members = role.get_attr("members")?;
        if !is_plain_name(&name) {
            refused.push(format!("role {name:?} cannot stand in an identifier"));
            continue;
        }
        let (members, mut left_out) = usable_of(&members)?;
        refused.append(&mut left_out);
        if !members.is_empty() {
            kept.push(Value::from_pairs([
                ("name", Value::from(name)),
                ("members", Value::from(members)),
            ]));
        }
    }
    warn_of(state, "Roles and members", &refused);
    Ok(kept)
}

/// `name` as a Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`, every
/// other character `_`.
fn label_name(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn prometheus_labels(member: &Value) -> Result<Value, Error> {
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    let mut meta = |name: &str, value: String| {
        labels
            .entry(format!("__meta_rollcall_{name}"))
            .or_insert(value);
    };
    meta(
        "instance_id",
        text(member, "instance_id").unwrap_or_default(),
    );
    meta("role", text(member, "role").unwrap_or_default());
    let clusters: Vec<String> = member
        .get_attr("clusters")?
        .try_iter()?
        .map(|cluster| cluster.as_str().unwrap_or_default().to_owned())
        .collect();
    meta(
        "clusters",
        match clusters.is_empty() {
            true => String::new(),
            false => format!(",{},", clusters.join(",")),
        },
    );
    let own = member.get_attr("labels")?;
    for name in own.try_iter()? {
        let value = own.get_item(&name)?;
        if let (Some(name), Some(value)) = (name.as_str(), value.as_str()) {
            meta(&format!("label_{}", label_name(name)), value.to_owned());
        }
    }
    Ok(Value::from(labels))
}
