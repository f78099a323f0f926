//! Integration tests: the real `ferry` binary in a temporary project folder per test.
//! One test binary gathering modules (as ripgrep's tests/tests.rs).

mod cli {
    pub mod workdir;

    mod audit;
    mod check;
    mod decisions;
    mod dedupe;
    mod delta;
    mod demo;
    mod errors;
    mod evolve;
    mod functions;
    mod generated;
    mod init;
    mod legacydb;
    mod load;
    mod phi;
    mod profile;
    mod run;
    mod runbook;
    mod safety;
    mod sheets;
    mod signoff;
    mod smart;
    mod sql;
    mod stage;
    mod trail;
    mod verify;
}
