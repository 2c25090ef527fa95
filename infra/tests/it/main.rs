//! `emo-infra`'s integration tests: one binary, modules per subject.

mod dashscope;
mod env;
mod faults;
mod jobs;
mod local_server;
mod openapi;
