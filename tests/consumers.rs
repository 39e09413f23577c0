//! The bundled formats read by their real consumers, started by the tests
//! on loopback: etcd forms a cluster from `etcd-initial-cluster`, haproxy
//! and nginx accept `haproxy-backend` and `nginx-upstream` and hold exactly
//! the fleet, a RabbitMQ node reads its cluster's nodes from
//! `rabbitmq-classic-config`, Prometheus discovers the fleet through
//! `prometheus-file-sd` and through a daemon's `GET /v1/prometheus-sd`.
//! Fleets with hostile ids, addresses and roles check that a format never
//! hands a consumer something it refuses or reads as something else. The
//! consumers are Debian's packages, which `scripts/test` installs; a
//! missing one fails its test. Elasticsearch, Consul and Cassandra are in
//! no Debian repository (nor as a server in PyPI or npm): their formats are
//! held by golden files only.

#[path = "consumers/harness.rs"]
mod harness;
#[path = "consumers/hostile.rs"]
mod hostile;

#[path = "consumers/etcd.rs"]
mod etcd;
#[path = "consumers/haproxy.rs"]
mod haproxy;
#[path = "consumers/nginx.rs"]
mod nginx;
#[path = "consumers/prometheus.rs"]
mod prometheus;
#[path = "consumers/rabbitmq.rs"]
mod rabbitmq;
