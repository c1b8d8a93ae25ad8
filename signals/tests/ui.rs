//! Compile-time checks of `#[signal]` and `#[receiver]`: every case in
//! `tests/ui/fail/` must fail with exactly its `.stderr`, every case in
//! `tests/ui/pass/` must compile and run. Regenerate the `.stderr` files with
//! `TRYBUILD=overwrite cargo test --test ui` after a deliberate change.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/fail/*.rs");
    cases.pass("tests/ui/pass/*.rs");
}
