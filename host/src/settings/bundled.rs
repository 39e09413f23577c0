//! The consumer formats rollcall ships, by name: what `--format NAME`, a
//! file sink's `format = "NAME"` and `rollcall formats` know. Each one is a
//! template embedded in the binary (`crate::output`'s `formats/NAME.j2`).

/// A bundled format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bundled {
    /// Elasticsearch's `unicast_hosts.txt`.
    ElasticsearchSeedHosts,
    /// Consul's `retry_join`, as a JSON fragment.
    ConsulRetryJoin,
    /// etcd's `--initial-cluster`.
    EtcdInitialCluster,
    /// RabbitMQ's classic config peer discovery.
    RabbitmqClassicConfig,
    /// Cassandra's `seed_provider`.
    CassandraSeeds,
    /// HAProxy backends, one per role.
    HaproxyBackend,
    /// nginx upstreams, one per role.
    NginxUpstream,
    /// Prometheus `file_sd` (and `http_sd`) JSON.
    PrometheusFileSd,
}

impl Bundled {
    /// Every bundled format, in the order `rollcall formats` lists them.
    pub const ALL: [Bundled; 8] = [
        Bundled::ElasticsearchSeedHosts,
        Bundled::ConsulRetryJoin,
        Bundled::EtcdInitialCluster,
        Bundled::RabbitmqClassicConfig,
        Bundled::CassandraSeeds,
        Bundled::HaproxyBackend,
        Bundled::NginxUpstream,
        Bundled::PrometheusFileSd,
    ];

    /// The name `--format` and `format =` take.
    pub fn name(self) -> &'static str {
        match self {
            Bundled::ElasticsearchSeedHosts => "elasticsearch-seed-hosts",
            Bundled::ConsulRetryJoin => "consul-retry-join",
            Bundled::EtcdInitialCluster => "etcd-initial-cluster",
            Bundled::RabbitmqClassicConfig => "rabbitmq-classic-config",
            Bundled::CassandraSeeds => "cassandra-seeds",
            Bundled::HaproxyBackend => "haproxy-backend",
            Bundled::NginxUpstream => "nginx-upstream",
            Bundled::PrometheusFileSd => "prometheus-file-sd",
        }
    }

    /// What it holds, in one line.
    pub fn summary(self) -> &'static str {
        match self {
            Bundled::ElasticsearchSeedHosts => {
                "one endpoint a line: the members self registers with"
            }
            Bundled::ConsulRetryJoin => {
                "a JSON config fragment, retry_join: the members self registers with"
            }
            Bundled::EtcdInitialCluster => {
                "NAME=http://ADDR:PORT,... over self and its targets (--name must be the instance id; port 2380 unless the policy gives one)"
            }
            Bundled::RabbitmqClassicConfig => {
                "classic_config peer discovery: rabbit@ADDR for self and its targets (needs RABBITMQ_USE_LONGNAME=true)"
            }
            Bundled::CassandraSeeds => {
                "the seed_provider block (SimpleSeedProvider) with self and its targets as seeds"
            }
            Bundled::HaproxyBackend => {
                "a backend rollcall_ROLE per role, one server line per member with an address"
            }
            Bundled::NginxUpstream => {
                "an upstream rollcall_ROLE block per role, one server line per member with an address"
            }
            Bundled::PrometheusFileSd => {
                "file_sd/http_sd JSON: a target group per member, with __meta_rollcall_* labels"
            }
        }
    }

    /// The consumer's file or setting it feeds.
    pub fn feeds(self) -> &'static str {
        match self {
            Bundled::ElasticsearchSeedHosts => {
                "Elasticsearch config/unicast_hosts.txt (discovery.seed_providers: file)"
            }
            Bundled::ConsulRetryJoin => "a Consul agent -config-dir file (rollcall.json)",
            Bundled::EtcdInitialCluster => "etcd --initial-cluster (ETCD_INITIAL_CLUSTER)",
            Bundled::RabbitmqClassicConfig => "a rabbitmq.conf fragment (conf.d/rollcall.conf)",
            Bundled::CassandraSeeds => "cassandra.yaml's seed_provider",
            Bundled::HaproxyBackend => "a file haproxy -f reads beside haproxy.cfg",
            Bundled::NginxUpstream => "a file an nginx http {} block includes",
            Bundled::PrometheusFileSd => {
                "a Prometheus file_sd_configs file (also GET /v1/prometheus-sd)"
            }
        }
    }

    /// The bundled format called `name`.
    pub fn named(name: &str) -> Option<Bundled> {
        Bundled::ALL
            .into_iter()
            .find(|format| format.name() == name)
    }
}
