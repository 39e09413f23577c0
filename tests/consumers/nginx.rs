//! nginx: the `nginx-upstream` output, included in a minimal nginx.conf,
//! passes `nginx -t`, and read with nginx's own lexical rules it holds
//! exactly the fleet's members, whatever the names and addresses in the
//! fleet.

use super::harness::{check, free_port, program, write};
use super::hostile::{Member, assert_means_the_members, cases};
use std::path::Path;
use std::process::Command;

/// A main config with every path nginx writes in `dir`, including the
/// output at `upstreams` and proxying a loopback server to the agents.
fn main_config(dir: &Path, upstreams: &Path, port: u16) -> String {
    let dir = dir.display();
    let temp_paths: String = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
        .iter()
        .map(|kind| format!("    {kind}_temp_path {dir}/{kind};\n"))
        .collect();
    format!(
        "pid {dir}/nginx.pid;\nerror_log {dir}/error.log;\nevents {{}}\n\
         http {{\n    access_log off;\n{temp_paths}    include {};\n    \
         server {{\n        listen 127.0.0.1:{port};\n        \
         location / {{ proxy_pass http://rollcall_agent; }}\n    }}\n}}\n",
        upstreams.display()
    )
}

#[test]
fn nginx_upstream_passes_nginx_test_and_holds_exactly_the_members() {
    let nginx = program("nginx", "nginx");
    let dir = tempfile::tempdir().unwrap();
    for case in cases(dir.path()) {
        let (output, members) = case.resolve("nginx-upstream");
        assert!(output.ends_with('\n'), "{output:?}");
        let upstreams = write(dir.path(), "rollcall.conf", &output);
        let main = write(
            dir.path(),
            "nginx.conf",
            &main_config(dir.path(), &upstreams, free_port()),
        );
        let mut testing = Command::new(&nginx);
        testing
            .arg("-t")
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(&main);
        check(
            &format!("nginx -t on case {}:\n{output}", case.name),
            testing,
        );
        let read = upstream_servers(&output);
        assert_means_the_members(case.name, &output, &read, &members);
    }
}

/// nginx's tokens: words separated by whitespace, `;`, `{` and `}` (each
/// a token of its own), `#` to the end of the line a comment where a token
/// starts, `"` and `'` quoting with backslash escapes (ngx_conf_read_token).
fn tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&next) = chars.peek() {
        match next {
            ch if ch.is_whitespace() => {
                chars.next();
            }
            ';' | '{' | '}' => tokens.push(chars.next().unwrap().to_string()),
            '#' => while chars.next().is_some_and(|ch| ch != '\n') {},
            '"' | '\'' => {
                let quote = chars.next().unwrap();
                let mut word = String::new();
                while let Some(ch) = chars.next() {
                    match ch {
                        '\\' => word.extend(chars.next()),
                        ch if ch == quote => break,
                        ch => word.push(ch),
                    }
                }
                tokens.push(word);
            }
            _ => {
                let mut word = String::new();
                while let Some(&ch) = chars.peek() {
                    if ch.is_whitespace() || ";{}".contains(ch) {
                        break;
                    }
                    word.push(ch);
                    chars.next();
                }
                tokens.push(word);
            }
        }
    }
    tokens
}

/// Each `server` of each `upstream NAME { ... }` block: the upstream's
/// name and the server's address and port. Fails the test on anything
/// else at the top level or in a block.
fn upstream_servers(output: &str) -> Vec<(String, Member)> {
    let tokens = tokens(output);
    let mut servers = Vec::new();
    let mut rest = tokens.as_slice();
    while let [upstream, name, open, after @ ..] = rest {
        assert!(
            upstream == "upstream" && open == "{",
            "not an upstream block at {rest:?}:\n{output}"
        );
        rest = after;
        loop {
            match rest {
                [close, after @ ..] if close == "}" => {
                    rest = after;
                    break;
                }
                [server, endpoint, end, after @ ..] if server == "server" && end == ";" => {
                    servers.push((name.clone(), Member::at("", "", endpoint)));
                    rest = after;
                }
                _ => panic!("not `server ENDPOINT;` at {rest:?}:\n{output}"),
            }
        }
    }
    assert!(rest.is_empty(), "left over: {rest:?}:\n{output}");
    servers
}
