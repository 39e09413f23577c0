//! `--format nft`: an nftables script that fills two sets with the addresses
//! of self's cluster peers, for a host firewall that admits only its cluster.
//!
//! The script declares table `inet rollcall` and its sets `cluster_peers_v4`
//! and `cluster_peers_v6` (a no-op when they exist), flushes both and adds
//! the current peers, so `nft -f FILE` replaces the elements in one
//! transaction, as often as the file changes; a ruleset can also `include`
//! it. A peer is a member other than self that shares at least one cluster
//! with self (by name, as the policy gave them). Self is left out: its own
//! traffic does not come from the network, and a set holding only self
//! would hide that it has no peers. Addresses that are not IP addresses
//! (host names, with an address kind of `private-dns`) cannot be set
//! elements: they are left out with a comment and a warning. Without a self,
//! or when self is no member or in no cluster, both sets are empty and the
//! file says why:
//! rules that admit only the sets then admit nobody, which is the truth of
//! the answer (no cluster, no peers), and never a failure of the fetch or
//! the policy (those keep the last good answer).

use crate::membership::Membership;
use crate::policy::Member;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// The table the script declares, family and name.
const TABLE: &str = "inet rollcall";
/// The set of the peers' IPv4 addresses (`type ipv4_addr`).
const SET_V4: &str = "cluster_peers_v4";
/// The set of the peers' IPv6 addresses (`type ipv6_addr`).
const SET_V6: &str = "cluster_peers_v6";

pub fn render(membership: &Membership) -> String {
    let mut out = String::new();
    let peers = match Peers::of(membership) {
        Ok(peers) => {
            let _ = writeln!(out, "# Written by rollcall: {}.", peers.whose);
            peers
        }
        Err(why) => {
            let _ = writeln!(out, "# Written by rollcall: no cluster peers, {why}.");
            let _ = writeln!(
                out,
                "# Both sets are empty: rules that admit only @{SET_V4} and @{SET_V6} admit nobody."
            );
            Peers::default()
        }
    };
    let _ = writeln!(
        out,
        "# Policy {} (sha256 {}). Do not edit: rewritten on every change.",
        comment_safe(&membership.policy.path.display().to_string()),
        membership
            .policy
            .sha256
            .get(..12)
            .unwrap_or(&membership.policy.sha256)
    );
    if membership.inventory.stale {
        let _ = writeln!(
            out,
            "# The inventory is stale: these are the peers of the last good answer."
        );
    }
    let _ = writeln!(out, "table {TABLE} {{");
    let _ = writeln!(out, "\tset {SET_V4} {{ type ipv4_addr; }}");
    let _ = writeln!(out, "\tset {SET_V6} {{ type ipv6_addr; }}");
    let _ = writeln!(out, "}}");
    let _ = writeln!(out, "flush set {TABLE} {SET_V4}");
    let _ = writeln!(out, "flush set {TABLE} {SET_V6}");
    for (address, ids) in &peers.skipped {
        let _ = writeln!(
            out,
            "# Left out: {} has {}, not an IP address.",
            comment_safe(&ids.join(", ")),
            comment_safe(address)
        );
    }
    for id in &peers.without_address {
        let _ = writeln!(out, "# Left out: {} has no address.", comment_safe(id));
    }
    if !peers.whose.is_empty() && peers.addresses.is_empty() {
        let _ = writeln!(
            out,
            "# No other member with an IP address shares a cluster with self: both sets are empty."
        );
    }
    elements(
        &mut out,
        SET_V4,
        peers.addresses.iter().filter(|(ip, _)| ip.is_ipv4()),
    );
    elements(
        &mut out,
        SET_V6,
        peers.addresses.iter().filter(|(ip, _)| ip.is_ipv6()),
    );
    out
}

