//! Lines a user pastes into a shell, in the shell of their OS: POSIX `sh` on macOS and Linux,
//! PowerShell on Windows (the default shell of Windows Terminal; 5.1 ships with Windows,
//! 7.x is the current one).
//!
//! Invariants: every word is quoted for the shell it is printed for (`shlex` for POSIX; for
//! PowerShell single quotes, which expand nothing, with `'` doubled); a JSON argument given to
//! a native program from PowerShell survives both argument-passing modes (see
//! [`Shell::native_json_command`]); a path to a program with a space runs through PowerShell's `&`.
//!
//! The PowerShell quoting is written here rather than taken from a crate: the crates that
//! quote for PowerShell (none well kept that we found) stop at single quotes, while the
//! `add-json` case needs the native-argument rules below as well.

use super::paths::Os;

/// The shell a printed line is meant for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    Posix,
    PowerShell,
}

impl Shell {
    pub fn for_os(os: Os) -> Self {
        match os {
            Os::Windows => Shell::PowerShell,
            Os::MacOs | Os::Linux => Shell::Posix,
        }
    }

    /// One word, quoted when it needs to be.
    pub fn quote(self, s: &str) -> String {
        match self {
            Shell::Posix => shlex::try_quote(s)
                .map(|c| c.into_owned())
                .unwrap_or_else(|_| s.to_string()),
            Shell::PowerShell => {
                // Bare words: letters, digits and `_-./\:=+`, not starting with `-` twice (`--`
                // alone is PowerShell's end-of-parameters token, which a .ps1 shim such as
                // npm's claude.ps1 swallows) and not empty.
                let bare = !s.is_empty()
                    && s != "--"
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_-./\\:=+".contains(c));
                if bare {
                    s.to_string()
                } else {
                    // Inside single quotes only a quote is special (also the typographic
                    // ones PowerShell accepts as quotes); doubling it escapes it.
                    let mut q = String::with_capacity(s.len() + 2);
                    q.push('\'');
                    for c in s.chars() {
                        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}') {
                            q.push(c);
                        }
                        q.push(c);
                    }
                    q.push('\'');
                    q
                }
            }
        }
    }

    /// A command line: the program (through `&` in PowerShell when it must be quoted), then
    /// its arguments.
    pub fn command(self, program: &str, args: &[String]) -> String {
        let mut words = vec![self.quote(program)];
        if self == Shell::PowerShell && words[0].starts_with('\'') {
            words[0] = format!("& {}", words[0]);
        }
        words.extend(args.iter().map(|a| self.quote(a)));
        words.join(" ")
    }

    /// Sets `var` for the commands that follow in this shell (POSIX: for one command, as a
    /// prefix, so the line reads `VAR=… command`).
    pub fn set_env(self, var: &str, value: &str) -> String {
        match self {
            Shell::Posix => format!("{var}={value}"),
            Shell::PowerShell => format!("$env:{var} = {}", Shell::PowerShell.quote(value)),
        }
    }

    /// Joins a variable setting and a command the way this shell reads them on one line.
    pub fn with_env(self, set: &str, command: &str) -> String {
        match self {
            Shell::Posix => format!("{set} {command}"),
            Shell::PowerShell => format!("{set}; {command}"),
        }
    }

    /// How to set a variable in this shell, for a message (`export VAR=…` or `$env:VAR = '…'`).
    pub fn export_line(self, var: &str) -> String {
        match self {
            Shell::Posix => format!("export {var}=…"),
            Shell::PowerShell => format!("$env:{var} = '…'"),
        }
    }

    /// The shell's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Shell::Posix => "shell",
            Shell::PowerShell => "PowerShell",
        }
    }

    /// A command whose one argument is JSON, for a native program (`claude mcp add-json`).
    ///
    /// POSIX: the JSON single-quoted. PowerShell: Windows PowerShell 5.1 passes arguments to
    /// native programs without escaping their double quotes (the "legacy" mode), so the
    /// program's C runtime strips them and `{"type":"stdio"}` arrives as `{type:stdio}`;
    /// PowerShell 7.3+ escapes them itself ("standard" mode) except for `.cmd`/`.bat` files
    /// (npm's `claude.cmd`), where it falls back to legacy. No one spelling of the argument
    /// is right in both modes, so the line selects legacy mode for itself, in a script block
    /// so the setting does not outlive the line (5.1 has no such variable and is legacy
    /// anyway), and escapes the JSON for the C runtime's rules (`\"`, with the backslashes
    /// before a quote doubled). This needs no `--%` (which would stop PowerShell from
    /// expanding nothing but also from quoting paths with spaces) and reads the same in 5.1
    /// and 7.x.
    pub fn native_json_command(self, program: &str, args: &[String], json: &str) -> String {
        match self {
            Shell::Posix => {
                let mut all = args.to_vec();
                all.push(json.to_string());
                self.command(program, &all)
            }
            Shell::PowerShell => {
                let mut line = self.command(program, args);
                line.push(' ');
                line.push_str(&self.quote(&crt_escape(json)));
                format!("& {{ $PSNativeCommandArgumentPassing = 'Legacy'; {line} }}")
            }
        }
    }
}

