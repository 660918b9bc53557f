//! `dpost serve` when things around it fail: a disk that takes no more bytes, and a message
//! that makes the protocol component exhaust its memory while other pushes go on.

use std::path::Path;

use dpost_tests::serve::*;
use dpost_tests::{postgres, sha256_hex, stored_file};

/// Push `xml` raw; status, Retry-After and body.
fn push(server: &Server, xml: Vec<u8>) -> (u16, Option<String>, String) {
    let r = server.post_xml(xml);
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, r.text().unwrap_or_default())
}

/// The stored document of `id` is `content`, by the recorded SHA-256 and by the file.
fn assert_intact(config: &Path, id: &str, content: &[u8]) {
    let stored = show(config, id).unwrap_or_else(|| panic!("{id} is not stored"));
    assert_eq!(
        stored["message"]["files"][0]["sha256"],
        sha256_hex(content),
        "{id}"
    );
    let dir = Path::new(stored["message"]["dir"].as_str().unwrap());
    assert_eq!(
        stored_file(config, &dir.join("files/0001")),
        content,
        "{id}"
    );
}

/// The hard RLIMIT_FSIZE this test runs under (usually unlimited); the server's soft limit
/// goes below it and back up to it, which needs no privileges.
fn hard_file_size_limit() -> libc::rlim_t {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into `l`, which lives for the call.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut l) }, 0);
    l.rlim_max
}

/// Set the soft RLIMIT_FSIZE of process `pid`, keeping the hard limit.
fn set_file_size_limit(pid: u32, soft: libc::rlim_t) {
    let limit = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard_file_size_limit(),
    };
    // SAFETY: prlimit reads `limit` and writes nothing back (old limit pointer is null).
    let rc = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_FSIZE,
            &limit,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
}

/// A disk that takes no more bytes, made without privileges (and honoured by root too): the
/// server runs under a file-size limit (RLIMIT_FSIZE, as `ulimit -f` / `prlimit --fsize`),
/// so every write past the limit fails with EFBIG, as on a full file system. The limit is
/// set to the size the store's write-ahead log already has, so both kinds of write fail: a
/// document file (the message is larger than the limit) and the store's commit (the log
/// cannot grow). The default action of the SIGXFSZ that comes with EFBIG is to kill the
/// process; the test does not ignore it for the server, so the server must ignore it itself.
///
/// "Space returns" is the limit being raised on the running process (prlimit on its pid):
/// the same process then takes the resent messages, no restart needed.
///
/// Not covered: ENOSPC proper (a tmpfs or loop device needs privileges CI lacks). EFBIG and
/// ENOSPC reach the same code: a failed write or a failed SQLite commit.
#[test]
fn a_full_disk_answers_503_keeps_nothing_half_written_and_recovers() {
    // The store's own file must fill up with the data folder: on PostgreSQL the database
    // is another process's disk, and only the spool is local.
    if postgres::enabled() {
        eprintln!("a full disk under SQLite's write-ahead log: SQLite only");
        return;
    }
    let config = setup("faults-disk", 8_000_000, "");
    let data = data_dir(&config);
    let wal = config.parent().unwrap().join("dpost.db-wal");

    // Before the trouble: one message, then a crash, so that the log keeps its frames.
    let mut server = Server::start(&config);
    let first = uuid(1);
    let first_content = b"accepted before the disk filled".to_vec();
    let (status, _, body) = push(&server, message(&first, &first_content));
    assert_eq!(status, 200, "{body}");
    server.kill();
    let wal_size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert!(
        wal_size > 16 * 1024,
        "the write-ahead log should hold the first commits ({wal_size} bytes)"
    );

    let hard = hard_file_size_limit();
    assert!(
        hard > wal_size * 4,
        "the hard file-size limit {hard} is too low for this test"
    );
    let server = Server::start_with(&config, |command| {
        use std::os::unix::process::CommandExt as _;
        let limit: libc::rlim_t = wal_size;
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(move || {
                let l = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: hard,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &l) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    });
    let pid = server.child.id();

    // A document larger than the limit: its file cannot be written.
    let big = uuid(2);
    let big_content: Vec<u8> = (0..wal_size as usize * 2)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let (status, retry, body) = push(&server, message(&big, &big_content));
    assert_eq!(status, 503, "{body}");
    assert!(
        retry.is_some_and(|r| r.parse::<u32>().is_ok_and(|s| s > 0)),
        "Retry-After"
    );
    assert!(body.contains("\"error\":\"store\""), "{body}");
    assert!(body.contains("disk"), "names the disk: {body}");

    // A small message: its files fit, the store's commit does not.
    let small = uuid(3);
    let small_content = b"small, but the store cannot grow".to_vec();
    let (status, retry, body) = push(&server, message(&small, &small_content));
    assert_eq!(status, 503, "{body}");
    assert!(retry.is_some(), "Retry-After");
    assert!(body.contains("\"error\":\"store\""), "{body}");

    // Nothing half-written: no spool left, no folder and no row for either message, and
    // the process is still there (SIGXFSZ did not kill it).
    let mut server = server;
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "dpost serve died under the file-size limit"
    );
    assert!(
        entries(&data.join("spool")).is_empty(),
        "spool: {:?}",
        entries(&data.join("spool"))
    );
    let folders = entries(&data.join("messages"));
    assert_eq!(
        folders,
        vec![first.clone()],
        "only the accepted message has a folder"
    );
    assert!(show(&config, &big).is_none());
    assert!(show(&config, &small).is_none());
    assert_eq!(count(&config), 1);
    assert_intact(&config, &first, &first_content);

    // Space returns: the same process takes both when NgDP resends them.
    set_file_size_limit(pid, hard);
    let (status, _, body) = push(&server, message(&big, &big_content));
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = push(&server, message(&small, &small_content));
    assert_eq!(status, 200, "{body}");
    assert_intact(&config, &first, &first_content);
    assert_intact(&config, &big, &big_content);
    assert_intact(&config, &small, &small_content);
    assert_eq!(count(&config), 3);
    assert!(entries(&data.join("spool")).is_empty());
}

