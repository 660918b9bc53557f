//! `dpost ngdp send` end to end on loopback against the NgDP simulator: one message sent and
//! its receipt recorded, an invalid message refused locally, a retry after a dropped
//! connection that leaves exactly one copy at NgDP, and a second send that sends nothing.

use std::path::{Path, PathBuf};
use std::process::Output;

use dpost::clock;
use dpost::sim::ngdp::{NgdpConfig, NgdpSimulator, RunningNgdp};
use dpost_tests::*;
use serde_json::Value;

const SYSTEM: &str = "5b0e8f7a-3c1d-4e2f-9a8b-0c1d2e3f4a5b";
const TOKEN: &str = "send-token";
/// The UUID the fixture carries; each test gives its copy its own.
const FIXTURE_UUID: &str = "8C2EA15D-61FB-4BA9-9366-42F8B194C114";

/// A simulator requiring the system's credentials, dropping the first `drops` sends.
async fn start_sim(name: &str, drops: usize) -> RunningNgdp {
    let dir = scratch_dir("ngdp-send").join(name).join("sim-messages");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = NgdpConfig {
        messages_dir: dir,
        api_credentials: Some((SYSTEM.into(), TOKEN.into())),
        drop_first_sends: drops,
        ..NgdpConfig::default()
    };
    let sim = NgdpSimulator::new(config, shared_runtime(), clock::system()).expect("sim loads");
    sim.start("127.0.0.1:0").await.expect("sim listens")
}

/// A configuration whose API base is the simulator's, in a fresh folder: a pull system
/// with the simulator's credentials.
fn setup(name: &str, sim: &RunningNgdp) -> PathBuf {
    ConfigFile::in_dir(scratch_dir("ngdp-send").join(name).join("dpost"))
        .api_base(&format!("{}/apis/v1", sim.base_url()))
        .system(SYSTEM, TOKEN)
        .protocol("pull")
        .authorization(None)
        .write()
}

/// A copy of the minimum MeMo 1.2 example with its own messageUUID.
fn message(config: &Path, uuid: &str) -> PathBuf {
    let xml = std::fs::read_to_string(fixture("memo/MeMo_v1.2_Minimum_Example.xml")).unwrap();
    let path = config.with_file_name(format!("{uuid}.xml"));
    std::fs::write(&path, xml.replace(FIXTURE_UUID, uuid)).unwrap();
    path
}