/// Escapes `s` so that the Microsoft C runtime's command-line parser (`CommandLineToArgvW`,
/// which Node, Rust and most programs use) gives back `s` when PowerShell's legacy mode puts
/// it on the command line as is (wrapped in `"…"` when it holds a space): each `"` becomes
/// `\"` and the backslashes just before a quote are doubled, as are those at the end when the
/// whole word will be wrapped in quotes.
pub fn crt_escape(s: &str) -> String {
    let wrapped = s.contains([' ', '\t']);
    let mut out = String::with_capacity(s.len() + 8);
    let mut backslashes = 0usize;
    for c in s.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                out.extend(std::iter::repeat_n('\\', backslashes * 2 + 1));
                out.push('"');
                backslashes = 0;
            }
            _ => {
                out.extend(std::iter::repeat_n('\\', backslashes));
                out.push(c);
                backslashes = 0;
            }
        }
    }
    let tail = if wrapped {
        backslashes * 2
    } else {
        backslashes
    };
    out.extend(std::iter::repeat_n('\\', tail));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PowerShell's reading of one single-quoted or bare word (all [`Shell::quote`] makes).
    fn ps_unquote(w: &str) -> String {
        match w.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
            Some(inner) => {
                let mut out = String::new();
                let mut chars = inner.chars().peekable();
                while let Some(c) = chars.next() {
                    out.push(c);
                    if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}') {
                        assert!(chars.next().is_some(), "a lone quote in {w}");
                    }
                }
                out
            }
            None => {
                assert!(
                    !w.contains(['\'', '"', '$', '`', ' ', ',', ';', '(', '@', '&', '|']),
                    "{w}"
                );
                w.to_string()
            }
        }
    }

    /// PowerShell's legacy mode: each argument as is, wrapped in `"` when it holds a space.
    fn legacy_join(args: &[String]) -> String {
        args.iter()
            .map(|a| {
                if a.contains([' ', '\t']) {
                    format!("\"{a}\"")
                } else {
                    a.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The Microsoft C runtime's split of a command line (after the program name).
    fn crt_split(line: &str) -> Vec<String> {
        let mut args = Vec::new();
        let mut cur = String::new();
        let mut in_quotes = false;
        let mut have = false;
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\\' {
                let mut n = 0;
                while i < chars.len() && chars[i] == '\\' {
                    n += 1;
                    i += 1;
                }
                if i < chars.len() && chars[i] == '"' {
                    cur.extend(std::iter::repeat_n('\\', n / 2));
                    if n % 2 == 1 {
                        cur.push('"');
                        i += 1;
                    }
                } else {
                    cur.extend(std::iter::repeat_n('\\', n));
                }
                have = true;
                continue;
            }
            if c == '"' {
                in_quotes = !in_quotes;
                have = true;
            } else if (c == ' ' || c == '\t') && !in_quotes {
                if have {
                    args.push(std::mem::take(&mut cur));
                    have = false;
                }
            } else {
                cur.push(c);
                have = true;
            }
            i += 1;
        }
        if have {
            args.push(cur);
        }
        args
    }

    #[test]
    fn words_are_quoted_for_each_shell() {
        let hard = [
            "plain",
            "--",
            "X-API-Key: ${VPS_KEY}",
            "it's",
            "C:\\Program Files\\wazion-mcp\\wazion-mcp.exe",
            "a,b",
            "@x",
            "$env:X",
            "‘smart’",
            "",
        ];
        for w in hard {
            let p = Shell::PowerShell.quote(w);
            assert_eq!(ps_unquote(&p), w, "{p}");
            let s = Shell::Posix.quote(w);
            assert_eq!(shlex::split(&s).unwrap_or_default().concat(), w, "{s}");
        }
        assert_eq!(
            Shell::PowerShell.quote("--"),
            "'--'",
            "a .ps1 shim would eat a bare --"
        );
        assert_eq!(
            Shell::PowerShell.quote("https://wa.example/mcp"),
            "https://wa.example/mcp"
        );
        assert_eq!(
            Shell::PowerShell.command(r"C:\Program Files\w\wazion-mcp.exe", &["check".into()]),
            r"& 'C:\Program Files\w\wazion-mcp.exe' check"
        );
        assert_eq!(
            Shell::PowerShell.command(r"C:\w\wazion-mcp.exe", &["check".into()]),
            r"C:\w\wazion-mcp.exe check"
        );
        assert_eq!(
            Shell::PowerShell.set_env("WAZION_TOKEN", "…"),
            "$env:WAZION_TOKEN = '…'"
        );
        assert_eq!(Shell::Posix.set_env("WAZION_TOKEN", "…"), "WAZION_TOKEN=…");
        assert_eq!(Shell::for_os(Os::Windows), Shell::PowerShell);
        assert_eq!(Shell::for_os(Os::MacOs), Shell::Posix);
    }

    /// Issue 18 §4: the add-json JSON reaches the program intact through PowerShell's legacy
    /// argument passing (5.1, and 7.x for the line as printed) and the C runtime's split.
    #[test]
    fn add_json_survives_powershell_legacy_argument_passing() {
        let jsons = [
            r#"{"type":"stdio","command":"C:\\Users\\ana\\AppData\\Local\\Programs\\wazion-mcp\\wazion-mcp.exe","args":[],"env":{"WAZION_TOKEN":"<paste your token here>"}}"#,
            r#"{"type":"stdio","command":"C:\\dir\\","args":["--header","X-K: ${K}"]}"#,
            r#"{"a":"quote \" inside","b":"\\\\server\\share"}"#,
            r#"{"nospace":"x"}"#,
        ];
        for json in jsons {
            let line = Shell::PowerShell.native_json_command(
                "claude",
                &["mcp".into(), "add-json".into(), "wazion".into()],
                json,
            );
            let inner = line
                .strip_prefix(
                    "& { $PSNativeCommandArgumentPassing = 'Legacy'; claude mcp add-json wazion ",
                )
                .and_then(|r| r.strip_suffix(" }"))
                .unwrap_or_else(|| panic!("{line}"));
            // What PowerShell hands the program, then what the program reads.
            let arg = ps_unquote(inner);
            let argv = crt_split(&format!("mcp add-json wazion {}", legacy_join(&[arg])));
            assert_eq!(argv.len(), 4, "{argv:?}");
            assert_eq!(argv[3], json, "{line}");
            let v: serde_json::Value = serde_json::from_str(&argv[3]).expect("JSON");
            assert!(v.is_object());
            // Without the escaping, legacy mode loses the quotes (the bug being avoided).
            let naive = crt_split(&legacy_join(&[json.to_string()]));
            assert_ne!(naive.concat(), json);
        }
        let posix = Shell::Posix.native_json_command("claude", &["mcp".into()], r#"{"a":"b c"}"#);
        assert_eq!(
            shlex::split(&posix).unwrap(),
            ["claude", "mcp", r#"{"a":"b c"}"#]
        );
    }
}
