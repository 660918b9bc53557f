//! Putting the server's canonical string beside dpost's, for 403s. Most signature failures
//! are one line: a clock off by minutes, a path in another case, a query re-encoded by a
//! proxy, a hash of a different body.

/// One row of the comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The server's line (`None` when its string is shorter).
    pub server: Option<String>,
    /// dpost's line.
    pub ours: Option<String>,
}

/// The lines side by side and where they first differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    /// Both strings split at `\n` (the terminating newline kept out).
    pub rows: Vec<Row>,
    /// Index into `rows` of the first difference, if any.
    pub first_difference: Option<usize>,
}

/// Compare two canonical strings line by line.
pub fn compare(server: &str, ours: &str) -> Comparison {
    let split = |s: &str| -> Vec<String> {
        let s = s.strip_suffix('\n').unwrap_or(s);
        s.split('\n').map(str::to_owned).collect()
    };
    let (a, b) = (split(server), split(ours));
    let rows: Vec<Row> = (0..a.len().max(b.len()))
        .map(|i| Row {
            server: a.get(i).cloned(),
            ours: b.get(i).cloned(),
        })
        .collect();
    let mut first_difference = rows.iter().position(|r| r.server != r.ours);
    // Same lines but a different ending (a missing final newline) still differ.
    if first_difference.is_none() && server != ours {
        first_difference = Some(rows.len().saturating_sub(1));
    }
    Comparison {
        rows,
        first_difference,
    }
}

/// What a difference on this line usually means, for the person reading.
pub fn hint(row: &Row, index: usize) -> &'static str {
    let line = row.ours.as_deref().or(row.server.as_deref()).unwrap_or("");
    if index == 0 {
        "the HTTP method differs: sign the method you send"
    } else if index == 1 {
        "the path differs: sign the exact path sent (a proxy or base URL may add or rewrite a prefix)"
    } else if line.starts_with("date:") {
        "the Date differs: send the Date header you signed, and keep this machine's clock in sync (Digipost allows 5 minutes)"
    } else if line.starts_with("x-content-sha256:") {
        "the body hash differs: the body sent is not the body signed (re-encoding, compression or a different file)"
    } else if line.starts_with("x-digipost-userid:") {
        "the broker id differs: X-Digipost-UserId must be the broker id Digipost registered for your certificate"
    } else {
        "the query differs: sign the query exactly as sent, without re-encoding or re-ordering"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_differing_line() {
        let server = "GET\n/9999/inbox\ndate: A\nx-digipost-userid: 9999\noffset=0\n";
        let ours = "GET\n/9999/inbox\ndate: B\nx-digipost-userid: 9999\noffset=0\n";
        let c = compare(server, ours);
        assert_eq!(c.first_difference, Some(2));
        assert!(hint(&c.rows[2], 2).contains("Date"));
        assert_eq!(compare(server, server).first_difference, None);
    }

    #[test]
    fn different_lengths_and_endings() {
        let c = compare("GET\n/x\n", "GET\n/x\nextra\n");
        assert_eq!(c.first_difference, Some(2));
        assert_eq!(c.rows[2].server, None);
        assert_eq!(compare("GET\n/x\n", "GET\n/x").first_difference, Some(1));
    }
}