/// A MeMo whose header carries `n` ReplyData, each with a comment of `len` bytes: all of it
/// is kept by the component's reader as one part of the message (the header), within its
/// own bounds on elements and text, but past a small memory limit.
fn heavy_header(id: &str, n: usize, len: usize) -> Vec<u8> {
    let reply: String = (0..n)
        .map(|i| {
            format!(
                "<memo:ReplyData><memo:messageUUID>{}</memo:messageUUID><memo:comment>{}</memo:comment></memo:ReplyData>",
                uuid(i as u32),
                "y".repeat(len)
            )
        })
        .collect();
    String::from_utf8(message(id, b"x"))
        .unwrap()
        .replacen("</memo:Recipient>", &format!("</memo:Recipient>{reply}"), 1)
        .into_bytes()
}

/// A message that makes the component exhaust its (configured, small) memory is refused
/// with an answer that names the limit, while pushes running at the same time are taken,
/// and the service goes on.
#[test]
fn a_message_exhausting_the_guest_memory_leaves_other_pushes_served() {
    let config = setup(
        "faults-guest-memory",
        16_000_000,
        "guest_memory_limit_bytes = 4194304",
    );
    let server = Server::start(&config);
    let url = server.messages_url();
    // Good pushes from two threads while the hostile ones go in.
    let good: Vec<_> = (0..2u32)
        .map(|t| {
            let url = url.clone();
            std::thread::spawn(move || {
                let c = client();
                let mut taken = Vec::new();
                for i in 0..15u32 {
                    let id = uuid(0x100 + t * 0x100 + i);
                    let content = format!("good {t} {i}").into_bytes();
                    let r = c
                        .post(&url)
                        .header("Authorization", AUTH)
                        .body(message(&id, &content))
                        .send()
                        .unwrap();
                    assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap());
                    taken.push((id, content));
                }
                taken
            })
        })
        .collect();
    for i in 0..3u32 {
        let id = uuid(0x9000 + i);
        let (status, _, body) = push(&server, heavy_header(&id, 4_000, 450));
        assert_eq!(status, 500, "{body}");
        assert!(body.contains("memory"), "names the memory limit: {body}");
        assert!(show(&config, &id).is_none());
    }
    for t in good {
        for (id, content) in t.join().unwrap() {
            assert_intact(&config, &id, &content);
        }
    }
    assert_eq!(count(&config), 30);
    assert!(entries(&data_dir(&config).join("spool")).is_empty());
    server.still_serves(&config, 1);
}
