//! `dssim-frames W H REFERENCE.rgb CANDIDATE.rgb`: both files are raw RGB24 frames of W×H (as
//! `ffmpeg -f rawvideo -pix_fmt rgb24` writes them). Prints the mean DSSIM over the frames both
//! have (0 is identical, higher is worse), then the frame counts, tab-separated.

use std::process::ExitCode;

use rgb::RGB8;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [w, h, reference, candidate] = args.as_slice() else {
        eprintln!("usage: dssim-frames W H REFERENCE.rgb CANDIDATE.rgb");
        return ExitCode::from(2);
    };
    let (Ok(w), Ok(h)) = (w.parse::<usize>(), h.parse::<usize>()) else {
        eprintln!("dssim-frames: W and H must be numbers");
        return ExitCode::from(2);
    };
    let read = |path: &str| {
        std::fs::read(path).unwrap_or_else(|e| {
            eprintln!("dssim-frames: {path}: {e}");
            std::process::exit(1)
        })
    };
    let (reference, candidate) = (read(reference), read(candidate));
    let frame = w * h * 3;
    let pixels = |bytes: &[u8]| -> Vec<RGB8> {
        bytes
            .chunks_exact(3)
            .map(|p| RGB8::new(p[0], p[1], p[2]))
            .collect()
    };
    let dssim = dssim_core::new();
    let (mut sum, mut n) = (0.0, 0usize);
    for (a, b) in reference
        .chunks_exact(frame)
        .zip(candidate.chunks_exact(frame))
    {
        let a = dssim.create_image_rgb(&pixels(a), w, h).expect("image");
        let b = dssim.create_image_rgb(&pixels(b), w, h).expect("image");
        let (value, _) = dssim.compare(&a, b);
        sum += f64::from(value);
        n += 1;
    }
    if n == 0 {
        eprintln!("dssim-frames: no frame to compare");
        return ExitCode::FAILURE;
    }
    println!(
        "{:.6}\t{}\t{}",
        sum / n as f64,
        reference.len() / frame,
        candidate.len() / frame
    );
    ExitCode::SUCCESS
}
