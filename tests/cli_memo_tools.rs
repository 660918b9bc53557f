//! `dpost memo …` tools that tell the truth (issue 14): UTF-16 messages read, extract that
//! refuses what validate refuses, unique names in a folder that already holds them, commands
//! that end quietly on a closed pipe, errors of `memo new` that name the spec key.

use dpost_tests::*;

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

const FULL_1_2: &str = "memo/MeMo_v1.2_Full_Example.xml";
const MIN_1_2: &str = "memo/MeMo_v1.2_Minimum_Example.xml";

/// A fixture's text, without its UTF-8 byte-order mark.
fn fixture_text(relative: &str) -> String {
    let s = std::fs::read_to_string(fixture(relative)).unwrap();
    s.strip_prefix('\u{feff}').map(str::to_owned).unwrap_or(s)
}

/// `text` as UTF-16 with a byte-order mark.
fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
    std::iter::once(0xFEFF)
        .chain(text.encode_utf16())
        .flat_map(|u| {
            if big_endian {
                u.to_be_bytes()
            } else {
                u.to_le_bytes()
            }
        })
        .collect()
}

#[test]
fn utf16_messages_validate_show_and_extract_like_their_utf8_originals() {
    let dir = scratch_dir("cli-memo-utf16");
    let original = fixture(FULL_1_2);
    let source = fixture_text(FULL_1_2).replacen("encoding=\"UTF-8\"", "encoding=\"UTF-16\"", 1);
    let show = |file: &std::path::Path| {
        let out = run_dpost(["memo", "show", "--json", file.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["file"] = serde_json::Value::Null;
        v
    };
    let want = show(&original);
    for (name, big_endian) in [("le.xml", false), ("be.xml", true)] {
        let file = dir.join(name);
        std::fs::write(&file, utf16(&source, big_endian)).unwrap();
        let out = run_dpost(["memo", "validate", file.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        assert_eq!(show(&file), want, "{name}");
        let ex = dir.join(format!("{name}.out"));
        let _ = std::fs::remove_dir_all(&ex);
        let out = extract(&file, &ex);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(
            std::fs::read(ex.join("Pladsanvisning.pdf")).unwrap(),
            b"This is a test"
        );
    }
}

#[test]
fn other_encodings_are_refused_by_name() {
    let dir = scratch_dir("cli-memo-encodings");
    let latin1 = dir.join("latin1.xml");
    let source = fixture_text(MIN_1_2).replacen("encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\"", 1);
    std::fs::write(
        &latin1,
        source.chars().map(|c| c as u8).collect::<Vec<u8>>(),
    )
    .unwrap();
    let out = run_dpost(["memo", "validate", latin1.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("the encoding \"ISO-8859-1\" is not supported"),
        "{}",
        text(&out.stdout)
    );
    let utf32 = dir.join("utf32.xml");
    let mut bytes = vec![0xFF, 0xFE, 0, 0];
    bytes.extend(
        fixture_text(MIN_1_2)
            .chars()
            .flat_map(|c| (c as u32).to_le_bytes()),
    );
    std::fs::write(&utf32, bytes).unwrap();
    let out = run_dpost(["memo", "validate", utf32.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("UTF-32"),
        "{}",
        text(&out.stdout)
    );
}

/// `dpost ARGS` with standard output a pipe whose reading end is already closed, as after
/// `| head -1` has read its line: every write fails with EPIPE, deterministically.
fn run_into_closed_pipe(args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    dpost_command()
        .args(args)
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn no_command_panics_on_a_closed_pipe() {
    let dir = scratch_dir("cli-memo-pipe");
    let bad = dir.join("bad.xml");
    std::fs::write(
        &bad,
        fixture_text(MIN_1_2).replace("2211771212", "22117712"),
    )
    .unwrap();
    let config = ConfigFile::in_dir(dir.join("config")).write();
    let config = config.to_str().unwrap();
    let full = fixture(FULL_1_2);
    let cases: [&[&str]; 6] = [
        &["memo", "validate", bad.to_str().unwrap()],
        &["memo", "validate", "--json", bad.to_str().unwrap()],
        &["memo", "show", full.to_str().unwrap()],
        &["message", "list", "--json", "--config", config],
        &["mailbox", "list", "--config", config],
        &["component", "info"],
    ];
    for args in cases {
        let out = run_into_closed_pipe(args);
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        // What a shell shows for a program that SIGPIPE ended; the job's verdict is unknown.
        assert_eq!(out.status.code(), Some(141), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: nothing to tell: {stderr}");
    }
    for args in [&["--help"][..], &["memo", "validate", "--help"]] {
        let out = run_into_closed_pipe(args);
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_ne!(out.status.code(), Some(101), "{args:?}: {stderr}");
    }
}

#[test]
fn a_well_formed_document_in_another_namespace_is_invalid_not_unreadable() {
    let dir = scratch_dir("cli-memo-foreign");
    let foreign = dir.join("foreign.xml");
    std::fs::write(
        &foreign,
        fixture_text(MIN_1_2).replace("https://DigitalPost.dk/MeMo-1", "urn:example:other"),
    )
    .unwrap();
    let out = run_dpost(["memo", "validate", foreign.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("not a MeMo Message"),
        "{}",
        text(&out.stdout)
    );
    // Unreadable still outranks invalid, whatever the order of the files.
    let broken = dir.join("broken.xml");
    std::fs::write(&broken, "not XML at all").unwrap();
    let out = run_dpost([
        "memo",
        "validate",
        broken.to_str().unwrap(),
        foreign.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
}

fn extract(message: &std::path::Path, out: &std::path::Path) -> std::process::Output {
    run_dpost([
        "memo",
        "extract",
        message.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
}

/// Every entry of `dir` by name, sorted.
fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn extract_refuses_broken_content_and_leaves_nothing() {
    let dir = scratch_dir("cli-memo-extract-broken");
    // The last of the full example's files broken: the ones before it decoded fine, and
    // must not stay behind either.
    let source = fixture_text(FULL_1_2);
    let at = source.rfind("VGhpcyBpcyBhIHRlc3Q=").unwrap();
    let mut broken = source.clone();
    broken.replace_range(at..at + 20, "VGhp!yBpcyBhIHRlc3Q=");
    let message = dir.join("broken.xml");
    std::fs::write(&message, &broken).unwrap();
    let out_dir = dir.join("out");
    let _ = std::fs::remove_dir_all(&out_dir);
    let out = extract(&message, &out_dir);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:", message.display())) && stderr.contains("not valid base64"),
        "{stderr}"
    );
    assert!(
        stderr.contains("nothing of this message was extracted"),
        "{stderr}"
    );
    assert_eq!(listing(&out_dir), Vec::<String>::new());

    // Cut off in the middle of the second file's content: unreadable, and nothing stays.
    let cut = source
        .match_indices("VGhpcyBpcyBhIHRlc3Q=")
        .nth(1)
        .unwrap()
        .0
        + 8;
    let truncated = dir.join("truncated.xml");
    std::fs::write(&truncated, &source[..cut]).unwrap();
    let out = extract(&truncated, &out_dir);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("truncated.xml"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(listing(&out_dir), Vec::<String>::new());
}

#[test]
fn extract_into_a_folder_that_holds_the_names_makes_them_unique() {
    let dir = scratch_dir("cli-memo-extract-again");
    let message = fixture(MIN_1_2);
    let out_dir = dir.join("out");
    let _ = std::fs::remove_dir_all(&out_dir);
    assert!(extract(&message, &out_dir).status.success());
    let out = extract(&message, &out_dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        listing(&out_dir),
        ["Pladsanvisning (2).pdf", "Pladsanvisning.pdf"]
    );
    assert!(text(&out.stdout).contains("Pladsanvisning (2).pdf"));
    for name in listing(&out_dir) {
        assert_eq!(
            std::fs::read(out_dir.join(name)).unwrap(),
            b"This is a test"
        );
    }
}

#[cfg(unix)]
#[test]
fn extract_never_writes_through_a_planted_symlink() {
    let dir = scratch_dir("cli-memo-extract-symlink");
    let _ = std::fs::remove_dir_all(&dir);
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, "untouched").unwrap();
    std::os::unix::fs::symlink(&victim, out_dir.join("Pladsanvisning.pdf")).unwrap();
    // A dangling link too: following it would create a file outside the folder.
    let outside = dir.join("created-outside.pdf");
    std::os::unix::fs::symlink(&outside, out_dir.join("Pladsanvisning (2).pdf")).unwrap();
    let out = extract(&fixture(MIN_1_2), &out_dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
    assert!(!outside.exists());
    assert!(
        std::fs::symlink_metadata(out_dir.join("Pladsanvisning.pdf"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read(out_dir.join("Pladsanvisning (3).pdf")).unwrap(),
        b"This is a test"
    );
}

#[test]
fn memo_new_errors_name_the_spec_key_or_the_file() {
    let dir = scratch_dir("cli-memo-new-errors");
    let spec = |name: &str, body: &str| {
        let path = dir.join(name);
        std::fs::write(&path, body).unwrap();
        path
    };
    let good = "label = \"Svar\"\nnotification = \"Post\"\n[sender]\nid = \"12345678\"\nid_type = \"CVR\"\nlabel = \"Kommunen\"\n[recipient]\nid = \"2211771212\"\nid_type = \"CPR\"\n";
    let letter = dir.join("brev.txt");
    std::fs::write(&letter, "hej").unwrap();
    let colon = dir.join("bilag:1.txt");
    std::fs::write(&colon, "bilag").unwrap();
    let empty = dir.join("tom.txt");
    std::fs::write(&empty, "").unwrap();
    let output = dir.join("out.xml");
    let new = |spec: &std::path::Path, files: &[&std::path::Path]| {
        let mut args = vec![
            "memo".to_string(),
            "new".into(),
            "--spec".into(),
            spec.display().to_string(),
        ];
        for f in files {
            args.push("--file".into());
            args.push(f.display().to_string());
        }
        args.extend(["-o".into(), output.display().to_string()]);
        run_dpost(&args)
    };
    let s = |spec: &std::path::Path| spec.display().to_string();

    let bad_values = spec(
        "values.toml",
        &good
            .replace("12345678", "1234")
            .replace(
                "id_type = \"CPR\"\n",
                // The schema makes contactPointID a string of at most 256 characters.
                &format!(
                    "id_type = \"CPR\"\ncontact_point = \"{}\"\n",
                    "x".repeat(257)
                ),
            )
            .replace("label = \"Svar\"", "label = \"Svar\"\nlanguage = \"dansk\""),
    );
    let out = new(&bad_values, &[&letter, &colon]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for want in [
        format!("{}: sender.id: error:", s(&bad_values)),
        format!("{}: recipient.contact_point: error:", s(&bad_values)),
        format!("{}: language: error:", s(&bad_values)),
        format!("--file {}: error:", colon.display()),
    ] {
        assert!(stderr.contains(&want), "{want:?} in {stderr}");
    }
    assert!(!stderr.contains("/Message/"), "no XML paths: {stderr}");
    assert_eq!(stderr.matches(": language: error:").count(), 1, "{stderr}");
    assert!(!output.exists());

    let control = spec("control.toml", &good.replace("Svar", "Svar\\u0001"));
    let out = new(&control, &[&letter]);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("{}: label: contains U+0001", s(&control))),
        "{stderr}"
    );
    assert!(
        !stderr.contains("WriteError"),
        "no Rust debug text: {stderr}"
    );

    let ok = spec("ok.toml", good);
    let out = new(&ok, &[&letter, &empty]);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("--file {}: ", empty.display())) && stderr.contains("empty"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("WriteError"),
        "no Rust debug text: {stderr}"
    );
    assert!(!output.exists());
}

#[test]
fn serve_receives_a_utf16_message() {
    use dpost_tests::serve::{self, Server};
    let config = serve::config("memo-utf16").write();
    let server = Server::start(&config);
    let id = serve::uuid(16);
    let content = b"%PDF-1.4 brev".to_vec();
    let utf8 = String::from_utf8(serve::message(&id, &content)).unwrap();
    let utf8 = utf8.strip_prefix('\u{feff}').unwrap_or(&utf8);
    let declared = utf8.replacen("encoding=\"UTF-8\"", "encoding=\"UTF-16\"", 1);
    assert_ne!(declared, utf8, "the fixture declares UTF-8");
    let r = server.post_xml(utf16(&declared, false));
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap_or_default());
    let stored = serve::show(&config, &id).expect("stored");
    assert_eq!(stored["message"]["valid"], true, "{stored}");
    assert_eq!(
        stored["message"]["files"][0]["sha256"],
        sha256_hex(&content)
    );
}
