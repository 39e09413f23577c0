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
