//! The shape of the code, checked like behaviour: imports that run one way
//! between `src/`'s folders, a file tree a reader can walk, `unsafe` only
//! where it cannot be avoided, and docs whose links and paths exist.
//!
//! ARCHITECTURE.md states these as invariants; this is what keeps them true.

use std::fs;
use std::path::{Path, PathBuf};

/// The folders of `src/`, and the folders each may import from: the layers
/// of ARCHITECTURE.md, bottom first.
const LAYERS: [(&str, &[&str]); 10] = [
    ("sys", &[]),
    ("export", &[]),
    ("http", &["export"]),
    ("measure", &["export", "http"]),
    ("defense", &["sys", "export", "http", "measure"]),
    ("strategy", &["export", "http", "measure", "defense"]),
    (
        "server",
        &["sys", "export", "http", "measure", "defense", "strategy"],
    ),
    ("client", &["sys", "export", "http"]),
    ("demo", &["export", "http", "measure", "client"]),
    (
        "cli",
        &[
            "sys", "export", "http", "measure", "defense", "strategy", "server", "client", "demo",
        ],
    ),
];

/// `lib.rs`'s module of helpers for the unit tests of several layers:
/// compiled only for tests, it imports nothing of the crate, so any layer's
/// tests may use it.
const TEST_SUPPORT: &str = "test_support";

/// The only files that may say `unsafe`.
const UNSAFE_ALLOWED: [&str; 2] = ["src/measure/counting_alloc.rs", "src/sys.rs"];

/// The one file that may declare or define a foreign function: `unsafe`
/// is allowed in the allocator too, but a C call there would be one
/// `sys.rs` does not list.
const FFI_ALLOWED: &str = "src/sys.rs";

/// Most entries directly in `src/` besides `lib.rs` and `main.rs`.
const MAX_TOP_LEVEL_ENTRIES: usize = 12;
/// Most lines in one source file.
const MAX_FILE_LINES: usize = 700;
/// Most lines in the README: the first read.
const MAX_README_LINES: usize = 250;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, with its text.
fn rust_files(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).expect("a readable folder") {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = fs::read_to_string(&path).expect("a readable file");
                files.push((path, text));
            }
        }
    }
    files.sort();
    files
}

