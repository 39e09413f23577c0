//! The bundled formats' templates, embedded in the binary: one file each
//! under `formats/`, named as the format is.

use crate::settings::Bundled;

/// The template of `format`.
pub fn template(format: Bundled) -> &'static str {
    match format {
        Bundled::ElasticsearchSeedHosts => include_str!("formats/elasticsearch-seed-hosts.j2"),
        Bundled::ConsulRetryJoin => include_str!("formats/consul-retry-join.j2"),
        Bundled::EtcdInitialCluster => include_str!("formats/etcd-initial-cluster.j2"),
        Bundled::RabbitmqClassicConfig => include_str!("formats/rabbitmq-classic-config.j2"),
        Bundled::CassandraSeeds => include_str!("formats/cassandra-seeds.j2"),
        Bundled::HaproxyBackend => include_str!("formats/haproxy-backend.j2"),
        Bundled::NginxUpstream => include_str!("formats/nginx-upstream.j2"),
        Bundled::PrometheusFileSd => include_str!("formats/prometheus-file-sd.j2"),
    }
}

#[cfg(test)]
mod tests {
    //! Hostile values (quotes, newlines, braces, `{{`, `%`, `;`, `#`,
    //! spaces, non-ASCII) in every place an answer can carry them never
    //! change a bundled format's structure: a member whose id or address
    //! cannot be written as it is is left out, a role that cannot stand
    //! in an identifier too, and JSON escapes the rest.

    use super::super::Renderer;
    use crate::membership::{Membership, SelfEntry, Target, sample};
    use crate::policy::{Labels, Member};
    use crate::settings::{Bundled, Format};

    /// Text that breaks every format it is pasted into raw.
    const NASTY: &str = "a\"b'c\n{{ self }}{% if x %}%;#} ü✓ {";

    /// A fleet seen from `i-self`, which registers with every other
    /// member: two plain ones (`i-plain4`, IPv4 with a port; `i-plain6`,
    /// IPv6 without), and one hostile in each way an answer can be: in
    /// its id or address (left out of every format), in its role (left
    /// out where the role is written, HAProxy's and nginx's names), in its
    /// clusters and labels (written only in JSON).
    fn hostile() -> Membership {
        let member = |id: &str, role: &str, address: &str, port: Option<u16>| Member {
            instance_id: id.to_owned(),
            role: role.to_owned(),
            clusters: vec![
                "blue team".to_owned(),
                "{{ self }}".to_owned(),
                NASTY.replace('\n', " "),
            ],
            address: Some(address.to_owned()),
            port,
            labels: Labels::from([
                ("team".to_owned(), NASTY.to_owned()),
                ("bad name!{{".to_owned(), "ü ✓ {% x %}".to_owned()),
            ]),
            status: Default::default(),
        };
        let mut members = vec![
            member("i-plain4", "monitor", "10.0.0.1", Some(9300)),
            member("i-plain6", "monitor", "2600:1f18::2", None),
            member("i-self", "agent", "10.0.0.9", Some(9301)),
            member("i-quote\"d", "monitor", "10.0.0.3", Some(1)),
            member("i-brace{{x}}", "monitor", "10.0.0.4", Some(1)),
            member("i-hash#;", "monitor", "10.0.0.5", Some(1)),
            member("i-üml", "monitor", "10.0.0.6", Some(1)),
            member("i-address1", "monitor", "evil\"host{{x}};#", Some(1)),
            member("i-address2", "monitor", "ホスト.example", Some(1)),
            member("i-address3", "monitor", "host%25x", None),
            member("i-role1", "role with spaces", "10.0.1.1", Some(1)),
            member("i-role2", "{{ self }}", "10.0.1.2", Some(1)),
            member("i-role3", "a;b#c", "10.0.1.3", Some(1)),
            member("i-role4", "mönitor", "10.0.1.4", Some(1)),
        ];
        members.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
        let mut membership = sample(&[], &[]);
        membership.own = Some(SelfEntry {
            instance_id: "i-self".to_owned(),
            role: Some("agent".to_owned()),
            clusters: vec!["blue team".to_owned()],
            leaving: None,
        });
        membership.register_with = members
            .iter()
            .filter(|member| member.instance_id != "i-self")
            .map(|member| Target {
                instance_id: member.instance_id.clone(),
                role: member.role.clone(),
                address: member.address.clone().unwrap_or_default(),
                port: member.port,
            })
            .collect();
        membership.members = members;
        membership
    }

