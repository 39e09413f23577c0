//! End to end: inventory sources that fail in the middle. A loopback fake
//! EC2 serves a 15-instance fleet in three DescribeInstances pages and breaks
//! them on purpose (pages cut short, a repeated `NextToken`, an instance on
//! two pages, unusable ids, answers that are no page at all, bodies past the
//! size limit); inventory files break the same rules. Each time, the real
//! binary must refuse the fleet as a whole (`resolve` exit 4 for EC2, 2 for
//! a file), and `watch` must keep its last good answer, marked stale.

use kit::CREDENTIALS;
use kit::daemon::Daemon;
use kit::eventually;
use kit::plugins::ELASTIC_GRID;
use kit::servers::{Filler, Reply, Request, Stub};
use kit::{RUN_LIMIT, Run, ids, rollcall_command, rollcall_in, run_within};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const REGION: &str = "us-west-2";
const WAIT: Duration = Duration::from_secs(20);
/// Instances in the fake fleet, and per page.
const FLEET: usize = 15;
const PAGE: usize = 5;

/// The id of the `n`th instance (1-based) of the fake fleet.
fn instance_id(n: usize) -> String {
    format!("i-{n:017x}")
}

/// One instance as EC2's XML has it: instance 1 is a monitor, the rest are
/// agents, all running.
fn instance_xml(id: &str, n: usize, state: &str) -> String {
    let group = if n == 1 { "eg-monitor" } else { "eg-cybernode" };
    format!(
        "<item><instanceId>{id}</instanceId><imageId>ami-12c6146b</imageId>\
         <instanceState><code>16</code><name>{state}</name></instanceState>\
         <privateDnsName>ip-10-0-0-{n}.us-west-2.compute.internal</privateDnsName><dnsName/>\
         <instanceType>t3.micro</instanceType>\
         <placement><availabilityZone>us-west-2a</availabilityZone></placement>\
         <privateIpAddress>10.0.0.{n}</privateIpAddress>\
         <groupSet><item><groupId>sg-{n:017x}</groupId><groupName>{group}</groupName></item></groupSet>\
         <tagSet><item><key>Name</key><value>node &amp; caf\u{e9} {n}</value></item></tagSet></item>"
    )
}

/// One DescribeInstancesResponse holding `instances` (XML items).
fn page_xml(instances: &[String], next_token: Option<&str>) -> String {
    let next = next_token
        .map(|token| format!("<nextToken>{token}</nextToken>"))
        .unwrap_or_default();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
         <requestId>00000000-0000-4000-8000-000000000000</requestId><reservationSet>\
         <item><reservationId>r-1</reservationId><ownerId>123456789012</ownerId><groupSet/>\
         <instancesSet>{}</instancesSet></item></reservationSet>{next}\
         </DescribeInstancesResponse>",
        instances.concat()
    )
}

/// The fake fleet's three pages, chained by the tokens `page-2`, `page-3`.
fn fleet_pages() -> Vec<String> {
    let instances: Vec<String> = (1..=FLEET)
        .map(|n| instance_xml(&instance_id(n), n, "running"))
        .collect();
    let chunks: Vec<&[String]> = instances.chunks(PAGE).collect();
    chunks
        .iter()
        .enumerate()
        .map(|(index, chunk)| {
            let next = (index + 1 < chunks.len()).then(|| format!("page-{}", index + 2));
            page_xml(chunk, next.as_deref())
        })
        .collect()
}

/// Which page (0-based) a DescribeInstances request asks for.
fn page_asked(request: &Request) -> usize {
    request
        .form_field("NextToken")
        .and_then(|token| token.strip_prefix("page-"))
        .and_then(|number| number.parse::<usize>().ok())
        .map_or(0, |number| number - 1)
}

/// A fake EC2 serving `pages` by their tokens.
fn serve_pages(pages: Vec<String>) -> Stub {
    Stub::start(move |request| Reply::ok(&pages[page_asked(request).min(pages.len() - 1)]))
}

