//! POSIX shell quoting for the command lines and scripts the remote targets send.
//!
//! Every value that reaches a remote shell (argv words, environment values, paths) goes
//! through [`quote`]: single quotes, with each embedded `'` written as `'\''`, so no byte
//! of it is special to `sh` (`$`, `` ` ``, `\`, `"`, `;`, newlines, globs).

/// `s` as one shell word that `sh` reads back byte for byte.
pub fn quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if safe {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Words joined into one command line, each quoted.
pub fn join<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|w| quote(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `sh` makes of a quoted word: printed back through `printf %s`.
    fn through_sh(words: &[&str]) -> Vec<String> {
        let script = format!("for a in {}; do printf '%s\\0' \"$a\"; done", join(words));
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        assert!(out.status.success(), "{script}");
        out.stdout
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8(s.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn awkward_values_survive_sh() {
        let words = [
            "plain",
            "with space",
            "it's",
            "\"double\"",
            "$HOME and $(echo no) and `echo no`",
            "a;b && c | d",
            "back\\slash",
            "new\nline",
            "*.glob ?",
            "--lr=0.1",
            "ünïcode",
            "'",
            "''",
        ];
        assert_eq!(through_sh(&words), words);
        assert_eq!(quote(""), "''");
        assert_eq!(quote("--lr"), "--lr");
    }
}
