//! rollcall as a library: the daemon of `rollcall::watch` inside this test
//! program, its callback a sink the program supplies beside the file's.

use rollcall::Membership;
use std::path::Path;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;

/// How long the daemon may take to answer after a change it was told of.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);

/// A configuration reading `fleet`, writing `sink`, the monitors listening
/// on `port`.
fn config(fleet: &Path, sink: &Path, port: u16) -> String {
    format!(
        "self = \"none\"\nrefresh = \"1s\"\n[source]\nkind = \"file\"\npath = {fleet:?}\n\
         [policy]\nplugin = {:?}\nsettings = {{ monitor_port = {port} }}\n\
         [[sink]]\nkind = \"file\"\npath = {sink:?}\n",
        kit::plugins::ELASTIC_GRID
    )
}

/// Waits for an answer in which `instance` is a member on `port`, skipping
/// the others.
async fn member_on(received: &mut mpsc::UnboundedReceiver<Membership>, instance: &str, port: u16) {
    let found = async {
        while let Some(answer) = received.recv().await {
            if answer
                .members
                .iter()
                .any(|member| member.instance_id == instance && member.port == Some(port))
            {
                return;
            }
        }
        panic!("the daemon stopped before {instance} was a member on port {port}");
    };
    timeout(ANSWER_WITHIN, found).await.unwrap_or_else(|_| {
        panic!("{instance} was no member on port {port} within {ANSWER_WITHIN:?}")
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callback_keeps_getting_answers_after_a_reload_replaces_the_files_sinks() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = dir.path().join("fleet.json");
    std::fs::copy(kit::seed_fleet(), &fleet).unwrap();
    let config_path = dir.path().join("rollcall.toml");
    let first_sink = dir.path().join("first.json");
    std::fs::write(&config_path, config(&fleet, &first_sink, 7070)).unwrap();

    let (answers, mut received) = mpsc::unbounded_channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let daemon = tokio::spawn(rollcall::watch(
        config_path.clone(),
        move |answer: &Membership, _: &[rollcall::ChangeEvent]| {
            let _ = answers.send(answer.clone());
        },
        async {
            let _ = stopped.await;
        },
    ));
    member_on(&mut received, "i-2271a74b", 7070).await;

    // A reload that replaces the file's sinks with another one, and whose
    // policy settings change the answer: the new answer reaches the new
    // file sink and the callback.
    let second_sink = dir.path().join("second.json");
    std::fs::write(&config_path, config(&fleet, &second_sink, 7071)).unwrap();
    member_on(&mut received, "i-2271a74b", 7071).await;
    // Each sink has a task of its own: the file may come a moment later.
    timeout(ANSWER_WITHIN, async {
        while !second_sink.exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the reloaded configuration's sink is written");

    // The next change of the fleet reaches the callback too.
    std::fs::copy(kit::fixture("clustered-fleet.json"), &fleet).unwrap();
    member_on(&mut received, "i-0b1ue000000000001", 7071).await;

    let _ = stop.send(());
    daemon.await.unwrap().unwrap();
}