/// `src/strategy/mod.rs` → `src/strategy/mod.rs` relative to the crate.
fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The top-level folders a file's code (not its comments) names as
/// `crate::folder`, grouped imports (`crate::{a, b::c}`) included.
fn imported_folders(text: &str) -> Vec<String> {
    let mut folders = Vec::new();
    let mut add = |name: &str| {
        let name: String = name
            .trim()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() && !folders.contains(&name) {
            folders.push(name);
        }
    };
    // Comments dropped, lines joined: a grouped import may span lines.
    let code: String = text
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join(" ");
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        match rest.strip_prefix('{') {
            None => add(rest),
            Some(group) => {
                // Top-level names of the group: after `{` and each `,` at depth 0.
                let mut depth = 0;
                let mut start = 0;
                for (i, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => {
                            add(&group[start..i]);
                            break;
                        }
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            add(&group[start..i]);
                            start = i + 1;
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    folders
}

#[test]
fn imports_between_folders_run_one_way() {
    let mut upward = Vec::new();
    for (path, text) in rust_files(&root().join("src")) {
        let file = relative(&path);
        let Some(in_src) = file.strip_prefix("src/") else {
            continue;
        };
        // A folder's files, or a top-level file such as sys.rs by its name;
        // lib.rs and main.rs may use everything.
        let folder = match in_src.split_once('/') {
            Some((folder, _)) => folder,
            None if matches!(in_src, "lib.rs" | "main.rs") => continue,
            None => in_src.trim_end_matches(".rs"),
        };
        let Some((_, allowed)) = LAYERS.iter().find(|(name, _)| *name == folder) else {
            panic!("{file}: the folder {folder} is in no layer of this test or ARCHITECTURE.md");
        };
        for imported in imported_folders(&text) {
            if imported != folder
                && imported != TEST_SUPPORT
                && !allowed.contains(&imported.as_str())
            {
                upward.push(format!("{file} imports crate::{imported}"));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports against the layers:\n{}",
        upward.join("\n")
    );
}

/// What a folder's code (not its comments) must never name, and why.
const NEVER_NAMED: [(&str, &[&str], &str); 2] = [
    (
        "http",
        &[
            "TcpStream",
            "TcpListener",
            "UdpSocket",
            "std::net",
            "std::thread",
            "thread::",
            "Instant",
            "SystemTime",
        ],
        "http/ is bytes only: no socket, no thread, no clock",
    ),
    (
        "strategy",
        &["TcpStream"],
        "a strategy writes to any io::Write",
    ),
];

#[test]
fn folders_keep_their_promises() {
    for (folder, words, promise) in NEVER_NAMED {
        for (path, text) in rust_files(&root().join("src").join(folder)) {
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                for word in words {
                    assert!(
                        !code.contains(word),
                        "{}:{}: names {word}, but {promise}",
                        relative(&path),
                        n + 1
                    );
                }
            }
        }
    }
}

/// The folders a client's request runs through.
const SERVING: [&str; 6] = ["export", "http", "measure", "defense", "strategy", "server"];

/// No path a client can reach writes stdout or stderr itself: a pipe that
/// nobody reads would block it, and `eprintln!` panics when the write
/// fails. Lines go through the logger's bounded queue, whose thread is the
/// one writer.
#[test]
fn only_the_logger_writes_stderr() {
    // `println!` holds `eprintln!` too, and `print!(` holds `eprint!(`;
    // `dbg!` writes stderr as they do.
    let writers = ["println!", "print!(", "dbg!", "io::stderr", "io::stdout"];
    for folder in SERVING {
        for (path, text) in rust_files(&root().join("src").join(folder)) {
            if relative(&path) == "src/measure/log.rs" {
                continue;
            }
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                for word in writers {
                    assert!(
                        !code.contains(word),
                        "{}:{}: writes with {word}; use measure::log::line",
                        relative(&path),
                        n + 1
                    );
                }
            }
        }
    }
}

/// The one file whose queue may grow without bound: the bug, kept on
/// purpose.
const UNBOUNDED_ALLOWED: &str = "src/strategy/unbounded.rs";

/// `mpsc::channel()` has no capacity, so every other queue between two
/// threads is a `sync_channel(n)`, whose `n` is its bound: only the
/// `unbounded` strategy makes one, to be measured. Unit tests may (what
/// they queue ends with them): a file is read up to its test module.
#[test]
fn only_the_bug_queues_without_bound() {
    for (path, text) in rust_files(&root().join("src")) {
        if relative(&path) == UNBOUNDED_ALLOWED {
            continue;
        }
        let code = code_of(&text);
        let mut lines = code.lines().enumerate().peekable();
        while let Some((n, line)) = lines.next() {
            let test_module = lines.peek().is_some_and(|(_, next)| next.contains("mod "));
            if line.trim() == "#[cfg(test)]" && test_module {
                break;
            }
            assert!(
                !makes_a_channel(line),
                "{}:{}: an unbounded channel; use sync_channel(n), n its bound",
                relative(&path),
                n + 1
            );
        }
    }
}

/// Whether `code` calls `channel`, with or without a turbofish, however
/// the call ends (a `;`, a `?`, the last expression of a block): the
/// word preceded by `sync_` is the bounded one.
fn makes_a_channel(code: &str) -> bool {
    code.match_indices("channel").any(|(at, word)| {
        let after = &code[at + word.len()..];
        let named_alone = !code[..at].ends_with(|c: char| c == '_' || c.is_alphanumeric());
        named_alone && (after.starts_with('(') || after.starts_with("::<"))
    })
}

/// `text` as its code alone, line for line: `//` comments dropped and
/// string literals emptied, so that `channel()` in prose or in the index
/// page's table of modes is not taken for a call. Char literals (`'"'`,
/// `'\''`) are skipped whole; `src/` has no raw strings.
fn code_of(text: &str) -> String {
    let mut code = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                code.push_str("\"\"");
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        // Kept, so that line numbers stay true.
                        '\n' => code.push('\n'),
                        _ => {}
                    }
                }
            }
            '\'' => {
                let mut ahead = chars.clone();
                match (ahead.next(), ahead.next()) {
                    // An escaped char literal: up to its closing quote.
                    (Some('\\'), _) => {
                        chars.next();
                        chars.next();
                        for c in chars.by_ref() {
                            if c == '\'' {
                                break;
                            }
                        }
                    }
                    // A char literal of one char.
                    (Some(_), Some('\'')) => {
                        chars.next();
                        chars.next();
                    }
                    // A lifetime.
                    _ => code.push(c),
                }
            }
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        code.push('\n');
                        break;
                    }
                }
            }
            _ => code.push(c),
        }
    }
    code
}

