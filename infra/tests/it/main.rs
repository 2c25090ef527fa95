//! `emo-infra`'s integration tests: one binary, modules per subject.

mod cloud;
mod emo_gif;
mod env;
mod local_server;
mod logs;
mod openapi;
mod secrets;