/// `ngdp send --config CONFIG --system SYSTEM`, then `extra`.
fn send_args(config: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "ngdp".to_owned(),
        "send".into(),
        "--config".into(),
        config.display().to_string(),
        "--system".into(),
        SYSTEM.into(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

/// Send one file (`--json`); its JSON result, the send having succeeded.
async fn send_ok(config: &Path, file: &Path) -> Value {
    let out = send_many(config, &[file.to_path_buf()], true).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json_of(&out)
}

async fn status(config: &Path, uuid: &str) -> Value {
    let out = run_dpost_async(vec![
        "message".into(),
        "status".into(),
        uuid.into(),
        "--config".into(),
        config.display().to_string(),
        "--json".into(),
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("status is JSON")
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {:?} stderr {:?}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_message_is_sent_and_its_receipt_recorded_and_a_resend_sends_nothing() {
    let sim = start_sim("single", 0).await;
    let config = setup("single", &sim);
    let uuid = "11111111-2222-4333-8444-555555555501";
    let file = message(&config, uuid);

    let result = send_ok(&config, &file).await;
    assert_eq!(result["sent"], true);
    assert_eq!(result["attempts"], 1);
    assert_eq!(result["receipt"]["receiptStatus"], "RECEIVED");

    let at_sim = sim.simulator.status().sent;
    assert_eq!(at_sim.len(), 1);
    assert_eq!(at_sim[0].uuid, uuid);
    assert_eq!(at_sim[0].posts, 1);
    assert_eq!(at_sim[0].bytes, std::fs::metadata(&file).unwrap().len());

    let s = status(&config, uuid).await;
    assert_eq!(s["sent"]["status"], "sent");
    assert_eq!(s["sent"]["receipt"]["receiptStatus"], "RECEIVED");
    assert_eq!(s["sent"]["attempts"], 1);

    // The same file again: nothing goes out.
    let again = send_ok(&config, &file).await;
    assert_eq!(again["sent"], false);
    assert_eq!(again["already_sent"], true);
    assert_eq!(sim.simulator.status().sent[0].posts, 1);
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_message_is_refused_locally() {
    let sim = start_sim("invalid", 0).await;
    let config = setup("invalid", &sim);
    let uuid = "11111111-2222-4333-8444-555555555502";
    let file = message(&config, uuid);
    // A messageUUID that is not a UUID is a validation error.
    invalidate(&file, uuid);

    let out = run_dpost_async(send_args(&config, &[&file.display().to_string()])).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let first = stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("{}:", file.display())),
        "validator lines: {stdout}"
    );
    assert!(sim.simulator.status().sent.is_empty());
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_dropped_connection_leaves_one_copy() {
    let sim = start_sim("dropped", 1).await;
    let config = setup("dropped", &sim);
    let uuid = "11111111-2222-4333-8444-555555555503";
    let file = message(&config, uuid);

    let result = send_ok(&config, &file).await;
    assert_eq!(result["sent"], true);
    assert_eq!(result["attempts"], 2);

    let at_sim = sim.simulator.status().sent;
    assert_eq!(at_sim.len(), 1, "{at_sim:?}");
    assert_eq!(at_sim[0].posts, 2);
    let s = status(&config, uuid).await;
    assert_eq!(s["sent"]["status"], "sent");
    assert_eq!(s["sent"]["attempts"], 2);
    sim.stop().await;
}

/// The UUID of message `n` of the batch tagged `tag`.
fn batch_uuid(tag: u32, n: usize) -> String {
    format!("11111111-2222-4333-8444-{tag:04}{n:08}")
}

/// `count` valid messages with distinct UUIDs ([`batch_uuid`]), in the config's folder.
fn messages(config: &Path, tag: u32, count: usize) -> Vec<PathBuf> {
    (0..count)
        .map(|n| message(config, &batch_uuid(tag, n)))
        .collect()
}

/// `files` ([`messages`] tagged `tag`) as the members of a batch.
fn members(files: &[PathBuf], tag: u32) -> Vec<dpost::ngdp::batch::Member> {
    files
        .iter()
        .enumerate()
        .map(|(n, path)| dpost::ngdp::batch::Member {
            uuid: batch_uuid(tag, n),
            path: path.clone(),
        })
        .collect()
}

/// Make `file` invalid: its messageUUID `uuid` becomes one that is not a UUID.
fn invalidate(file: &Path, uuid: &str) {
    let xml = std::fs::read_to_string(file).unwrap();
    std::fs::write(file, xml.replace(uuid, "not-a-uuid")).unwrap();
}

async fn send_many(config: &Path, files: &[PathBuf], json: bool) -> Output {
    let mut args = send_args(config, &["--retry-delay-ms", "20"]);
    if json {
        args.push("--json".into());
    }
    args.extend(files.iter().map(|f| f.display().to_string()));
    run_dpost_async(args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_100_arrives_as_100_messages_and_100_sent_records() {
    let sim = start_sim("batch", 0).await;
    let config = setup("batch", &sim);
    let files = messages(&config, 1, 100);

    let out = send_many(&config, &files, true).await;
    assert!(
        out.status.success(),
        "{} {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let result = json_of(&out);
    assert_eq!(result["batch"], true);
    assert_eq!(result["sent"], 100);
    assert_eq!(result["attempts"], 1);

    let at_sim = sim.simulator.status().sent;
    assert_eq!(at_sim.len(), 100);
    let distinct: std::collections::HashSet<_> =
        at_sim.iter().map(|m| m.uuid.to_ascii_lowercase()).collect();
    assert_eq!(distinct.len(), 100);
    assert!(at_sim.iter().all(|m| m.posts == 1));
    for (n, file) in files.iter().enumerate().step_by(33) {
        let uuid = batch_uuid(1, n);
        let stored = sim.simulator.sent_message(&uuid).expect("stored");
        assert_eq!(stored.len() as u64, std::fs::metadata(file).unwrap().len());
    }
    for n in 0..100 {
        let s = status(&config, &batch_uuid(1, n)).await;
        assert_eq!(s["sent"]["status"], "sent", "{n}: {s}");
        if n == 0 {
            assert_eq!(s["sent"]["receipt"]["receiptStatus"], "RECEIVED");
        }
    }

    // Again, plus one new message: only the new one goes out.
    let mut again = files.clone();
    again.extend(messages(&config, 2, 1));
    let out = send_many(&config, &again, true).await;
    assert!(out.status.success(), "{out:?}");
    let result = json_of(&out);
    assert_eq!(result["sent"], 1, "{result}");
    assert_eq!(result["already_sent"].as_array().unwrap().len(), 100);
    let at_sim = sim.simulator.status().sent;
    assert_eq!(at_sim.len(), 101);
    assert!(at_sim.iter().all(|m| m.posts == 1));
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_member_refuses_the_whole_batch_locally() {
    let sim = start_sim("batch-invalid", 0).await;
    let config = setup("batch-invalid", &sim);
    let files = messages(&config, 3, 5);
    let bad = &files[3];
    invalidate(bad, &batch_uuid(3, 3));

    let out = send_many(&config, &files, false).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .lines()
            .all(|l| l.starts_with(&format!("{}:", bad.display())))
            && !stdout.is_empty(),
        "only the bad file's problems: {stdout}"
    );
    assert!(sim.simulator.status().sent.is_empty());
    // Nothing recorded: the store knows no message of the batch.
    let out = run_dpost_async(vec![
        "message".into(),
        "status".into(),
        "11111111-2222-4333-8444-000300000000".into(),
        "--config".into(),
        config.display().to_string(),
    ])
    .await;
    assert!(!out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("was sent from here"));
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memo_validate_and_extract_read_a_batch() {
    let dir = scratch_dir("ngdp-send").join("batch-file");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("dpost.toml");
    let files = messages(&config, 4, 3);
    invalidate(&files[1], &batch_uuid(4, 1));
    let members = members(&files, 4);
    let batch = dir.join("batch.tar.lzma");
    let out = std::fs::File::create(&batch).unwrap();
    dpost::ngdp::batch::write_batch(&members, out).unwrap();

    let out = run_dpost_async(vec![
        "memo".into(),
        "validate".into(),
        batch.display().to_string(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let prefix = format!(
        "{}!11111111-2222-4333-8444-000400000001.xml:",
        batch.display()
    );
    assert!(
        !stdout.is_empty() && stdout.lines().all(|l| l.starts_with(&prefix)),
        "{stdout}"
    );

    // Detected by its bytes as well as by its name.
    let renamed = dir.join("batch.bin");
    std::fs::copy(&batch, &renamed).unwrap();
    let out = run_dpost_async(vec![
        "memo".into(),
        "validate".into(),
        "--json".into(),
        renamed.display().to_string(),
    ])
    .await;
    let reports = json_of(&out);
    assert_eq!(reports.as_array().unwrap().len(), 3, "{reports}");
    assert_eq!(reports[0]["valid"], true);
    assert_eq!(reports[1]["valid"], false);

    let target = dir.join("out");
    let out = run_dpost_async(vec![
        "memo".into(),
        "extract".into(),
        batch.display().to_string(),
        "--out".into(),
        target.display().to_string(),
    ])
    .await;
    assert!(out.status.success(), "{out:?}");
    for n in 0..3 {
        let member = target.join(batch_uuid(4, n));
        assert!(
            std::fs::read_dir(&member).unwrap().count() > 0,
            "{} has the message's files",
            member.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_retried_after_a_dropped_connection_leaves_one_copy_of_each() {
    let sim = start_sim("batch-dropped", 1).await;
    let config = setup("batch-dropped", &sim);
    let files = messages(&config, 5, 3);
    let out = send_many(&config, &files, true).await;
    assert!(out.status.success(), "{out:?}");
    let result = json_of(&out);
    assert_eq!(result["sent"], 3);
    assert_eq!(result["attempts"], 2);
    let at_sim = sim.simulator.status().sent;
    assert_eq!(at_sim.len(), 3);
    assert!(at_sim.iter().all(|m| m.posts == 2), "{at_sim:?}");
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_refuses_a_batch_with_a_bad_member_and_stores_none_of_it() {
    let sim = start_sim("batch-sim-invalid", 0).await;
    let config = setup("batch-sim-invalid", &sim);
    let files = messages(&config, 6, 3);
    invalidate(&files[2], &batch_uuid(6, 2));
    let members = members(&files, 6);
    let body = dpost::ngdp::batch::write_batch(&members, Vec::new()).unwrap();
    let url = format!("{}/apis/v1/memos/", sim.base_url());
    let (code, answer) = tokio::task::spawn_blocking(move || {
        let response = reqwest::blocking::Client::new()
            .post(url)
            .basic_auth(SYSTEM, Some(TOKEN))
            .header("Content-Type", "application/x-lzma")
            .body(body)
            .send()
            .unwrap();
        let code = response.status().as_u16();
        (code, response.json::<Value>().unwrap())
    })
    .await
    .unwrap();
    assert_eq!(code, 400, "{answer}");
    assert_eq!(
        answer["member"], "11111111-2222-4333-8444-000600000002.xml",
        "{answer}"
    );
    assert!(sim.simulator.status().sent.is_empty());
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_built_from_a_spec_is_kept_and_sent() {
    let sim = start_sim("spec", 0).await;
    let config = setup("spec", &sim);
    let dir = config.parent().unwrap().to_path_buf();
    let spec = dir.join("letter.toml");
    std::fs::write(
        &spec,
        "label = \"Svar\"\nnotification = \"Post fra Kommunen\"\n[sender]\nid = \"12345678\"\nid_type = \"CVR\"\nlabel = \"Kommunen\"\n[recipient]\nid = \"2211771212\"\nid_type = \"CPR\"\n",
    )
    .unwrap();
    let letter = dir.join("brev.pdf");
    std::fs::write(&letter, b"%PDF-1.4 a letter").unwrap();
    let (spec_arg, letter_arg) = (spec.display().to_string(), letter.display().to_string());
    let out = run_dpost_async(send_args(
        &config,
        &["--json", "--spec", &spec_arg, "--file", &letter_arg],
    ))
    .await;
    let result = json_of(&out);
    assert_eq!(result["sent"], true, "{result}");
    let uuid = result["uuid"]
        .as_str()
        .expect("the result names the message")
        .to_owned();
    let at_sim = sim.simulator.status().sent;
    assert_eq!(at_sim.len(), 1);
    assert!(at_sim[0].uuid.eq_ignore_ascii_case(&uuid));
    // What was sent is on record under the data folder.
    let kept = std::fs::read_dir(dir.join("dpost.db.files/outgoing"))
        .unwrap()
        .count();
    assert_eq!(kept, 1);
    assert_eq!(status(&config, &uuid).await["sent"]["status"], "sent");

    // A spec that would make an invalid message is refused before anything is sent.
    std::fs::write(&spec, "label = \"Svar\"\n[sender]\nid = \"12345678\"\nid_type = \"CVR\"\nlabel = \"K\"\n[recipient]\nid = \"22117712\"\nid_type = \"CPR\"\n").unwrap();
    let out = run_dpost_async(send_args(
        &config,
        &["--spec", &spec_arg, "--file", &letter_arg],
    ))
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(sim.simulator.status().sent.len(), 1);
    sim.stop().await;
}