/// `rollcall ARGS --endpoint-url ENDPOINT --region us-west-2` with test
/// credentials.
fn against(endpoint: &str, args: &[&str]) -> Run {
    let mut full: Vec<&str> = args.to_vec();
    full.extend(["--endpoint-url", endpoint, "--region", REGION]);
    rollcall_in(full, &CREDENTIALS)
}

/// `rollcall resolve --self none` against `endpoint`, one attempt a call.
fn resolve_against(endpoint: &str) -> Run {
    let plugin = Path::new(ELASTIC_GRID);
    against(
        endpoint,
        &[
            "resolve",
            "--plugin",
            plugin.to_str().unwrap(),
            "--self",
            "none",
            "--max-attempts",
            "1",
        ],
    )
}

/// `count` cut points spread evenly over the whole answer (every page), as
/// (page, bytes of it sent); none at a page boundary.
fn cut_points(pages: &[String], count: usize) -> Vec<(usize, usize)> {
    let total: usize = pages.iter().map(String::len).sum();
    (1..=count)
        .map(|k| {
            let mut offset = total * k / (count + 1);
            let mut page = 0;
            while offset >= pages[page].len() {
                offset -= pages[page].len();
                page += 1;
            }
            (page, offset.max(1))
        })
        .collect()
}

/// The fleet's pages with page `page` cut after `bytes` bytes (sent with a
/// correct `Content-Length`: a complete HTTP message).
fn cut(pages: &[String], (page, bytes): (usize, usize)) -> Vec<String> {
    let mut pages = pages.to_vec();
    let cut = pages[page].as_bytes()[..bytes].to_vec();
    // The fleet's text is ASCII but for `é`: a cut inside it stays a cut.
    pages[page] = String::from_utf8(cut).unwrap_or_else(|err| {
        String::from_utf8_lossy(&err.as_bytes()[..err.utf8_error().valid_up_to()]).into_owned()
    });
    pages
}

#[test]
fn the_whole_fake_fleet_resolves() {
    let ec2 = serve_pages(fleet_pages());
    let document = resolve_against(&ec2.endpoint).json();
    assert_eq!(document["inventory"]["instances"], FLEET);
    assert_eq!(ids(&document, "members").len(), FLEET);
    assert_eq!(ec2.requests(), 3, "three pages");
}

