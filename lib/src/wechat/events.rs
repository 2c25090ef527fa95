//! WeChat's pushes to `/api/v1/wechat/events`: the signature check, the `echostr` handshake, the
//! `wxa_media_check` event parser and the safe (AES) mode. Owned by the wechat-check work.
