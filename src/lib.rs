//! Hosts the workspace tests.
