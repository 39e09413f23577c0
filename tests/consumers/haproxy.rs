//! haproxy: the `haproxy-backend` output, included in a minimal config,
//! passes `haproxy -c`, and a haproxy started on it holds exactly the
//! fleet's members (its runtime API's `show servers state`), whatever the
//! names and addresses in the fleet.

use super::harness::{Consumer, check, free_port, program, write};
use super::hostile::{Member, assert_means_the_members, cases};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// How long haproxy may take to open its runtime API.
const START_LIMIT: Duration = Duration::from_secs(20);

/// `global` and `defaults` with the timeouts haproxy wants, a runtime API
/// on `socket`, and a frontend on `port` using the monitors' backend.
fn main_config(socket: &Path, port: u16) -> String {
    format!(
        "global\n    stats socket {}\n\
         defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n\
         frontend rollcall\n    bind 127.0.0.1:{port}\n    default_backend rollcall_monitor\n",
        socket.display()
    )
}

#[test]
fn haproxy_backend_passes_haproxy_check_and_holds_exactly_the_members() {
    let haproxy = program("haproxy", "haproxy");
    let dir = tempfile::tempdir().unwrap();
    for case in cases(dir.path()) {
        let (output, members) = case.resolve("haproxy-backend");
        assert!(output.ends_with('\n'), "{output:?}");
        let socket = dir.path().join("admin.sock");
        let main = write(
            dir.path(),
            "haproxy.cfg",
            &main_config(&socket, free_port()),
        );
        let backends = write(dir.path(), "rollcall.cfg", &output);
        let mut checking = Command::new(&haproxy);
        checking
            .arg("-c")
            .arg("-f")
            .arg(&main)
            .arg("-f")
            .arg(&backends);
        check(
            &format!("haproxy -c on case {}:\n{output}", case.name),
            checking,
        );

        let _ = std::fs::remove_file(&socket);
        let mut running = Command::new(&haproxy);
        running
            .arg("-db")
            .arg("-f")
            .arg(&main)
            .arg("-f")
            .arg(&backends);
        let mut server = Consumer::start("haproxy", running, &dir.path().join("haproxy.log"));
        let servers = server.eventually(START_LIMIT, "haproxy's runtime API", || {
            servers_state(&socket)
        });
        drop(server);
        assert!(
            servers
                .iter()
                .all(|(_, server, checked)| *checked || server.port.is_none()),
            "a server with a port without its check (case {}): {servers:?}\n{output}",
            case.name
        );
        let read: Vec<(String, Member)> = servers
            .into_iter()
            .map(|(backend, member, _)| (backend, member))
            .collect();
        assert_means_the_members(case.name, &output, &read, &members);
    }
}

/// `show servers state` on the runtime API at `socket`: each server's
/// backend, name, address and port, and whether it is health-checked;
/// `None` while the API does not answer.
fn servers_state(socket: &Path) -> Option<Vec<(String, Member, bool)>> {
    let mut stream = UnixStream::connect(socket).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream.write_all(b"show servers state\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let mut lines = answer.lines();
    let header: Vec<&str> = lines
        .find_map(|line| line.strip_prefix("# "))?
        .split(' ')
        .collect();
    let column = |name: &str| header.iter().position(|field| *field == name);
    let [backend, name, address, port, check] = [
        "be_name",
        "srv_name",
        "srv_addr",
        "srv_port",
        "srv_check_state",
    ]
    .map(|field| column(field).expect("a column of show servers state"));
    let servers = lines
        .filter(|line| !line.is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let member = Member {
                id: fields[name].to_owned(),
                role: String::new(),
                address: fields[address].to_owned(),
                port: fields[port].parse().ok().filter(|port| *port != 0),
            };
            (fields[backend].to_owned(), member, fields[check] != "0")
        })
        .collect();
    Some(servers)
}
