//! `dpost memo …` as a user runs it, and the component's MeMo reader against the native one.

use dpost::keystore::Keystore;
use dpost::memo::read_stream;
use dpost_tests::*;

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

const FIXTURES: [&str; 4] = [
    "memo/MeMo_v1.1_Full_Example.xml",
    "memo/MeMo_v1.1_Minimum_Example.xml",
    "memo/MeMo_v1.2_Full_Example.xml",
    "memo/MeMo_v1.2_Minimum_Example.xml",
];

#[test]
fn fixtures_validate() {
    let files: Vec<String> = FIXTURES
        .iter()
        .map(|f| fixture(f).display().to_string())
        .collect();
    let mut args = vec!["memo", "validate"];
    args.extend(files.iter().map(String::as_str));
    let out = run_dpost(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn an_invalid_message_exits_1_with_file_line_col_path() {
    let src = std::fs::read_to_string(fixture("memo/MeMo_v1.2_Minimum_Example.xml")).unwrap();
    let broken = src.replace(
        "<memo:recipientID>2211771212</memo:recipientID>",
        "<memo:recipientID>22117712</memo:recipientID>",
    );
    assert_ne!(src, broken, "the fixture changed; update the test");
    let file = scratch_dir("cli-memo").join("bad-cpr.xml");
    std::fs::write(&file, broken).unwrap();
    let out = run_dpost(["memo", "validate", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("recipientID"))
        .unwrap_or_else(|| panic!("{stdout}"));
    let prefix = format!("{}:", file.display());
    assert!(line.starts_with(&prefix), "{line}");
    let rest: Vec<_> = line[prefix.len()..].splitn(3, ':').collect();
    assert!(
        rest[0].parse::<u32>().is_ok() && rest[1].parse::<u32>().is_ok(),
        "{line}"
    );
    assert!(
        rest[2]
            .trim_start()
            .starts_with("/Message/MessageHeader/Recipient/recipientID: error:"),
        "{line}"
    );

    let out = run_dpost(["memo", "validate", "--json", file.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["valid"], false);
    assert!(
        v[0]["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["code"] == "invalid-cpr"),
        "{v}"
    );
}

#[test]
fn unreadable_or_not_xml_exits_2() {
    let dir = scratch_dir("cli-memo");
    let dtd = dir.join("dtd.xml");
    std::fs::write(
        &dtd,
        "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\">]><lolz>&lol;</lolz>",
    )
    .unwrap();
    let out = run_dpost(["memo", "validate", dtd.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stdout).contains(":2:1: error:"),
        "{}",
        text(&out.stdout)
    );
    let out = run_dpost(["memo", "validate", dir.join("absent.xml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stdout).contains("cannot read"),
        "{}",
        text(&out.stdout)
    );
}

/// Regression (issue 14): well-formed XML in another namespace is read and judged, so it is
/// an invalid message (1), not an unreadable file (2).
#[test]
fn a_well_formed_document_in_another_namespace_exits_1() {
    let dir = scratch_dir("cli-memo");
    let other = dir.join("other-namespace.xml");
    std::fs::write(
        &other,
        "<?xml version=\"1.0\"?>\n<m:Message xmlns:m=\"urn:not-memo\" memoVersion=\"1.2\"/>",
    )
    .unwrap();
    let out = run_dpost(["memo", "validate", other.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains(":2:1: error:") && text(&out.stdout).contains("urn:not-memo"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn show_lists_documents_without_content() {
    let out = run_dpost([
        "memo",
        "show",
        "--json",
        fixture(FIXTURES[2]).to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["header"]["message_uuid"],
        "8C2EA15D-61FB-4BA9-9366-42F8B194C114"
    );
    assert_eq!(v["documents"][0]["kind"], "main");
    assert_eq!(v["header"]["memo_version"], "1.2");
    assert_eq!(
        v["documents"][0]["files"][0]["filename"],
        "Pladsanvisning.pdf"
    );
    assert_eq!(v["documents"][0]["files"][0]["size"], 14);
    assert!(
        !text(&out.stdout).contains("VGhpcyBpcyBhIHRlc3Q"),
        "content must not be shown"
    );
}

#[test]
fn new_then_extract_round_trips_files_and_keeps_names_safe() {
    let dir = scratch_dir("cli-memo-new");
    let spec = dir.join("spec.toml");
    std::fs::write(
        &spec,
        "label = \"Svar\"\nnotification = \"Post fra Kommunen\"\n[sender]\nid = \"12345678\"\nid_type = \"CVR\"\nlabel = \"Kommunen\"\n[recipient]\nid = \"2211771212\"\nid_type = \"CPR\"\ncontact_point = \"241d39f6-998e-4929-b198-ccacbbf4b330\"\n",
    )
    .unwrap();
    let main = dir.join("brev.pdf");
    let content: Vec<u8> = (0..200_003u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&main, &content).unwrap();
    let attachment = dir.join("bilag.txt");
    std::fs::write(&attachment, "hej").unwrap();
    let msg = dir.join("out.xml");
    let _ = std::fs::remove_file(&msg);
    let out = run_dpost([
        "memo",
        "new",
        "--spec",
        spec.to_str().unwrap(),
        "--file",
        main.to_str().unwrap(),
        "--file",
        attachment.to_str().unwrap(),
        "-o",
        msg.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        run_dpost(["memo", "validate", msg.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );

    let ex = dir.join("extracted");
    let _ = std::fs::remove_dir_all(&ex);
    let out = run_dpost([
        "memo",
        "extract",
        msg.to_str().unwrap(),
        "--out",
        ex.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(ex.join("brev.pdf")).unwrap(), content);
    assert_eq!(std::fs::read(ex.join("bilag.txt")).unwrap(), b"hej");
}

#[test]
fn extract_never_writes_outside_the_folder() {
    let src = std::fs::read_to_string(fixture(FIXTURES[3])).unwrap();
    // NgDP forbids separators in filenames, but a hostile or broken sender may still send them.
    let hostile = src.replace("Pladsanvisning.pdf", "../../escaped.pdf");
    let dir = scratch_dir("cli-memo-hostile");
    let _ = std::fs::remove_file(dir.join("escaped.pdf"));
    let msg = dir.join("hostile.xml");
    std::fs::write(&msg, hostile).unwrap();
    let ex = dir.join("a/b");
    let _ = std::fs::remove_dir_all(&ex);
    let out = run_dpost([
        "memo",
        "extract",
        msg.to_str().unwrap(),
        "--out",
        ex.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(ex.join("escaped.pdf").exists());
    assert!(!dir.join("escaped.pdf").exists() && !dir.join("a/escaped.pdf").exists());
}

#[test]
fn component_reader_agrees_with_the_native_reader_on_every_fixture() {
    for f in FIXTURES {
        let bytes = std::fs::read(fixture(f)).unwrap();
        let native = dpost_guest::memo::parse(&bytes).unwrap();
        let mut instance = runtime().instantiate(Keystore::new()).unwrap();
        let mut content = Vec::new();
        let mut files = 0;
        // Odd chunk sizes to cross element and base64 boundaries.
        let outcome = read_stream(&mut instance, bytes.as_slice(), 7, |e| {
            match e {
                dpost::bindings::memo_wit::Event::FileData(d) => content.extend(d),
                dpost::bindings::memo_wit::Event::FileStart(_) => files += 1,
                _ => {}
            }
            Ok(())
        })
        .unwrap();
        let native_content: Vec<u8> = native
            .message
            .body
            .iter()
            .flat_map(|b| b.documents.iter())
            .flat_map(|d| d.files.iter())
            .flat_map(|f| f.content.iter().copied())
            .collect();
        assert_eq!(content, native_content, "{f}");
        assert_eq!(outcome.summary.files as usize, files, "{f}");
        assert_eq!(outcome.summary.problems.len(), native.problems.len(), "{f}");
    }
}
