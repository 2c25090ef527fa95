//! `emo-gif` run as operators run it: a real MP4 in, a GIF out, the facts printed.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};

fn emo_gif(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_emo-gif"))
        .args(args)
        // The transcoder's defaults, whatever the caller's environment says.
        .env_remove("EMO_GIF_MAX_SIDE")
        .env_remove("EMO_GIF_FPS")
        .env_remove("EMO_GIF_MAX_BYTES")
        .env_remove("EMO_GIF_QUALITY")
        .env_remove("EMO_GIF_MIN_QUALITY")
        .env_remove("EMO_GIF_MIN_FPS")
        .output()
        .expect("emo-gif runs")
}

/// A 5 s, 30 fps H.264 clip like DashScope's.
fn mp4(dir: &Path, size: &str) -> String {
    let path = dir.join(format!("testsrc2-{size}.mp4"));
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size={size}:rate=30"))
        .args(["-t", "5", "-c:v", "libx264", "-preset", "veryfast"])
        .args(["-pix_fmt", "yuv420p"])
        .arg(&path)
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path.to_str().unwrap().to_owned()
}

fn facts(out: &Output) -> HashMap<String, String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn num(facts: &HashMap<String, String>, key: &str) -> f64 {
    facts
        .get(key)
        .unwrap_or_else(|| panic!("no {key} in {facts:?}"))
        .parse()
        .unwrap_or_else(|e| panic!("{key}: {e}"))
}

#[test]
fn emo_gif_turns_an_mp4_into_the_transcoders_sticker_and_prints_what_it_did() {
    let dir = tempfile::tempdir().unwrap();
    let input = mp4(dir.path(), "832x480");
    let output = dir.path().join("out.gif");

    let out = emo_gif(&[&input, output.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let facts = facts(&out);
    let gif = std::fs::read(&output).expect("the GIF is written");

    assert_eq!(num(&facts, "bytes") as usize, gif.len());
    assert!(gif.len() <= 512_000, "{} bytes", gif.len());
    assert_eq!(num(&facts, "width"), 240.0);
    assert!((138.0..=139.0).contains(&num(&facts, "height")));
    assert_eq!(num(&facts, "fps"), 10.0);
    assert_eq!(num(&facts, "frames"), 50.0);
    assert!(num(&facts, "passes") >= 1.0);
    assert!((1.0..=100.0).contains(&num(&facts, "quality")));
    let trial_frames = num(&facts, "trial_frames");
    assert!(
        trial_frames >= 24.0 && trial_frames % 8.0 == 0.0,
        "a 50-frame clip gets 8-frame trials of the global palette, one at least for each of its \
         three forms (and gifski's of 16 after them): {trial_frames}"
    );
    assert!(
        ["global-palette", "gifski"].contains(&facts["method"].as_str()),
        "{:?}",
        facts.get("method")
    );
    assert!(num(&facts, "wall_s") > 0.0);
    assert!(
        num(&facts, "cpu_s") > 0.0,
        "ffmpeg's CPU time is counted too"
    );

    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::Indexed);
    let decoder = options.read_info(gif.as_slice()).expect("a GIF");
    assert_eq!(decoder.width(), 240);
    assert_eq!(u32::from(decoder.height()), num(&facts, "height") as u32);
}

#[test]
fn emo_gif_flags_override_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let input = mp4(dir.path(), "624x624");
    let output = dir.path().join("small.gif");

    let out = emo_gif(&[
        &input,
        output.to_str().unwrap(),
        "--max-side",
        "120",
        "--fps=5",
        "--min-fps",
        "5",
        "--max-bytes",
        "100000",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let facts = facts(&out);
    assert_eq!(
        (num(&facts, "width"), num(&facts, "height")),
        (120.0, 120.0)
    );
    assert_eq!((num(&facts, "fps"), num(&facts, "frames")), (5.0, 25.0));
    assert!(num(&facts, "bytes") <= 100_000.0);
}

#[test]
fn emo_gif_answers_bad_arguments_with_its_usage_and_exit_code_2() {
    for args in [
        &["only-one.mp4"][..],
        &["in.mp4", "out.gif", "--fps", "ten"],
        &["in.mp4", "out.gif", "--fps"],
        &["in.mp4", "out.gif", "--colour", "blue"],
        &[
            "in.mp4",
            "out.gif",
            "--quality",
            "30",
            "--min-quality",
            "40",
        ],
    ] {
        let out = emo_gif(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("usage: emo-gif"), "{args:?}: {stderr}");
    }
}

#[test]
fn emo_gif_fails_with_1_on_a_file_that_is_not_a_video() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("text.mp4");
    std::fs::write(&input, b"not a video at all".repeat(50)).unwrap();
    let out = emo_gif(&[
        input.to_str().unwrap(),
        dir.path().join("x.gif").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!dir.path().join("x.gif").exists());
}
