//! RabbitMQ: a node started on a rabbitmq.conf holding the
//! `rabbitmq-classic-config` output reads exactly self and its targets as
//! the cluster's nodes.

use super::harness::resolve;
use super::harness::{CHECK_LIMIT, Consumer, Instance, free_port, program, write, write_fleet};
use kit::plugins::ELASTIC_GRID;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Self and the other monitors; only self runs (the peers need not, for
/// the node to say whom it would cluster with).
const SELF: (&str, &str) = ("i-0000000000000b081", "127.0.0.81");
const PEERS: [(&str, &str); 2] = [
    ("i-0000000000000b082", "127.0.0.82"),
    ("i-0000000000000b083", "127.0.0.83"),
];
/// How long a RabbitMQ node may take to boot.
const BOOT_LIMIT: Duration = Duration::from_secs(120);

/// RabbitMQ's own script `name` (Debian's /usr/sbin ones switch to the
/// rabbitmq user and its directories).
fn rabbitmq_script(name: &str) -> PathBuf {
    program(name, "rabbitmq-server");
    let path = PathBuf::from("/usr/lib/rabbitmq/bin").join(name);
    assert!(
        path.is_file(),
        "{} is missing (Debian's rabbitmq-server)",
        path.display()
    );
    path
}

#[test]
fn a_rabbitmq_node_reads_exactly_the_nodes_of_rabbitmq_classic_config() {
    let server = rabbitmq_script("rabbitmq-server");
    let rabbitmqctl = rabbitmq_script("rabbitmqctl");
    let dir = tempfile::tempdir().unwrap();
    let fleet = dir.path().join("fleet.json");
    let instances: Vec<Instance> = [SELF]
        .iter()
        .chain(&PEERS)
        .map(|&(id, address)| Instance::monitor(id, address))
        .collect();
    write_fleet(&fleet, &instances);
    let output = resolve(
        &fleet,
        ELASTIC_GRID,
        "{}",
        SELF.0,
        "rabbitmq-classic-config",
    );
    assert!(output.ends_with('\n'), "{output:?}");
    let (_, address) = SELF;
    let node = format!("rabbit@{address}");
    let config = write(
        dir.path(),
        "rabbitmq.conf",
        &format!("{output}listeners.tcp.1 = {address}:{}\n", free_port()),
    );

    // An epmd of the test's own, on loopback only, stopped with the test.
    let epmd_port = free_port().to_string();
    let mut epmd = Command::new(program("epmd", "erlang-base"));
    epmd.args([
        "-port",
        &epmd_port,
        "-address",
        &format!("127.0.0.1,{address}"),
    ]);
    let mut epmd = Consumer::start("epmd", epmd, &dir.path().join("epmd.log"));

    let environment = |command: &mut Command| {
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("ERL_EPMD_PORT", &epmd_port)
            .env("RABBITMQ_USE_LONGNAME", "true")
            .env("RABBITMQ_NODENAME", &node);
    };
    let mut command = Command::new(&server);
    environment(&mut command);
    let octets = address.replace('.', ",");
    command
        .env("RABBITMQ_CONFIG_FILE", &config)
        .env("RABBITMQ_MNESIA_BASE", dir.path().join("mnesia"))
        .env("RABBITMQ_LOG_BASE", dir.path().join("log"))
        .env(
            "RABBITMQ_ENABLED_PLUGINS_FILE",
            dir.path().join("enabled_plugins"),
        )
        .env("RABBITMQ_DIST_PORT", free_port().to_string())
        .env(
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
            format!("-kernel inet_dist_use_interface {{{octets}}}"),
        );
    let mut rabbit = Consumer::start("rabbitmq-server", command, &dir.path().join("rabbit.log"));
    epmd.assert_running();

    let nodes = rabbit.eventually(BOOT_LIMIT, "the RabbitMQ node to boot", || {
        let mut eval = Command::new(&rabbitmqctl);
        environment(&mut eval);
        eval.args(["-n", &node, "--longnames", "eval"])
            .arg("application:get_env(rabbit, cluster_nodes).");
        let run = kit::run_within(CHECK_LIMIT, eval);
        (run.code == 0).then_some(run.stdout)
    });
    let mut expected: Vec<String> = [SELF]
        .iter()
        .chain(&PEERS)
        .map(|(_, address)| format!("'rabbit@{address}'"))
        .collect();
    expected.sort();
    // Erlang's printer wraps long terms: whitespace means nothing there.
    let nodes: String = nodes.split_whitespace().collect();
    let listed = nodes
        .strip_prefix("{ok,{[")
        .and_then(|rest| rest.strip_suffix("],disc}}"))
        .unwrap_or_else(|| panic!("not {{ok,{{[NODES],disc}}}}: {nodes}\nfrom:\n{output}"));
    let mut listed: Vec<&str> = listed.split(',').collect();
    listed.sort();
    assert_eq!(listed, expected, "from:\n{output}");
}
