//! One fleet across AWS accounts, end to end on `moto_server`: moto keeps a
//! backend per account, and the credentials of a role assumed with STS act
//! in the role's account, so roles in three accounts make three fleets that
//! `--assume-role` and `[[source.accounts]]` merge into one.
//!
//! The world: account A's monitors and account B's agents, each in two
//! regions, B's agents also in a third that only B is listed in through the
//! file; account C's instance in a group named `eg-monitor` that the Elastic
//! Grid setting `accounts` does not count. A front before moto's EC2 denies
//! one account-region at run time; a stub STS refuses a role at start; and
//! bad account entries are refused at the line and column they were written
//! (golden files under `tests/golden/accounts/`, `BLESS=1` rewrites them).

use kit::daemon::Daemon;
use kit::moto_fleet::Fleet;
use kit::plugins::ELASTIC_GRID;
use kit::servers::{Front, Moto, Reply, Stub};
use kit::{CREDENTIALS, RUN_LIMIT, Run, eventually, ids, member, rollcall_in, workspace};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const A: &str = "111111111111";
const B: &str = "222222222222";
const C: &str = "333333333333";
/// The regions every account is listed in, unless its entry names its own.
const EAST: &str = "us-east-1";
const EUROPE: &str = "eu-west-1";
/// B's own region in the file: the one its entry names.
const OREGON: &str = "us-west-2";
/// A's and B's groups alone are the Elastic Grid's.
const TWO_ACCOUNTS: &str = r#"{"accounts": ["111111111111", "222222222222"]}"#;
/// The daemons' refresh interval: short, as a failed part waits 15 s.
const REFRESH: &str = "500ms";
/// Waits for what a refresh or two shows.
const WAIT: Duration = Duration::from_secs(20);
/// A failed part is asked again 15 s after its first failure: that, a few
/// refreshes and the machine's slack.
const RETRY_WAIT: Duration = Duration::from_secs(45);

fn role(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/rollcall-reader")
}

/// The fleet in moto, and who owns each instance.
struct World {
    moto: Moto,
    /// A's fleet in us-east-1, to launch more monitors into.
    a_east: Fleet,
    a_east_monitors: String,
    /// A's monitors in us-east-1 and eu-west-1.
    monitors: Vec<String>,
    /// B's agents in us-east-1 and eu-west-1.
    agents: Vec<String>,
    /// B's agents in us-west-2.
    oregon_agents: Vec<String>,
    /// C's instance in C's own `eg-monitor`.
    outsider: String,
}

impl World {
    async fn new() -> World {
        let moto = Moto::start();
        let a_east = Fleet::in_account(&moto, EAST, A).await;
        let a_east_monitors = a_east.group("eg-monitor").await;
        let mut monitors = a_east.launch(&[&a_east_monitors], 2, &[]).await;
        let a_europe = Fleet::in_account(&moto, EUROPE, A).await;
        let group = a_europe.group("eg-monitor").await;
        monitors.extend(a_europe.launch(&[&group], 1, &[]).await);
        let mut agents = Vec::new();
        for region in [EAST, EUROPE] {
            let b = Fleet::in_account(&moto, region, B).await;
            let group = b.group("eg-cybernode").await;
            agents.extend(b.launch(&[&group], 1, &[]).await);
        }
        let b_oregon = Fleet::in_account(&moto, OREGON, B).await;
        let group = b_oregon.group("eg-cybernode").await;
        let oregon_agents = b_oregon.launch(&[&group], 2, &[]).await;
        let c_east = Fleet::in_account(&moto, EAST, C).await;
        let group = c_east.group("eg-monitor").await;
        let outsider = c_east.launch(&[&group], 1, &[]).await.remove(0);
        World {
            moto,
            a_east,
            a_east_monitors,
            monitors,
            agents,
            oregon_agents,
            outsider,
        }
    }

    /// The environment of a `rollcall` under test: the test credentials,
    /// and STS and Auto Scaling in moto (EC2's endpoint is a flag or the
    /// file's).
    fn env(&self) -> Vec<(&str, &str)> {
        let mut env = CREDENTIALS.to_vec();
        env.push(("AWS_ENDPOINT_URL_STS", &self.moto.endpoint));
        env.push(("AWS_ENDPOINT_URL_AUTO_SCALING", &self.moto.endpoint));
        env
    }

