//! `emo-infra`'s integration tests: one binary, modules per subject.

mod cloud;
mod dashscope;
mod emo_gif;
mod env;
mod faults;
mod jobs;
mod limits;
mod local_server;
mod logs;
mod openapi;
mod secrets;
