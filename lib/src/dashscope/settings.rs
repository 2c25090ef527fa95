//! DashScope's endpoint, key and models: `DASHSCOPE_API_KEY`, `DASHSCOPE_API_KEY_SECRET_ID`,
//! `DASHSCOPE_BASE_URL`, `DASHSCOPE_T2V_MODEL`, `DASHSCOPE_I2V_MODEL`, `DASHSCOPE_TEXT_MODEL`,
//! `DASHSCOPE_TIMEOUT_SECS`, `DASHSCOPE_VIDEO_HOSTS`. Read only by the processes that run jobs.

use std::time::Duration;

use super::DashScopeConfig;
use super::{
    DEFAULT_BASE_URL, DEFAULT_I2V_MODEL, DEFAULT_T2V_MODEL, DEFAULT_TEXT_MODEL, VideoHosts,
};
use crate::settings::{Env, SettingsError, bad};
use crate::store::Backend;

#[derive(Clone)]
pub struct DashScopeSettings {
    /// `DASHSCOPE_API_KEY`. Without it (and without a secret id) the local server runs the
    /// offline stand-in.
    pub api_key: Option<String>,
    /// `DASHSCOPE_API_KEY_SECRET_ID`: the Secrets Manager secret holding the key, read at run
    /// time (aws backend only).
    pub api_key_secret_id: Option<String>,
    pub base_url: String,
    pub t2v_model: String,
    pub i2v_model: String,
    pub text_model: String,
    /// `DASHSCOPE_TIMEOUT_SECS`: the most one DashScope call may take.
    pub timeout: Duration,
    /// `DASHSCOPE_VIDEO_HOSTS`: the hosts a finished video may be downloaded from, comma
    /// separated (patterns as in [`VideoHosts`]); default DashScope's result buckets
    /// ([`super::DEFAULT_VIDEO_HOSTS`]). Whatever points Emo at a stand-in lists its host here.
    pub video_hosts: VideoHosts,
}

impl std::fmt::Debug for DashScopeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DashScopeSettings")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("api_key_secret_id", &self.api_key_secret_id)
            .field("base_url", &self.base_url)
            .field("t2v_model", &self.t2v_model)
            .field("i2v_model", &self.i2v_model)
            .field("text_model", &self.text_model)
            .field("timeout", &self.timeout)
            .field("video_hosts", &self.video_hosts)
            .finish()
    }
}

impl DashScopeSettings {
    pub fn from_env(env: &Env<'_>, backend: Backend) -> Result<Self, SettingsError> {
        let api_key = env.get("DASHSCOPE_API_KEY");
        Ok(Self {
            api_key_secret_id: crate::secrets::secret_id(
                env,
                backend,
                "DASHSCOPE_API_KEY_SECRET_ID",
                api_key.is_some(),
                "DASHSCOPE_API_KEY",
            )?,
            api_key,
            base_url: env
                .get("DASHSCOPE_BASE_URL")
                .unwrap_or_else(|| DEFAULT_BASE_URL.into()),
            t2v_model: env
                .get("DASHSCOPE_T2V_MODEL")
                .unwrap_or_else(|| DEFAULT_T2V_MODEL.into()),
            i2v_model: env
                .get("DASHSCOPE_I2V_MODEL")
                .unwrap_or_else(|| DEFAULT_I2V_MODEL.into()),
            text_model: env
                .get("DASHSCOPE_TEXT_MODEL")
                .unwrap_or_else(|| DEFAULT_TEXT_MODEL.into()),
            timeout: env.secs("DASHSCOPE_TIMEOUT_SECS", 30, 1..=300)?,
            video_hosts: match env.get("DASHSCOPE_VIDEO_HOSTS") {
                None => VideoHosts::default(),
                Some(list) => VideoHosts::parse(&list).map_err(|why| {
                    bad(
                        "DASHSCOPE_VIDEO_HOSTS",
                        format!("not a list of host patterns: {why}"),
                    )
                })?,
            },
        })
    }

    /// The client's configuration for `api_key`.
    pub fn client_config(&self, api_key: String) -> DashScopeConfig {
        DashScopeConfig {
            base_url: self.base_url.clone(),
            t2v_model: self.t2v_model.clone(),
            i2v_model: self.i2v_model.clone(),
            text_model: self.text_model.clone(),
            timeout: self.timeout,
            video_hosts: self.video_hosts.clone(),
            ..DashScopeConfig::new(api_key)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::with_vars;

    #[test]
    fn the_key_comes_from_one_place_and_secrets_manager_only_on_aws() {
        let read = |backend, vars: &[(&str, &str)]| {
            with_vars(vars, |env| DashScopeSettings::from_env(env, backend))
        };
        let both = [
            ("DASHSCOPE_API_KEY", "sk-plain"),
            ("DASHSCOPE_API_KEY_SECRET_ID", "emo/dashscope"),
        ];
        assert_eq!(
            read(Backend::Aws, &both).unwrap_err().name,
            "DASHSCOPE_API_KEY_SECRET_ID"
        );
        let id = [("DASHSCOPE_API_KEY_SECRET_ID", "emo/dashscope")];
        assert_eq!(
            read(Backend::Local, &id).unwrap_err().name,
            "DASHSCOPE_API_KEY_SECRET_ID"
        );
        let s = read(Backend::Aws, &id).unwrap();
        assert_eq!(s.api_key_secret_id.as_deref(), Some("emo/dashscope"));
        assert!(!format!("{:?}", read(Backend::Local, &both[..1]).unwrap()).contains("sk-plain"));
    }

    #[test]
    fn the_video_hosts_default_to_dashscopes_and_a_bad_list_stops_the_start() {
        let read = |vars: &[(&str, &str)]| {
            with_vars(vars, |env| DashScopeSettings::from_env(env, Backend::Local))
        };
        let s = read(&[]).unwrap();
        assert_eq!(s.video_hosts, VideoHosts::default());
        assert_eq!(
            s.client_config("k".into()).video_hosts,
            VideoHosts::default()
        );
        let s = read(&[("DASHSCOPE_VIDEO_HOSTS", "127.0.0.1, localhost")]).unwrap();
        assert_eq!(s.video_hosts.to_string(), "127.0.0.1,localhost");
        assert_eq!(s.client_config("k".into()).video_hosts, s.video_hosts);
        for list in [" , ", "*", "https://example.com", "*.com"] {
            let err = read(&[("DASHSCOPE_VIDEO_HOSTS", list)]).unwrap_err();
            assert_eq!(err.name, "DASHSCOPE_VIDEO_HOSTS", "{list:?}");
        }
    }
}
