//! The integration tests: one binary, one module per area.

mod config;
mod space_props;
