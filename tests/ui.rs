//! Compile-time checks of `#[signal]` and `#[receiver]`: every case in
//! `ui-tests/fail/` must fail with exactly its `.stderr`, every case in
//! `ui-tests/pass/` must compile and run. Regenerate the `.stderr` files with
//! `TRYBUILD=overwrite cargo test --test ui` after a deliberate change.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui-tests/fail/*.rs");
    cases.pass("ui-tests/pass/*.rs");
}