    fn render(format: Bundled, membership: &Membership) -> String {
        Renderer::new(&Format::Bundled(format))
            .unwrap_or_else(|err| panic!("{}: {err}", format.name()))
            .render(membership)
            .unwrap_or_else(|err| panic!("{}: {err}", format.name()))
    }

    /// The lines that are not comments or blank.
    fn entries(text: &str) -> Vec<&str> {
        text.lines()
            .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
            .collect()
    }

    #[test]
    fn every_bundled_format_ends_in_a_newline_and_renders_an_empty_answer() {
        for format in Bundled::ALL {
            let text = render(format, &hostile());
            assert!(text.ends_with('\n'), "{}: {text:?}", format.name());
            let empty = render(format, &sample(&[], &[]));
            assert!(empty.ends_with('\n'), "{}: {empty:?}", format.name());
        }
        assert_eq!(
            render(Bundled::ConsulRetryJoin, &sample(&[], &[])),
            "{\"retry_join\": []}\n"
        );
        assert_eq!(
            render(Bundled::PrometheusFileSd, &sample(&[], &[])),
            "[\n]\n"
        );
        assert_eq!(render(Bundled::EtcdInitialCluster, &sample(&[], &[])), "\n");
    }

    #[test]
    fn elasticsearch_seed_hosts_lists_only_the_usable_targets_one_a_line() {
        let text = render(Bundled::ElasticsearchSeedHosts, &hostile());
        assert_eq!(
            entries(&text),
            [
                "10.0.0.1:9300",
                "[2600:1f18::2]",
                "10.0.1.1:1",
                "10.0.1.2:1",
                "10.0.1.3:1",
                "10.0.1.4:1"
            ],
            "{text}"
        );
    }