    /// `rollcall.toml` in `dir`: A in the source's regions (us-east-1,
    /// eu-west-1), B in its own (us-west-2), EC2 at `ec2`, self B's first
    /// agent in us-west-2.
    fn config(&self, dir: &Path, ec2: &str) -> PathBuf {
        let path = dir.join("rollcall.toml");
        let text = format!(
            "refresh = \"{REFRESH}\"\nself = \"{own}\"\n\n\
             [source]\nkind = \"ec2\"\nregions = [\"{EAST}\", \"{EUROPE}\"]\n\
             endpoint_url = \"{ec2}\"\n\n\
             [[source.accounts]]\nrole_arn = \"{a}\"\n\n\
             [[source.accounts]]\nrole_arn = \"{b}\"\nregions = [\"{OREGON}\"]\n\n\
             [policy]\nplugin = \"{ELASTIC_GRID}\"\n\
             settings = {{ accounts = [\"{A}\", \"{B}\"] }}\n",
            own = self.oregon_agents[0],
            a = role(A),
            b = role(B),
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Who owns each member of the daemons' fleet: A's monitors and B's
    /// agents in us-west-2.
    fn file_members(&self) -> BTreeMap<String, &'static str> {
        let monitors = self.monitors.iter().map(|id| (id.clone(), A));
        monitors
            .chain(self.oregon_agents.iter().map(|id| (id.clone(), B)))
            .collect()
    }
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// Each member's id and account (its status, which the document writes
/// beside the member's other fields).
fn accounts_of(document: &Value) -> BTreeMap<String, String> {
    document["members"]
        .as_array()
        .unwrap_or_else(|| panic!("no members: {document}"))
        .iter()
        .map(|member| {
            let account = member["account"].as_str().unwrap_or_default();
            (
                member["instance_id"].as_str().unwrap().to_owned(),
                account.to_owned(),
            )
        })
        .collect()
}

fn expected(members: &BTreeMap<String, &str>) -> BTreeMap<String, String> {
    members
        .iter()
        .map(|(id, account)| (id.clone(), (*account).to_owned()))
        .collect()
}

/// The member `id` is marked stale.
fn stale(document: &Value, id: &str) -> bool {
    member(document, id)["stale"] == Value::Bool(true)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_in_one_account_registers_with_the_monitors_of_another_and_a_recording_keeps_the_accounts()
 {
    let world = World::new().await;
    let env = world.env();
    let regions = format!("{EAST},{EUROPE}");
    let source = [
        "--assume-role",
        &role(A),
        "--assume-role",
        &role(B),
        "--assume-role",
        &role(C),
        "--regions",
        &regions,
        "--endpoint-url",
        &world.moto.endpoint,
    ]
    .map(str::to_owned);
    let agent = world.agents[0].as_str();
    let policy = [
        "--plugin",
        ELASTIC_GRID,
        "--self",
        agent,
        "--plugin-config",
        TWO_ACCOUNTS,
    ];
    let mut args = vec!["resolve"];
    args.extend(source.iter().map(String::as_str));
    args.extend(policy);
    let live = rollcall_in(&args, &env).json();

    assert_eq!(live["self"]["role"], "agent", "{live}");
    assert_eq!(
        ids(&live, "register_with"),
        sorted(world.monitors.clone()),
        "B's agent registers with A's monitors in both regions, not C's: {live}"
    );
    let mut members: BTreeMap<String, &str> =
        world.monitors.iter().map(|id| (id.clone(), A)).collect();
    members.extend(world.agents.iter().map(|id| (id.clone(), B)));
    assert_eq!(
        accounts_of(&live),
        expected(&members),
        "A's monitors and B's agents in the regions asked, each with its account; \
         C's eg-monitor counts for nothing: {live}"
    );
    assert_eq!(
        live["inventory"]["instances"], 6,
        "every account's instances in the regions asked: {live}"
    );

    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("fleet.json");
    let mut args = vec!["inventory"];
    args.extend(source.iter().map(String::as_str));
    args.extend(["--output", recording.to_str().unwrap()]);
    let recorded = rollcall_in(&args, &env);
    assert_eq!(recorded.code, 0, "{}", recorded.stderr);
    let document: Value =
        serde_json::from_str(&std::fs::read_to_string(&recording).unwrap()).unwrap();
    let owners: Vec<&str> = document["Reservations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|reservation| {
            reservation["Instances"][0]["InstanceId"].as_str() == Some(world.outsider.as_str())
        })
        .map(|reservation| reservation["OwnerId"].as_str().unwrap())
        .collect();
    assert_eq!(owners, [C], "C's instance is recorded as C's: {document}");

    let mut args = vec!["resolve", "--inventory", recording.to_str().unwrap()];
    args.extend(policy);
    let replayed = rollcall_in(&args, &[]).json();
    for key in ["self", "register_with", "members"] {
        assert_eq!(live[key], replayed[key], "{key} differs after replay");
    }
    assert_eq!(accounts_of(&replayed), expected(&members));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_lists_each_account_of_its_file_in_that_account_s_regions_and_counts_calls_per_account()
 {
    let world = World::new().await;
    let dir = tempfile::tempdir().unwrap();
    let config = world.config(dir.path(), &world.moto.endpoint);
    let daemon = Daemon::launch(["--config", config.to_str().unwrap()])
        .envs(&world.env())
        .start();
    let members = expected(&world.file_members());
    let document = eventually(WAIT, "the fleet of both accounts", || {
        daemon
            .membership()
            .filter(|document| accounts_of(document) == members)
    });
    assert_eq!(
        sorted(ids(&document, "register_with")),
        sorted(world.monitors.clone()),
        "{document}"
    );
    assert!(
        document["inventory"].get("stale_parts").is_none(),
        "{document}"
    );

    let ok = |account: &str, region: &str| {
        format!(
            "rollcall_api_calls_total{{account=\"{account}\",region=\"{region}\",service=\"ec2\",\
             outcome=\"ok\"}}"
        )
    };
    for (account, region) in [(A, EAST), (A, EUROPE), (B, OREGON)] {
        let calls = daemon.metric(&ok(account, region));
        assert!(
            calls.is_some_and(|calls| calls > 0.0),
            "{account} in {region}: {calls:?}"
        );
    }
    // B is listed in its entry's regions alone, A in the source's.
    for (account, region) in [(B, EAST), (B, EUROPE), (A, OREGON)] {
        assert_eq!(
            daemon.metric(&ok(account, region)),
            None,
            "{account} {region}"
        );
    }
}

/// EC2 before moto, refusing requests signed for us-west-2 (B's region
/// alone) with `UnauthorizedOperation` while `deny` holds.
fn denying_front(moto: &Moto, deny: &Arc<AtomicBool>) -> Front {
    let deny = Arc::clone(deny);
    Front::start(&moto.endpoint, move |asked| {
        (deny.load(Ordering::SeqCst) && asked.region.as_deref() == Some(OREGON)).then(|| {
            Reply::ec2_error(
                403,
                "UnauthorizedOperation",
                "You are not authorized to perform this operation.",
            )
        })
    })
}

/// EC2 before moto, saying that every group asked about by
/// `DescribeSecurityGroups` in us-west-2 (B's region) is owned by A: B's
/// agents sit in groups A shares with B (VPC sharing).
fn sharing_front(moto: &Moto) -> Front {
    Front::start(&moto.endpoint, move |asked| {
        if asked.action() != Some("DescribeSecurityGroups")
            || asked.region.as_deref() != Some(OREGON)
        {
            return None;
        }
        let items: String = asked
            .filter_values()
            .iter()
            .map(|id| {
                format!(
                    "<item><ownerId>{A}</ownerId><groupId>{id}</groupId><groupName>shared</groupName>\
                     <groupDescription>shared by A</groupDescription></item>"
                )
            })
            .collect();
        Some(Reply::ok(&format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeSecurityGroupsResponse \
             xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r</requestId>\
             <securityGroupInfo>{items}</securityGroupInfo></DescribeSecurityGroupsResponse>"
        )))
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_group_shared_from_another_account_reaches_the_policy_as_that_account_s() {
    let world = World::new().await;
    let front = sharing_front(&world.moto);
    let env = world.env();
    let base = [
        "--assume-role",
        &role(B),
        "--region",
        OREGON,
        "--endpoint-url",
        &front.endpoint,
    ]
    .map(str::to_owned);
    let resolve = |accounts: &str| {
        let settings = format!(r#"{{"accounts": ["{accounts}"]}}"#);
        let mut args: Vec<&str> = vec!["resolve"];
        args.extend(base.iter().map(String::as_str));
        args.extend([
            "--plugin",
            ELASTIC_GRID,
            "--self",
            "none",
            "--plugin-config",
            &settings,
        ]);
        rollcall_in(&args, &env).json()
    };
    // B's agents are in eg-cybernode as EC2 names it, owned by A: they
    // count when A's groups do, and not when only B's do.
    let as_a = resolve(A);
    let members: Vec<String> = sorted(ids(&as_a, "members"));
    assert_eq!(members, sorted(world.oregon_agents.clone()), "{as_a}");
    let as_b = resolve(B);
    assert!(
        ids(&as_b, "members").is_empty(),
        "B owns none of the groups: {as_b}"
    );
    let asked = front
        .answered()
        .iter()
        .filter(|entry| entry.asked.action() == Some("DescribeSecurityGroups"))
        .count();
    assert_eq!(
        asked, 2,
        "one DescribeSecurityGroups per resolve, for the groups not met before"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_denied_at_run_time_goes_stale_alone_while_the_others_keep_serving() {
    let world = World::new().await;
    let deny = Arc::new(AtomicBool::new(false));
    let front = denying_front(&world.moto, &deny);
    let dir = tempfile::tempdir().unwrap();
    let config = world.config(dir.path(), &front.endpoint);
    let daemon = Daemon::launch(["--config", config.to_str().unwrap()])
        .envs(&world.env())
        .start();
    let members = expected(&world.file_members());
    eventually(WAIT, "the fleet of both accounts", || {
        daemon
            .membership()
            .filter(|document| accounts_of(document) == members)
    });

    deny.store(true, Ordering::SeqCst);
    let document = eventually(WAIT, "B's part marked stale", || {
        daemon
            .membership()
            .filter(|document| document["inventory"].get("stale_parts").is_some())
    });
    let parts = document["inventory"]["stale_parts"].as_array().unwrap();
    assert_eq!(parts.len(), 1, "B's part alone: {document}");
    assert_eq!(parts[0]["account"], B, "{document}");
    assert_eq!(parts[0]["region"], OREGON, "{document}");
    assert!(parts[0]["since"].is_string(), "{document}");
    let error = parts[0]["error"].as_str().unwrap();
    assert!(error.contains("UnauthorizedOperation"), "{error}");
    assert!(
        error.contains(&role(B)),
        "the part's role is named: {error}"
    );
    assert_eq!(
        accounts_of(&document),
        members,
        "B's members are kept as last listed: {document}"
    );
    for agent in &world.oregon_agents {
        assert!(stale(&document, agent), "{agent}: {document}");
    }
    for monitor in &world.monitors {
        assert!(!stale(&document, monitor), "{monitor}: {document}");
    }
    let (_, denied) = front.count(OREGON);
    assert!(denied > 0, "B's listing was denied at EC2");
    // Degraded, not down: every refresh gives an answer, so the daemon is
    // healthy; the answer itself says which part is stale.
    let (status, health) = daemon.get("/healthz");
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["refresh_error"], Value::Null, "{health}");

    // A keeps being listed: a monitor launched now is served while B is
    // still denied.
    let launched = world
        .a_east
        .launch(&[&world.a_east_monitors], 1, &[])
        .await
        .remove(0);
    let document = eventually(WAIT, "A's new monitor", || {
        daemon
            .membership()
            .filter(|document| document["members"].to_string().contains(&launched))
    });
    assert_eq!(
        document["inventory"]["stale_parts"][0]["account"], B,
        "B is still stale: {document}"
    );
    assert!(!stale(&document, &launched), "{document}");
    assert!(
        ids(&document, "register_with").contains(&launched),
        "self (B's agent) registers with it: {document}"
    );
    for agent in &world.oregon_agents {
        assert!(stale(&document, agent), "{agent}: {document}");
    }

    let (forwarded_before, _) = front.count(OREGON);
    deny.store(false, Ordering::SeqCst);
    let document = eventually(RETRY_WAIT, "B's part listed again", || {
        daemon.membership().filter(|document| {
            document["inventory"].get("stale_parts").is_none()
                && world
                    .oregon_agents
                    .iter()
                    .all(|agent| !stale(document, agent))
        })
    });
    let mut members = world.file_members();
    members.insert(launched, A);
    assert_eq!(accounts_of(&document), expected(&members), "{document}");
    assert!(
        front.count(OREGON).0 > forwarded_before,
        "B was asked again at EC2"
    );
}

#[test]
fn a_role_that_cannot_be_assumed_stops_resolve_naming_the_account_and_the_role() {
    let sts = Stub::start(|_| Reply {
        headers: vec![("Content-Type", "text/xml".to_owned())],
        ..Reply::with_status(
            403,
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
             <Error><Type>Sender</Type><Code>AccessDenied</Code>\
             <Message>User: arn:aws:iam::123456789012:user/node is not authorized to perform: \
             sts:AssumeRole on resource: arn:aws:iam::333333333333:role/nope</Message></Error>\
             <RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>",
        )
    });
    let mut env = CREDENTIALS.to_vec();
    env.push(("AWS_ENDPOINT_URL_STS", &sts.endpoint));
    let arn = "arn:aws:iam::333333333333:role/nope";
    let run = rollcall_in(
        [
            "resolve",
            "--assume-role",
            arn,
            "--region",
            EAST,
            "--plugin",
            ELASTIC_GRID,
            "--self",
            "none",
        ],
        &env,
    );
    // A source failure (4), not bad usage (2): the role exists on paper.
    run.fails_with(
        4,
        &[
            &format!("account 333333333333: cannot assume the role {arn}"),
            "AccessDenied",
        ],
    );
    assert!(sts.requests() > 0, "STS was asked");
}

#[test]
fn a_role_flag_that_is_no_role_arn_is_bad_usage() {
    let run = rollcall_in(
        [
            "resolve",
            "--assume-role",
            "not-an-arn",
            "--region",
            EAST,
            "--plugin",
            ELASTIC_GRID,
        ],
        &CREDENTIALS,
    );
    run.fails_with(2, &["--assume-role", "\"not-an-arn\" is not a role ARN"]);
}

/// The bad `rollcall.toml`s under `tests/golden/accounts/`, each with the
/// error it must give.
const BAD_FILES: [&str; 4] = [
    "role-arn-not-an-arn",
    "region-unknown",
    "account-twice",
    "external-id-in-source",
];

#[test]
fn bad_account_entries_exit_2_naming_the_file_line_and_column() {
    let bless = std::env::var_os("BLESS").is_some();
    let dir = workspace().join("tests/golden/accounts");
    let mut differ = Vec::new();
    for name in BAD_FILES {
        let file = format!("{name}.toml");
        assert!(
            dir.join(&file).is_file(),
            "{} is missing",
            dir.join(&file).display()
        );
        let mut command = kit::rollcall_command(None);
        command
            .current_dir(&dir)
            .args(["watch", "--config", &file])
            .envs(CREDENTIALS);
        let run: Run = kit::run_within(RUN_LIMIT, command);
        run.fails_with(2, &[&format!("{file}:")]);
        let golden = dir.join(format!("{name}.err"));
        if bless {
            std::fs::write(&golden, &run.stderr).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_default();
        if expected != run.stderr {
            differ.push(format!(
                "{}:\n--- expected\n{expected}--- got\n{}",
                golden.display(),
                run.stderr
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "errors differ (BLESS=1 to accept):\n{}",
        differ.join("\n")
    );
}