#[test]
fn the_unbounded_channel_check_sees_calls_and_not_prose() {
    let calls = [
        "let (tx, rx) = mpsc::channel();",
        "    std::sync::mpsc::channel()",
        "let (tx, rx) = mpsc::channel::<Vec<u8>>();",
        "let (tx, rx) = channel();",
    ];
    for call in calls {
        assert!(makes_a_channel(&code_of(call)), "missed: {call}");
    }
    let not_calls = [
        "let (tx, rx) = mpsc::sync_channel(1);",
        "let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(1);",
        "// an mpsc::channel() here would be the bug",
        "let row = \"producer -> mpsc::channel() -> writer\";",
        "let quote = '\"'; let page = \"mpsc::channel()\";",
        "let text = \"a \\\" then channel()\";",
        "fn f<'a>(x: &'a str) {} // channel()",
        "let answer_channel = 1;",
    ];
    for line in not_calls {
        assert!(!makes_a_channel(&code_of(line)), "taken for a call: {line}");
    }
    // A string over two lines keeps both, so that a call after it is
    // reported at its own line.
    let text = "let page = \"one\ntwo\";\nlet (tx, rx) = mpsc::channel();";
    let lines: Vec<bool> = code_of(text).lines().map(makes_a_channel).collect();
    assert_eq!(lines, [false, false, true], "{text}");
}

#[test]
fn the_tree_is_walkable() {
    let entries: Vec<String> = fs::read_dir(root().join("src"))
        .expect("src/")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name != "lib.rs" && name != "main.rs")
        .collect();
    assert!(entries.len() <= MAX_TOP_LEVEL_ENTRIES, "{entries:?}");
    for (path, text) in rust_files(&root().join("src")) {
        let lines = text.lines().count();
        assert!(
            lines <= MAX_FILE_LINES,
            "{}: {lines} lines",
            relative(&path)
        );
        assert!(
            text.starts_with("//!"),
            "{}: every file opens with a //! that explains its concept",
            relative(&path)
        );
    }
}

/// Nothing but Rust in `src/`: a stray file there (a patch's `.orig`, a
/// copy kept "just in case") is compiled by no one and misleads whoever
/// reads the folder as the map of the code. Hidden files, an editor's
/// while it edits, are not the tree's.
#[test]
fn src_holds_only_rust() {
    let mut dirs = vec![root().join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).expect("a readable folder") {
            let path = entry.expect("a folder entry").path();
            let hidden = path
                .file_name()
                .is_some_and(|n| n.as_encoded_bytes()[0] == b'.');
            if path.is_dir() {
                dirs.push(path);
            } else if !hidden {
                let rust = path.extension().is_some_and(|e| e == "rs");
                assert!(rust, "{}: not Rust", relative(&path));
            }
        }
    }
}

#[test]
fn unsafe_only_where_it_cannot_be_avoided() {
    for (path, text) in rust_files(&root().join("src")) {
        let file = relative(&path);
        let says_unsafe = text
            .lines()
            .map(|line| line.split("//").next().unwrap_or_default())
            .any(|code| {
                code.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                    .any(|w| w == "unsafe")
            });
        if says_unsafe {
            assert!(
                UNSAFE_ALLOWED.contains(&file.as_str()),
                "{file} uses unsafe"
            );
            for (n, line) in text.lines().enumerate() {
                if line.contains("unsafe {") {
                    let before = &text.lines().collect::<Vec<_>>()[n.saturating_sub(4)..n];
                    assert!(
                        before.iter().any(|l| l.contains("// SAFETY:")),
                        "{file}:{}: an unsafe block without a // SAFETY: comment",
                        n + 1
                    );
                }
            }
        }
    }
}

/// ARCHITECTURE.md: "`sys.rs` is the one file that calls C". An `extern`
/// block, an `extern "C" fn` or a `#[link]` anywhere else fails, though
/// `unsafe_only_where_it_cannot_be_avoided` would pass one in the
/// allocator's file. A pointer's type, `extern "C" fn(…)` (the signal
/// handler's field in `sys/ffi.rs`'s `struct sigaction`), calls nothing.
#[test]
fn only_sys_calls_c() {
    for (path, text) in rust_files(&root().join("src")) {
        let file = relative(&path);
        if file == FFI_ALLOWED {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            let code = code.replace("extern \"C\" fn()", "");
            for word in ["extern \"", "extern {", "#[link"] {
                assert!(
                    !code.contains(word),
                    "{file}:{}: says {word}, but only {FFI_ALLOWED} calls C",
                    n + 1
                );
            }
        }
    }
}

