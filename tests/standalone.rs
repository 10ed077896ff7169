//! The repository stands alone: nothing it runs may read a path outside the
//! checkout (a sibling `shared` folder, a machine's home or work directory).
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Paths that exist on a developer's machine but not in a user's clone.
/// Built from pieces so this file does not match itself.
fn forbidden() -> Vec<String> {
    let up = "..";
    vec![
        format!("{up}/shared"),
        format!("/{}/", "work"),
        format!("/{}/", "root"),
        format!("/{}/", "home"),
    ]
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn code_tests_scripts_and_configs_name_no_path_outside_the_checkout() {
    let root = repo();
    let mut files = vec![root.join("build.rs"), root.join(".ci/run")];
    for dir in ["src", "tests", "scripts", "configs", "benches", ".cargo"] {
        files_under(&root.join(dir), &mut files);
    }
    let patterns = forbidden();
    let mut hits = Vec::new();
    let mut read = 0;
    for f in &files {
        // Binary media cannot name paths; only text is read.
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        read += 1;
        for (n, line) in text.lines().enumerate() {
            if patterns.iter().any(|p| line.contains(p.as_str())) {
                hits.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        read > 20,
        "only {read} text files found under {}",
        root.display()
    );
    assert!(
        hits.is_empty(),
        "paths outside the checkout:\n{}",
        hits.join("\n")
    );
}
