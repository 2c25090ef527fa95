//! `emo-infra`'s integration tests: one binary, modules per subject.

mod dashscope;
mod local_server;