#[test]
fn the_readme_fits_the_first_read() {
    let readme = fs::read_to_string(root().join("README.md")).expect("README.md");
    let lines: Vec<&str> = readme.lines().collect();
    assert!(lines.len() <= MAX_README_LINES, "{} lines", lines.len());
    let table = lines
        .iter()
        .position(|l| l.starts_with("| `buffer` |"))
        .expect("the strategies table");
    assert!(
        table < 100,
        "the strategies table starts at line {}",
        table + 1
    );
    for command in ["cargo run --release", "cargo test"] {
        assert!(readme.contains(command), "{command}");
    }
}

/// Every `src/…`, `tests/…`, `benches/…` or `docs/…` path named in `text`
/// between backticks, or in a comment, that does not exist.
fn missing_paths(text: &str) -> Vec<String> {
    let mut missing = Vec::new();
    let mut check = |piece: &str| {
        // The path itself: from its first letter, up to the first character
        // no path here has, less a sentence's final full stop.
        let in_path = |c: char| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '.' | '-');
        let piece = piece.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
        let piece = piece
            .split(|c: char| !in_path(c))
            .next()
            .unwrap_or_default();
        let piece = piece.trim_end_matches('.');
        let named = ["src/", "tests/", "benches/", "docs/"]
            .iter()
            .any(|p| piece.starts_with(p));
        if named && !piece.contains(' ') && !root().join(piece).exists() {
            missing.push(piece.to_string());
        }
    };
    for piece in text.split('`').skip(1).step_by(2) {
        check(piece);
    }
    for line in text.lines().filter(|l| l.trim_start().starts_with("//")) {
        line.split_whitespace().for_each(&mut check);
    }
    missing
}

#[test]
fn code_comments_name_only_what_exists() {
    for folder in ["src", "tests", "benches"] {
        for (path, text) in rust_files(&root().join(folder)) {
            let missing = missing_paths(&text);
            assert!(missing.is_empty(), "{}: {missing:?}", relative(&path));
        }
    }
}

/// Every relative link in the Markdown files points at a file, every
/// `src/…`, `tests/…`, `benches/…` or `docs/…` path they name exists, and
/// every test or function they name between backticks (a snake_case word
/// of four parts or more, such as `a_head_that_fails_is_not_a_response`)
/// is still spelled somewhere in the code: a renamed test leaves a reader
/// looking for nothing.
#[test]
fn docs_name_only_what_exists() {
    let code: String = ["src", "tests", "benches"]
        .iter()
        .flat_map(|folder| rust_files(&root().join(folder)))
        .map(|(_, text)| text)
        .collect();
    let snake_case = |piece: &str| {
        piece.matches('_').count() >= 3
            && piece.starts_with(|c: char| c.is_ascii_lowercase())
            && piece
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    let mut docs = vec![root().join("README.md"), root().join("ARCHITECTURE.md")];
    for entry in fs::read_dir(root().join("docs")).expect("docs/") {
        let path = entry.expect("an entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            docs.push(path);
        }
    }
    let mut missing = Vec::new();
    for doc in docs {
        let text = fs::read_to_string(&doc).expect("a readable doc");
        let folder = doc.parent().expect("a folder").to_path_buf();
        for (at, _) in text.match_indices("](") {
            let target: String = text[at + 2..].chars().take_while(|&c| c != ')').collect();
            let target = target.split('#').next().unwrap_or_default();
            if target.is_empty() || target.starts_with("http") {
                continue;
            }
            if !folder.join(target).exists() {
                missing.push(format!("{}: link {target}", relative(&doc)));
            }
        }
        for piece in text.split('`').skip(1).step_by(2) {
            let named = ["src/", "tests/", "benches/", "docs/"]
                .iter()
                .any(|p| piece.starts_with(p));
            if named && !piece.contains(' ') && !root().join(piece).exists() {
                missing.push(format!("{}: path {piece}", relative(&doc)));
            }
            if snake_case(piece) && !code.contains(piece) {
                missing.push(format!("{}: name {piece}", relative(&doc)));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