#[test]
fn a_page_cut_short_fails_resolve_at_every_cut_point() {
    let pages = fleet_pages();
    for point in cut_points(&pages, 40) {
        let ec2 = serve_pages(cut(&pages, point));
        let run = resolve_against(&ec2.endpoint);
        assert_eq!(
            run.code, 4,
            "cut at {point:?}: {}{}",
            run.stdout, run.stderr
        );
        assert!(
            run.stderr.contains("the page is incomplete")
                && run
                    .stderr
                    .contains(&format!("DescribeInstances in {REGION}")),
            "cut at {point:?}: {}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "no membership from a partial fleet");
    }
}

#[test]
fn a_page_cut_short_once_is_retried_and_the_whole_fleet_taken() {
    let pages = fleet_pages();
    for cut_page in 0..pages.len() {
        let point = (cut_page, pages[cut_page].len() / 2);
        let cut_pages = cut(&pages, point);
        // How often each page was asked for: the first answer to `cut_page`
        // is cut, every later one whole.
        let asked: Arc<Vec<AtomicUsize>> =
            Arc::new(pages.iter().map(|_| AtomicUsize::new(0)).collect());
        let ec2 = {
            let (asked, pages) = (Arc::clone(&asked), pages.clone());
            Stub::start(move |request| {
                let page = page_asked(request).min(pages.len() - 1);
                let before = asked[page].fetch_add(1, Ordering::SeqCst);
                if page == cut_page && before == 0 {
                    Reply::ok(&cut_pages[page])
                } else {
                    Reply::ok(&pages[page])
                }
            })
        };
        let plugin = Path::new(ELASTIC_GRID);
        let run = against(
            &ec2.endpoint,
            &[
                "resolve",
                "--plugin",
                plugin.to_str().unwrap(),
                "--self",
                "none",
                "--max-attempts",
                "2",
            ],
        );
        assert_eq!(
            run.code, 0,
            "cut at {point:?}: {}{}",
            run.stdout, run.stderr
        );
        let document = run.json();
        assert_eq!(
            document["inventory"]["instances"], FLEET,
            "cut at {point:?}"
        );
        assert_eq!(
            ids(&document, "members"),
            (1..=FLEET).map(instance_id).collect::<Vec<_>>(),
            "cut at {point:?}: the whole fleet"
        );
        let asked: Vec<usize> = asked.iter().map(|n| n.load(Ordering::SeqCst)).collect();
        let mut expected = vec![1; pages.len()];
        expected[cut_page] = 2;
        assert_eq!(
            asked, expected,
            "cut at {point:?}: the cut page twice, the others once"
        );
        assert_eq!(ec2.requests(), pages.len() + 1, "cut at {point:?}");
    }
}

#[test]
fn a_repeated_page_token_is_an_error_not_the_end() {
    let pages = fleet_pages();
    // Every page but the last points at page 2, again and again.
    let ec2 = Stub::start(move |request| {
        let page = page_asked(request).min(1);
        Reply::ok(&pages[page].replace("page-3", "page-2"))
    });
    resolve_against(&ec2.endpoint).fails_with(
        4,
        &[
            "EC2 returned the same page token twice in us-west-2",
            &ec2.endpoint,
        ],
    );
    assert_eq!(ec2.requests(), 2, "stopped at the repeat");
}

#[test]
fn page_tokens_that_never_repeat_end_at_the_fetch_timeout() {
    let page = fleet_pages().remove(0);
    let ec2 = Stub::start(move |request| {
        let next = request.form_field("NextToken").map_or(1, |token| {
            token
                .trim_start_matches("page-")
                .parse::<u64>()
                .unwrap_or(0)
                + 1
        });
        Reply::ok(&page.replace("page-2", &format!("page-{next}")))
    });
    let started = Instant::now();
    let plugin = Path::new(ELASTIC_GRID);
    let run = against(
        &ec2.endpoint,
        &[
            "resolve",
            "--plugin",
            plugin.to_str().unwrap(),
            "--self",
            "none",
            "--fetch-timeout",
            "2s",
        ],
    );
    run.fails_with(4, &["took longer than 2s (--fetch-timeout)"]);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(ec2.requests() > 3, "it kept following new tokens");
}

#[test]
fn the_same_instance_on_two_pages_is_refused_by_both_sources() {
    // Instance 5 is running on page 1 and, the fleet having changed in
    // between, terminated on page 2.
    let mut pages = fleet_pages();
    let twice = instance_id(5);
    pages[1] = pages[1].replacen(
        "<instancesSet>",
        &format!("<instancesSet>{}", instance_xml(&twice, 5, "terminated")),
        1,
    );
    let ec2 = serve_pages(pages);
    resolve_against(&ec2.endpoint).fails_with(
        4,
        &[
            "DescribeInstances listed the same instance twice (in us-west-2 and us-west-2)",
            &format!("instance {twice:?} appears more than once"),
            "the fleet changed or was listed again while it was read",
        ],
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fleet.json");
    let mut document: Value =
        serde_json::from_str(&std::fs::read_to_string(kit::seed_fleet()).unwrap()).unwrap();
    let again = document["Reservations"][0].clone();
    let again_id = again["Instances"][0]["InstanceId"]
        .as_str()
        .unwrap()
        .to_owned();
    document["Reservations"].as_array_mut().unwrap().push(again);
    std::fs::write(&file, document.to_string()).unwrap();
    kit::resolve(&file, Path::new(ELASTIC_GRID), &["--self", "none"]).fails_with(
        2,
        &[&format!(
            "{}: instance {again_id:?} appears more than once",
            file.display()
        )],
    );
}

#[test]
fn unusable_instance_ids_are_refused_by_both_sources() {
    let dir = tempfile::tempdir().unwrap();
    let seed = std::fs::read_to_string(kit::seed_fleet()).unwrap();
    let document: Value = serde_json::from_str(&seed).unwrap();
    let first = document["Reservations"][0]["Instances"][0]["InstanceId"]
        .as_str()
        .unwrap()
        .to_owned();
    // (id as XML text, id as JSON text, how the message shows it)
    let cases = [
        ("", "", "has an empty instance id"),
        (
            "i-1 2",
            "i-1 2",
            r#"instance id "i-1 2" contains whitespace"#,
        ),
        (
            "i-1&#x9;",
            "i-1\\t",
            r#"instance id "i-1\t" contains a control character"#,
        ),
        (
            "i-&#x1b;[31m",
            "i-\\u001b[31m",
            r#"instance id "i-\u{1b}[31m" contains a control character"#,
        ),
    ];
    for (xml, json, shown) in cases {
        let mut pages = fleet_pages();
        pages[2] = pages[2].replace(
            &format!("<instanceId>{}</instanceId>", instance_id(FLEET)),
            &format!("<instanceId>{xml}</instanceId>"),
        );
        let ec2 = serve_pages(pages);
        resolve_against(&ec2.endpoint).fails_with(
            4,
            &[
                "DescribeInstances in us-west-2 returned an unusable instance id",
                shown,
            ],
        );

        let file = dir.path().join("fleet.json");
        std::fs::write(&file, seed.replace(&first, json)).unwrap();
        kit::resolve(&file, Path::new(ELASTIC_GRID), &["--self", "none"])
            .fails_with(2, &[&format!("{}: ", file.display()), shown]);
    }

    // An instance EC2 lists without an id at all is refused, not skipped.
    let mut pages = fleet_pages();
    pages[0] = pages[0].replace(&format!("<instanceId>{}</instanceId>", instance_id(3)), "");
    let ec2 = serve_pages(pages);
    resolve_against(&ec2.endpoint).fails_with(
        4,
        &["instance #3 (in listing order) has an empty instance id"],
    );
}

#[test]
fn what_came_back_is_named_when_it_is_not_a_page() {
    let not_a_page = "the response is not a DescribeInstances document";
    let cases: Vec<(Reply, Vec<&str>)> = vec![
        (
            Reply::ok("<!DOCTYPE html>\n<html><body><h1>Welcome to nginx!</h1></body></html>"),
            vec![
                not_a_page,
                r#"(starts with "<!DOCTYPE html> <html><body><h1>Welcome to nginx!</h1></body...")"#,
            ],
        ),
        (
            Reply::ok("\u{1b}]0;pwned\u{7}garbage"),
            vec![not_a_page, r#"(starts with "?]0;pwned?garbage")"#],
        ),
        (Reply::ok(""), vec![not_a_page, "(it is empty)"]),
        (
            Reply::ec2_error(200, "ServiceUnavailable", "Try again later."),
            vec!["the response is an EC2 error: ServiceUnavailable: Try again later."],
        ),
        (
            Reply::with_status(502, "<html><body>Bad Gateway</body></html>"),
            vec![
                "with HTTP 502",
                "the response is not an EC2 error document",
                r#"(starts with "<html><body>Bad Gateway</body></html>")"#,
            ],
        ),
        (
            Reply::with_status(404, ""),
            vec![
                "with HTTP 404",
                "the response is not an EC2 error document (it is empty)",
            ],
        ),
    ];
    for (reply, fragments) in cases {
        let reply = Arc::new(reply);
        let answer = Arc::clone(&reply);
        let ec2 = Stub::start(move |_| Reply {
            status: answer.status,
            headers: answer.headers.clone(),
            body: answer.body.clone(),
            filler: None,
        });
        let run = resolve_against(&ec2.endpoint);
        run.fails_with(4, &fragments);
        assert!(!run.stderr.contains("unknown error"), "{}", run.stderr);
        assert!(
            !run.stderr.contains('\u{1b}'),
            "no raw escape reaches the terminal"
        );
    }
}

#[test]
fn a_page_past_the_size_limit_is_refused_as_it_arrives() {
    let start = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeInstancesResponse>";
    for chunked in [false, true] {
        let ec2 = Stub::start(move |_| {
            Reply::huge(
                start,
                Filler {
                    bytes: 256 << 20,
                    chunked,
                },
            )
        });
        let started = Instant::now();
        let how = if chunked {
            "rollcall stopped reading there".to_owned()
        } else {
            format!("Content-Length: {}", start.len() + (256 << 20))
        };
        resolve_against(&ec2.endpoint).fails_with(
            4,
            &[
                "DescribeInstances in us-west-2",
                &format!("the response is larger than the 64 MiB a page may be ({how})"),
            ],
        );
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{:?}",
            started.elapsed()
        );
    }
}

/// Runs `rollcall inventory --inventory PATH` with at most 6 GiB of address
/// space, so that a file read without a limit ends in a failed allocation
/// rather than in the machine's memory.
fn record_capped(path: &Path) -> Run {
    let mut command = rollcall_command(Some("ulimit -v 6291456 &&"));
    command.args(["inventory", "--inventory"]).arg(path);
    run_within(RUN_LIMIT, command)
}

#[test]
fn an_inventory_file_past_the_size_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.json");
    // Sparse: 1 GiB and a byte, without writing it.
    std::fs::File::create(&big)
        .unwrap()
        .set_len((1 << 30) + 1)
        .unwrap();
    let started = Instant::now();
    record_capped(&big).fails_with(
        2,
        &[&format!(
            "{}: the inventory file is 1073741825 bytes, more than the 1 GiB an inventory may be",
            big.display()
        )],
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refused by its size, unread"
    );

    record_capped(Path::new("/dev/zero")).fails_with(
        2,
        &[
            "/dev/zero: the inventory is larger than the 1 GiB an inventory may be \
           (rollcall stopped reading there)",
        ],
    );
}

#[test]
fn a_page_cut_short_in_watch_keeps_every_member_and_marks_the_answer_stale() {
    let pages = fleet_pages();
    let points = cut_points(&pages, 8);
    // 0: the whole fleet; k: the kth cut point.
    let mode = Arc::new(AtomicUsize::new(0));
    let ec2 = {
        let (mode, pages) = (Arc::clone(&mode), pages.clone());
        let variants: Vec<Vec<String>> = std::iter::once(pages.clone())
            .chain(points.iter().map(|&point| cut(&pages, point)))
            .collect();
        Stub::start(move |request| {
            let pages = &variants[mode.load(Ordering::SeqCst)];
            Reply::ok(&pages[page_asked(request).min(pages.len() - 1)])
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("membership.json");
    let plugin = Path::new(ELASTIC_GRID);
    let agent = instance_id(2);
    let watch = Daemon::launch([
        "--endpoint-url",
        &ec2.endpoint,
        "--region",
        REGION,
        "--plugin",
        plugin.to_str().unwrap(),
        "--self",
        &agent,
        "--refresh",
        "200ms",
        "--output",
        output.to_str().unwrap(),
        "--max-attempts",
        "1",
    ])
    .envs(&CREDENTIALS)
    .envs(&[("RUST_LOG", "rollcall=debug")])
    .start();
    let first = eventually(WAIT, "the first answer", || {
        let document = watch.membership()?;
        (document["inventory"]["instances"] == FLEET).then_some(document)
    });
    assert_eq!(ids(&first, "members").len(), FLEET);

    for (k, point) in points.iter().enumerate() {
        mode.store(k + 1, Ordering::SeqCst);
        let stale = eventually(WAIT, "the stale mark", || {
            let document = watch.membership()?;
            (document["inventory"]["stale"] == true).then_some(document)
        });
        assert_eq!(
            ids(&stale, "members"),
            ids(&first, "members"),
            "cut at {point:?}: every member kept"
        );
        let error = stale["inventory"]["error"].as_str().unwrap_or_default();
        assert!(error.contains("the page is incomplete"), "{stale}");
        mode.store(0, Ordering::SeqCst);
        eventually(WAIT, "fresh again", || {
            (watch.membership()?["inventory"]["stale"] == false).then_some(())
        });
    }
    let (_, events) = watch.get("/v1/events?since=0");
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["kind"].as_str().unwrap())
        .collect();
    assert!(!kinds.contains(&"left"), "no member left: {events}");
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap();
    assert_eq!(ids(&written, "members").len(), FLEET);
}
