//! The store's queries number their parameters SQLite's way (`?1`, or `?` for "the next
//! one"); PostgreSQL numbers them `$1`. One rewrite here lets every query be written once.
//!
//! Text inside quotes ('...' literals, "..." identifiers) and comments is copied untouched,
//! so a question mark in a string is not taken for a parameter.

/// `sql` with every `?N` made `$N` and every bare `?` made the next number after the
/// largest seen so far (SQLite's rule: <https://sqlite.org/lang_expr.html#varparam>).
pub fn to_postgres(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.char_indices().peekable();
    let mut largest = 0u32;
    while let Some((_, c)) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push(c);
                for (_, d) in chars.by_ref() {
                    out.push(d);
                    // A doubled quote inside is an escaped one: the loop sees it close and
                    // reopen, which copies the same characters.
                    if d == c {
                        break;
                    }
                }
            }
            '-' if chars.peek().map(|&(_, d)| d) == Some('-') => {
                out.push(c);
                for (_, d) in chars.by_ref() {
                    out.push(d);
                    if d == '\n' {
                        break;
                    }
                }
            }
            '?' => {
                let mut digits = String::new();
                while let Some(&(_, d)) = chars.peek() {
                    if d.is_ascii_digit() {
                        digits.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                let n = match digits.parse::<u32>() {
                    Ok(n) => n,
                    Err(_) => largest + 1,
                };
                largest = largest.max(n);
                out.push('$');
                out.push_str(&n.to_string());
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::to_postgres;

    #[test]
    fn numbered_and_bare_parameters_become_dollar_numbers() {
        assert_eq!(
            to_postgres("SELECT a FROM t WHERE b = ?1 AND c = ?2 OR d = ?1"),
            "SELECT a FROM t WHERE b = $1 AND c = $2 OR d = $1"
        );
        assert_eq!(
            to_postgres("WHERE (a, b) < (?, ?) AND c = ? LIMIT ?"),
            "WHERE (a, b) < ($1, $2) AND c = $3 LIMIT $4"
        );
        assert_eq!(
            to_postgres("a = ?2 AND b = ?"),
            "a = $2 AND b = $3",
            "SQLite: a bare ? is one more than the largest so far"
        );
    }

    #[test]
    fn quoted_text_and_comments_are_left_alone() {
        assert_eq!(
            to_postgres("SELECT '?1 it''s?' , \"odd?\" FROM t -- why?\nWHERE x = ?1"),
            "SELECT '?1 it''s?' , \"odd?\" FROM t -- why?\nWHERE x = $1"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_rewritten_without_panicking(s in ".{0,200}") {
            let _ = to_postgres(&s);
        }
    }
}
