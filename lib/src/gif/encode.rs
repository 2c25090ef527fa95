//! Encoding: the chosen frames of a decoded clip into one looping GIF at one quality, with gifski.

use super::GifError;
use super::decode::Frames;

pub(super) fn encode(video: &Frames, picks: &[usize], quality: u8) -> Result<Vec<u8>, GifError> {
    // `fast` (imagequant at speed 10 after the first frame): the same bytes and DSSIM as without
    // it on the benchmark clips, at about half the encode CPU. gifski's separate motion and lossy
    // qualities (hidden setters in 1.34) were tried at equal bytes and did no better than
    // `quality` driving all three, as gifski does by default.
    let (collector, writer) = gifski::new(gifski::Settings {
        width: Some(video.width),
        height: Some(video.height),
        quality,
        fast: true,
        repeat: gifski::Repeat::Infinite,
    })
    .map_err(|e| GifError::Internal(format!("gifski: {e}")))?;
    let mut gif = Vec::new();
    std::thread::scope(|scope| {
        // gifski reads frames on another thread than the one writing; a writer error drops the
        // receiving end, so the feeder's next add fails and it stops too.
        let feeder = scope.spawn(move || {
            for (index, &pick) in picks.iter().enumerate() {
                // Each frame keeps its own time, so at a lower frame rate a dropped frame's
                // predecessor is held longer rather than every later frame shown late (benchmark
                // DSSIM with evenly spaced times, then with these: astronaut at 8 fps 0.048, 0.026;
                // mandelbrot at 7 fps 0.031, 0.025; same bytes).
                let pts = pick as f64 / f64::from(video.fps);
                collector.add_frame_rgba(index, video.images[pick].clone(), pts)?;
            }
            Ok::<_, gifski::Error>(())
        });
        let written = writer.write(&mut gif, &mut gifski::progress::NoProgress {});
        let fed = feeder
            .join()
            .map_err(|_| GifError::Internal("gifski frame feeder panicked".to_owned()))?;
        written
            .and(fed)
            .map_err(|e| GifError::Internal(format!("gifski: {e}")))
    })?;
    Ok(gif)
}
