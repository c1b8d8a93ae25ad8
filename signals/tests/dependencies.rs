//! The core's own dependency set: what a program that uses only `#[signal]`,
//! `#[receiver]` and `Signal` compiles. The core stays lean on purpose (no
//! serde, no serde_json, no hostname or libc code); a crate that joins this
//! list should be a choice, made here, not an accident of a new `use`.

use std::collections::BTreeSet;
use std::process::Command;

/// Every crate the core builds with (normal and build dependencies, on this
/// platform), itself included.
const ALLOWED: &[&str] = &[
    "arc-swap",
    "foldhash",
    "futures-core",
    "futures-task",
    "futures-util",
    "inventory",
    "once_cell",
    "pin-project-lite",
    "proc-macro2",
    "quote",
    "rustversion",
    "signals-dispatch",
    "signals-dispatch-macros",
    "slab",
    "smallvec",
    "syn",
    "thiserror",
    "thiserror-impl",
    "tracing",
    "tracing-core",
    "unicode-ident",
];

/// Crates the core must never pull in, whatever else changes.
const FORBIDDEN: &[&str] = &[
    "serde",
    "serde_json",
    "serde_derive",
    "indexmap",
    "gethostname",
    "libc",
    "tracing-attributes",
];

fn core_dependencies() -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "-p",
            "signals-dispatch",
            "-e",
            "normal,build",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_core_depends_on_no_serde_hostname_or_libc_crate() {
    let found = core_dependencies();
    let forbidden: Vec<&str> = FORBIDDEN
        .iter()
        .copied()
        .filter(|name| found.contains(*name))
        .collect();
    assert!(
        forbidden.is_empty(),
        "the core pulls in {forbidden:?}: that belongs in signals-celery"
    );
}

#[test]
fn the_core_depends_on_exactly_the_listed_crates() {
    let found = core_dependencies();
    let allowed: BTreeSet<String> = ALLOWED.iter().map(|name| (*name).to_owned()).collect();
    let added: Vec<&String> = found.difference(&allowed).collect();
    let gone: Vec<&String> = allowed.difference(&found).collect();
    assert!(
        added.is_empty() && gone.is_empty(),
        "the core's dependencies changed: added {added:?}, gone {gone:?}; \
         update ALLOWED in this file if that is intended"
    );
}