/// `add element` for `set`, one address a line with the members it stands
/// for; nothing when there is no address (`{ }` is a syntax error).
fn elements<'a>(
    out: &mut String,
    set: &str,
    addresses: impl Iterator<Item = (&'a IpAddr, &'a Vec<String>)>,
) {
    let addresses: Vec<_> = addresses.collect();
    let Some(last) = addresses.len().checked_sub(1) else {
        return;
    };
    let _ = writeln!(out, "add element {TABLE} {set} {{");
    for (index, (ip, ids)) in addresses.iter().enumerate() {
        let comma = if index == last { "" } else { "," };
        let _ = writeln!(out, "\t{ip}{comma} # {}", comment_safe(&ids.join(", ")));
    }
    let _ = writeln!(out, "}}");
}

/// Self's cluster peers, sorted and without duplicates.
#[derive(Default)]
struct Peers {
    /// Whose peers these are, for the file's first line; empty when there
    /// is no self in a cluster.
    whose: String,
    /// Each address with the ids of the peers that have it.
    addresses: BTreeMap<IpAddr, Vec<String>>,
    /// Addresses that are not IP addresses, with the ids that have them.
    skipped: BTreeMap<String, Vec<String>>,
    /// Peers the policy gave no address.
    without_address: Vec<String>,
}

impl Peers {
    /// The peers, or why there are none to look for.
    fn of(membership: &Membership) -> Result<Self, String> {
        let own = membership.own.as_ref().ok_or_else(|| {
            "because no self was given (--self, or `self` in the config)".to_owned()
        })?;
        let id = comment_safe(&own.instance_id);
        if own.role.is_none() {
            return Err(format!("because self ({id}) is not a member of the fleet"));
        }
        if own.clusters.is_empty() {
            return Err(format!("because self ({id}) is in no cluster"));
        }
        let mut peers = Peers {
            whose: format!(
                "the cluster peers of {id} (clusters: {})",
                comment_safe(&own.clusters.join(", "))
            ),
            ..Peers::default()
        };
        let shares = |member: &Member| {
            member.instance_id != own.instance_id
                && member
                    .clusters
                    .iter()
                    .any(|cluster| own.clusters.contains(cluster))
        };
        for member in membership.members.iter().filter(|member| shares(member)) {
            let id = member.instance_id.clone();
            match member.address.as_deref() {
                None => peers.without_address.push(id),
                Some(address) => match ip_of(address) {
                    Some(ip) => peers.addresses.entry(ip).or_default().push(id),
                    None => peers
                        .skipped
                        .entry(address.to_owned())
                        .or_default()
                        .push(id),
                },
            }
        }
        peers.warn_of_the_left_out();
        Ok(peers)
    }

    /// One WARN per rendering for every peer left out, not one per peer:
    /// with a host-name address kind that is every peer, on every change.
    fn warn_of_the_left_out(&self) {
        let not_ip: usize = self.skipped.values().map(Vec::len).sum();
        let no_address = self.without_address.len();
        let example = match (self.skipped.iter().next(), self.without_address.first()) {
            (Some((address, ids)), _) => format!("{} has {address}", ids.join(", ")),
            (None, Some(id)) => format!("{id} has no address"),
            (None, None) => return,
        };
        tracing::warn!(
            not_ip,
            no_address,
            example = %example,
            "Cluster peers without an IP address are left out of the nft sets; choose an IP address kind in the policy."
        );
    }
}

