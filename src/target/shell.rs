//! POSIX shell quoting: for the scripts the SSH target sends to its hosts, and for the
//! command lines sweep prints for a user to paste (the reproduce command of a run,
//! `sweep validate`'s sample run).
//!
//! The quoting is the `shlex` crate's. A word stays bare only when every byte is one that no
//! shell treats specially (ASCII letters and digits, `+-./:@]_`); otherwise it is
//! single-quoted, or double-quoted where it holds a `'`, so that `sh`, `dash`, `bash` (also
//! as `sh`, and interactively: no brace, tilde or history expansion) and `zsh` read it back
//! byte for byte. (`shell-words` leaves `{a,b}` and `a!b` bare, which bash expands.)

use std::borrow::Cow;

/// The quoter: NUL bytes pass through, since no shell word (nor any program argument) can
/// carry one and the callers that send words to a shell refuse them first.
fn quoter() -> shlex::Quoter {
    shlex::Quoter::new().allow_nul(true)
}

/// `s` as one shell word that `sh` reads back byte for byte.
pub fn quote(s: &str) -> Cow<'_, str> {
    // With NUL bytes allowed, quoting has no error today; should a later `shlex` refuse a
    // word, it is single-quoted the POSIX way rather than lost.
    quoter()
        .quote(s)
        .unwrap_or_else(|_| Cow::Owned(format!("'{}'", s.replace('\'', "'\\''"))))
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

    /// What `shell` makes of quoted words: printed back through `printf %s`. The script is
    /// given with `-c`, or on standard input (where an interactive bash expands history).
    fn through(shell: &[&str], on_stdin: bool, words: &[&str]) -> Vec<String> {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let script = format!("for a in {}; do printf '%s\\0' \"$a\"; done\n", join(words));
        let mut c = Command::new(shell[0]);
        c.args(&shell[1..]).env("HISTFILE", "/dev/null");
        if !on_stdin {
            c.arg(&script);
        }
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        if on_stdin {
            stdin.write_all(script.as_bytes()).unwrap();
        }
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{shell:?}: {script}");
        out.stdout
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8(s.to_vec()).unwrap())
            .collect()
    }

    const AWKWARD: &[&str] = &[
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
        "~/tilde",
        "~",
        "{a,b}",
        "x{1..3}",
        "a!b",
        "^caret",
        "%1",
        "#not a comment",
        "tab\there",
    ];

    #[test]
    fn awkward_values_survive_sh_and_bash() {
        assert_eq!(through(&["sh", "-c"], false, AWKWARD), AWKWARD);
        // bash expands braces even in POSIX mode (as `/bin/sh` on some hosts), and an
        // interactive one expands `!` in what it reads: neither may touch a quoted word.
        assert_eq!(through(&["bash", "--posix", "-c"], false, AWKWARD), AWKWARD);
        // (A tab reaching readline completes instead, however it is quoted.)
        let typed: Vec<&str> = AWKWARD
            .iter()
            .copied()
            .filter(|w| !w.contains('\t'))
            .collect();
        let pasted = through(&["bash", "--norc", "--noprofile", "-i"], true, &typed);
        assert_eq!(pasted, typed);
    }

    #[test]
    fn plain_words_stay_bare_and_others_are_quoted() {
        let cases = [
            ("--lr", "--lr"),
            ("/src/dir/train.py", "/src/dir/train.py"),
            ("", "''"),
            ("a b", "'a b'"),
            ("it's", "\"it's\""),
            // As a first word, `A=b` would be an assignment and `%1` a job.
            ("A=b", "'A=b'"),
            ("%1", "'%1'"),
        ];
        for (word, quoted) in cases {
            assert_eq!(quote(word), quoted, "{word:?}");
        }
        assert_eq!(join(&["python3", "x y"]), "python3 'x y'");
    }
}
