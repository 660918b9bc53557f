//! An error as people read it: its message and each cause after it, on one line, each cause
//! once. Many of dpost's errors (thiserror enums) name their cause in their own message and
//! also hand it out as `source()`, and some causes (reqwest's) say only "error sending
//! request" without theirs; printing the chain as anyhow's `{:#}` does would repeat a cause
//! (`No such file or directory (os error 2): No such file or directory (os error 2)`) or
//! hide it. A cause already said is left out; nothing is printed with `{:?}`.

use std::error::Error;

/// `e` and its causes, `: `-separated, none repeated.
pub fn chain(e: &(dyn Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !t.is_empty() && !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        cur = s.source();
    }
    out
}

/// [`chain`] for an `anyhow::Error` (its context, then the error, then the causes).
pub fn of(e: &anyhow::Error) -> String {
    chain(e.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read {path}: {source}")]
    struct Read {
        path: String,
        source: std::io::Error,
    }

    #[test]
    fn a_cause_named_in_the_message_is_not_repeated() {
        let e = anyhow::Error::new(Read {
            path: "x.p12".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        })
        .context("the function certificate of system s");
        let text = of(&e);
        assert_eq!(
            text.matches("entity not found").count(),
            1,
            "{text} / {:#}",
            e
        );
        assert!(text.starts_with("the function certificate of system s: cannot read x.p12"));
    }
}