    #[test]
    fn consul_retry_join_is_json_holding_the_usable_targets() {
        let text = render(Bundled::ConsulRetryJoin, &hostile());
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({"retry_join": [
                "10.0.0.1:9300", "[2600:1f18::2]", "10.0.1.1:1", "10.0.1.2:1", "10.0.1.3:1", "10.0.1.4:1"
            ]})
        );
    }

    #[test]
    fn etcd_initial_cluster_is_one_line_of_plain_names_and_peer_urls() {
        let text = render(Bundled::EtcdInitialCluster, &hostile());
        assert_eq!(
            text,
            "i-plain4=http://10.0.0.1:9300,i-plain6=http://[2600:1f18::2]:2380,\
             i-role1=http://10.0.1.1:1,i-role2=http://10.0.1.2:1,i-role3=http://10.0.1.3:1,\
             i-role4=http://10.0.1.4:1,i-self=http://10.0.0.9:9301\n"
        );
    }

    #[test]
    fn rabbitmq_nodes_are_numbered_lines_of_usable_peers() {
        let text = render(Bundled::RabbitmqClassicConfig, &hostile());
        assert_eq!(
            entries(&text),
            [
                "cluster_formation.peer_discovery_backend = classic_config",
                "cluster_formation.classic_config.nodes.1 = rabbit@10.0.0.1",
                "cluster_formation.classic_config.nodes.2 = rabbit@2600:1f18::2",
                "cluster_formation.classic_config.nodes.3 = rabbit@10.0.1.1",
                "cluster_formation.classic_config.nodes.4 = rabbit@10.0.1.2",
                "cluster_formation.classic_config.nodes.5 = rabbit@10.0.1.3",
                "cluster_formation.classic_config.nodes.6 = rabbit@10.0.1.4",
                "cluster_formation.classic_config.nodes.7 = rabbit@10.0.0.9",
            ]
        );
    }

    #[test]
    fn cassandra_seeds_keep_their_block_and_quote_only_usable_endpoints() {
        let text = render(Bundled::CassandraSeeds, &hostile());
        assert_eq!(
            entries(&text),
            [
                "seed_provider:",
                "  - class_name: org.apache.cassandra.locator.SimpleSeedProvider",
                "    parameters:",
                "      - seeds: \"10.0.0.1:9300,2600:1f18::2,10.0.1.1:1,10.0.1.2:1,10.0.1.3:1,10.0.1.4:1,10.0.0.9:9301\"",
            ]
        );
    }

    #[test]
    fn haproxy_backends_are_plain_roles_with_one_server_line_per_usable_member() {
        let text = render(Bundled::HaproxyBackend, &hostile());
        assert_eq!(
            entries(&text),
            [
                "backend rollcall_agent",
                "    server i-self 10.0.0.9:9301 check",
                "backend rollcall_monitor",
                "    server i-plain4 10.0.0.1:9300 check",
                "    server i-plain6 [2600:1f18::2]",
            ],
            "{text}"
        );
    }

    #[test]
    fn nginx_upstreams_are_plain_roles_with_one_server_line_per_usable_member() {
        let text = render(Bundled::NginxUpstream, &hostile());
        assert_eq!(
            entries(&text),
            [
                "upstream rollcall_agent {",
                "    server 10.0.0.9:9301;",
                "}",
                "upstream rollcall_monitor {",
                "    server 10.0.0.1:9300;",
                "    server [2600:1f18::2];",
                "}",
            ],
            "{text}"
        );
    }

    #[test]
    fn prometheus_targets_are_json_with_valid_label_names_and_values_intact() {
        let text = render(Bundled::PrometheusFileSd, &hostile());
        let groups: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        let targets: Vec<&str> = groups
            .iter()
            .map(|group| group["targets"][0].as_str().unwrap())
            .collect();
        assert_eq!(
            targets,
            [
                "10.0.0.1:9300",
                "[2600:1f18::2]",
                "10.0.1.1:1",
                "10.0.1.2:1",
                "10.0.1.3:1",
                "10.0.1.4:1",
                "10.0.0.9:9301"
            ]
        );
        for group in &groups {
            assert_eq!(group["targets"].as_array().unwrap().len(), 1);
            let labels = group["labels"].as_object().unwrap();
            for name in labels.keys() {
                assert!(
                    name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        && !name.starts_with(|c: char| c.is_ascii_digit()),
                    "{name}"
                );
            }
            assert_eq!(labels["__meta_rollcall_label_team"], NASTY);
            assert_eq!(labels["__meta_rollcall_label_bad_name___"], "ü ✓ {% x %}");
            assert_eq!(
                labels["__meta_rollcall_clusters"],
                format!(",blue team,{{{{ self }}}},{},", NASTY.replace('\n', " "))
            );
        }
    }

    #[test]
    fn template_text_in_a_value_is_never_evaluated() {
        let membership = hostile();
        let text = render(Bundled::PrometheusFileSd, &membership);
        assert!(text.contains("{{ self }}"), "{text}");
        let template = crate::settings::TemplateFile {
            path: "values.j2".into(),
            text:
                "{% for m in members %}{{ m.labels.team|default(\"\") }}|{{ m.role }}\n{% endfor %}"
                    .into(),
        };
        let own = Renderer::new(&Format::Template(template))
            .unwrap_or_else(|err| panic!("{err}"))
            .render(&membership)
            .unwrap();
        let first = own.split('|').next().unwrap();
        assert_eq!(first, NASTY, "a value is written as it is, not run");
        assert!(own.contains("|{{ self }}\n"), "{own}");
    }
}