/// The IP address in `address`: `ip`, `ip:port`, `[v6]:port` or `[v6]`;
/// `None` for anything else (a host name).
fn ip_of(address: &str) -> Option<IpAddr> {
    if let Ok(ip) = address.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = address.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    let bracketed = address.strip_prefix('[')?.strip_suffix(']')?;
    bracketed.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

/// `text` fit for the rest of a `#` comment line: control characters (a
/// newline would end the comment and start a statement) become `?`.
fn comment_safe(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::membership::{SelfEntry, sample};

    /// A fleet of (id, clusters, address) with self `own` as the policy
    /// decided it.
    fn fleet(own: Option<&str>, members: &[(&str, &[&str], Option<&str>)]) -> Membership {
        let mut membership = sample(&[], &[]);
        membership.members = members
            .iter()
            .map(|(id, clusters, address)| Member {
                instance_id: (*id).to_owned(),
                role: "monitor".to_owned(),
                clusters: clusters.iter().map(|&cluster| cluster.to_owned()).collect(),
                address: address.map(str::to_owned),
                port: Some(7070),
                labels: Default::default(),
                status: Default::default(),
            })
            .collect();
        membership.own = own.map(|id| {
            let entry = membership
                .members
                .iter()
                .find(|member| member.instance_id == id);
            SelfEntry {
                instance_id: id.to_owned(),
                role: entry.map(|member| member.role.clone()),
                clusters: entry
                    .map(|member| member.clusters.clone())
                    .unwrap_or_default(),
                leaving: None,
            }
        });
        membership.policy.sha256 = "0123456789abcdef".to_owned();
        membership
    }

    const DECLARATIONS: &str = "table inet rollcall {\n\
        \tset cluster_peers_v4 { type ipv4_addr; }\n\
        \tset cluster_peers_v6 { type ipv6_addr; }\n\
        }\n\
        flush set inet rollcall cluster_peers_v4\n\
        flush set inet rollcall cluster_peers_v6\n";

    #[test]
    fn ipv4_peers_fill_the_v4_set_and_self_is_left_out() {
        let membership = fleet(
            Some("i-self"),
            &[
                ("i-b", &["blue"], Some("10.0.0.2")),
                ("i-a", &["blue"], Some("10.0.0.10")),
                ("i-self", &["blue"], Some("10.0.0.1")),
                ("i-green", &["green"], Some("10.0.1.1")),
            ],
        );
        assert_eq!(
            render(&membership),
            format!(
                "# Written by rollcall: the cluster peers of i-self (clusters: blue).\n\
                 # Policy p.wasm (sha256 0123456789ab). Do not edit: rewritten on every change.\n\
                 {DECLARATIONS}\
                 add element inet rollcall cluster_peers_v4 {{\n\
                 \t10.0.0.2, # i-b\n\
                 \t10.0.0.10 # i-a\n\
                 }}\n"
            )
        );
    }

    #[test]
    fn ipv6_with_brackets_and_ports_fill_the_v6_set() {
        let membership = fleet(
            Some("i-self"),
            &[
                ("i-self", &["blue"], Some("2600:1f18::1")),
                ("i-a", &["blue"], Some("[2600:1f18::a]:7070")),
                ("i-b", &["blue"], Some("2600:1f18::b")),
                ("i-c", &["blue"], Some("[2600:1f18::c]")),
                ("i-d", &["blue"], Some("10.0.0.4:7070")),
            ],
        );
        let rendered = render(&membership);
        assert!(
            rendered.ends_with(
                "add element inet rollcall cluster_peers_v4 {\n\
                 \t10.0.0.4 # i-d\n\
                 }\n\
                 add element inet rollcall cluster_peers_v6 {\n\
                 \t2600:1f18::a, # i-a\n\
                 \t2600:1f18::b, # i-b\n\
                 \t2600:1f18::c # i-c\n\
                 }\n"
            ),
            "{rendered}"
        );
    }

    #[test]
    fn host_names_and_missing_addresses_are_comments_not_elements() {
        let membership = fleet(
            Some("i-self"),
            &[
                ("i-self", &["blue"], Some("10.0.0.1")),
                ("i-a", &["blue"], Some("ip-10-0-0-2.ec2.internal")),
                ("i-b", &["blue"], None),
            ],
        );
        let rendered = render(&membership);
        assert!(
            rendered.ends_with(&format!(
                "{DECLARATIONS}\
                 # Left out: i-a has ip-10-0-0-2.ec2.internal, not an IP address.\n\
                 # Left out: i-b has no address.\n\
                 # No other member with an IP address shares a cluster with self: both sets are empty.\n"
            )),
            "{rendered}"
        );
    }

    #[test]
    fn only_shared_clusters_count() {
        let membership = fleet(
            Some("i-self"),
            &[
                ("i-self", &["blue", "green"], Some("10.0.0.1")),
                ("i-blue", &["blue"], Some("10.0.0.2")),
                ("i-green-red", &["green", "red"], Some("10.0.0.3")),
                ("i-red", &["red"], Some("10.0.0.4")),
                ("i-none", &[], Some("10.0.0.5")),
                ("i-twin", &["blue"], Some("10.0.0.2")),
            ],
        );
        let rendered = render(&membership);
        assert!(
            rendered.starts_with(
                "# Written by rollcall: the cluster peers of i-self (clusters: blue, green).\n"
            ),
            "{rendered}"
        );
        assert!(
            rendered.ends_with(
                "add element inet rollcall cluster_peers_v4 {\n\
                 \t10.0.0.2, # i-blue, i-twin\n\
                 \t10.0.0.3 # i-green-red\n\
                 }\n"
            ),
            "{rendered}"
        );
    }

    #[test]
    fn without_a_self_both_sets_are_empty_and_the_file_says_why() {
        let membership = fleet(None, &[("i-a", &["blue"], Some("10.0.0.2"))]);
        assert_eq!(
            render(&membership),
            format!(
                "# Written by rollcall: no cluster peers, because no self was given (--self, or `self` in the config).\n\
                 # Both sets are empty: rules that admit only @cluster_peers_v4 and @cluster_peers_v6 admit nobody.\n\
                 # Policy p.wasm (sha256 0123456789ab). Do not edit: rewritten on every change.\n\
                 {DECLARATIONS}"
            )
        );
    }

    #[test]
    fn self_without_clusters_or_role_has_no_peers() {
        let no_cluster = fleet(
            Some("i-self"),
            &[
                ("i-self", &[], Some("10.0.0.1")),
                ("i-a", &[], Some("10.0.0.2")),
            ],
        );
        let rendered = render(&no_cluster);
        assert!(
            rendered.starts_with(
                "# Written by rollcall: no cluster peers, because self (i-self) is in no cluster.\n\
                 # Both sets are empty"
            ),
            "{rendered}"
        );
        assert!(rendered.ends_with(DECLARATIONS), "{rendered}");

        let outsider = fleet(Some("i-self"), &[("i-a", &["blue"], Some("10.0.0.2"))]);
        let rendered = render(&outsider);
        assert!(
            rendered.starts_with(
                "# Written by rollcall: no cluster peers, because self (i-self) is not a member of the fleet.\n"
            ),
            "{rendered}"
        );
        assert!(rendered.ends_with(DECLARATIONS), "{rendered}");
    }

    #[test]
    fn a_stale_answer_says_so() {
        let mut membership = fleet(None, &[]);
        membership.inventory.stale = true;
        assert!(render(&membership).contains("# The inventory is stale"));
    }

    #[test]
    fn comments_cannot_be_broken_out_of() {
        let membership = fleet(
            Some("i-self"),
            &[
                ("i-self", &["blue"], None),
                ("i-a\nflush ruleset", &["blue"], Some("x\ny")),
            ],
        );
        let rendered = render(&membership);
        assert!(
            rendered
                .lines()
                .all(|line| !line.starts_with("flush ruleset")),
            "{rendered}"
        );
        assert!(
            rendered.contains("# Left out: i-a?flush ruleset has x?y"),
            "{rendered}"
        );
    }

    #[test]
    fn addresses_are_read_in_every_shape_a_policy_may_give() {
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        assert_eq!(ip_of("10.0.0.1"), Some(ip("10.0.0.1")));
        assert_eq!(ip_of("10.0.0.1:7070"), Some(ip("10.0.0.1")));
        assert_eq!(ip_of("2600:1f18::1"), Some(ip("2600:1f18::1")));
        assert_eq!(ip_of("[2600:1f18::1]:7070"), Some(ip("2600:1f18::1")));
        assert_eq!(ip_of("[2600:1f18::1]"), Some(ip("2600:1f18::1")));
        for not_ip in [
            "ip-10-0-0-1.ec2.internal",
            "",
            "[10.0.0.1]",
            "10.0.0.256",
            "[::1",
        ] {
            assert_eq!(ip_of(not_ip), None, "{not_ip}");
        }
    }
}
