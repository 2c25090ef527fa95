//! Lossy LZW: gifsicle's `--lossy` (Kornel Lesiński's giflossy, as ported to Rust in gifski 1.34's
//! private `gifsicle` module, AGPL-3.0-or-later like this crate), for the global-palette encoder
//! ([`super::global`]). While compressing, a pixel may take the colour the dictionary's next
//! string predicts when the two differ by at most `loss` (squared RGB distance, with the error
//! diffused along the run), so strings grow longer. Changed from gifski's: it also returns the
//! indices a decoder will show, so the next frame is diffed against what is really on screen,
//! and it has no interlacing.

use rgb::RGB8;

/// One frame's indices into `pal`. Where `under` is given (one index per pixel, what the screen
/// shows there before this frame, or `transparent` where that is not to be relied on),
/// `transparent` is a colour like the others, that pixel's `under`: a string may put
/// transparency wherever the screen's colour is within the loss of the pixel's, and a colour over a transparent pixel within the loss of what it leaves showing, as
/// `gifsicle -O3` lets its lossy LZW do. Without `under`, `transparent` replaces nothing and is
/// replaced by nothing.
pub(super) struct Image<'data> {
    pub(super) img: &'data [u8],
    pub(super) under: &'data [u8],
    pub(super) transparent: Option<u8>,
    pub(super) pal: &'data [RGB8],
}

impl Image<'_> {
    #[inline]
    fn px_at(&self, pos: usize) -> Option<u8> {
        self.img.get(pos).copied()
    }
}

type LzwCode = u16;

struct CodeTable {
    nodes: Vec<Node>,
    links_used: usize,
    clear_code: LzwCode,
}

type NodeId = u16;
/// No node: the parent of a one-index string, or the end of a list of children.
const NO_NODE: NodeId = NodeId::MAX;

/// A dictionary string: its code, last index and the string before it; its children (the
/// strings one longer) are a list through `first_child` and their `next_sibling`, in the order
/// they were defined, so the dictionary allocates nothing as it grows. `len` is the string's
/// length and `deepest` the length of the longest string that starts with it, so the search
/// passes over a child whose strings all end before the best one found.
struct Node {
    code: LzwCode,
    suffix: u8,
    len: u16,
    deepest: u16,
    parent: NodeId,
    first_child: NodeId,
    last_child: NodeId,
    next_sibling: NodeId,
}

type RgbDiff = rgb::RGB<i16>;

#[inline]
fn color_diff(a: RGB8, b: RGB8, a_transparent: bool, b_transparent: bool, dither: RgbDiff) -> u32 {
    if a_transparent != b_transparent {
        return (1 << 25) as u32;
    }
    if a_transparent {
        return 0;
    }
    let dith = ((i32::from(a.r) - i32::from(b.r) + i32::from(dither.r))
        * (i32::from(a.r) - i32::from(b.r) + i32::from(dither.r))
        + (i32::from(a.g) - i32::from(b.g) + i32::from(dither.g))
            * (i32::from(a.g) - i32::from(b.g) + i32::from(dither.g))
        + (i32::from(a.b) - i32::from(b.b) + i32::from(dither.b))
            * (i32::from(a.b) - i32::from(b.b) + i32::from(dither.b))) as u32;
    let undith = ((i32::from(a.r) - i32::from(b.r) + i32::from(dither.r) / 2)
        * (i32::from(a.r) - i32::from(b.r) + i32::from(dither.r) / 2)
        + (i32::from(a.g) - i32::from(b.g) + i32::from(dither.g) / 2)
            * (i32::from(a.g) - i32::from(b.g) + i32::from(dither.g) / 2)
        + (i32::from(a.b) - i32::from(b.b) + i32::from(dither.b) / 2)
            * (i32::from(a.b) - i32::from(b.b) + i32::from(dither.b) / 2)) as u32;
    if dith < undith { dith } else { undith }
}
#[inline]
fn diffused_difference(
    a: RGB8,
    b: RGB8,
    a_transparent: bool,
    b_transparent: bool,
    dither: RgbDiff,
) -> RgbDiff {
    if a_transparent || b_transparent {
        RgbDiff { r: 0, g: 0, b: 0 }
    } else {
        RgbDiff {
            r: (i32::from(a.r) - i32::from(b.r) + i32::from(dither.r) * 3 / 4) as i16,
            g: (i32::from(a.g) - i32::from(b.g) + i32::from(dither.g) * 3 / 4) as i16,
            b: (i32::from(a.b) - i32::from(b.b) + i32::from(dither.b) * 3 / 4) as i16,
        }
    }
}

impl CodeTable {
    #[inline]
    fn define(&mut self, work_node_id: NodeId, suffix: u8, next_code: LzwCode) {
        let id = self.nodes.len() as u16;
        let len = self.nodes[work_node_id as usize].len + 1;
        self.nodes.push(Node {
            code: next_code,
            suffix,
            len,
            deepest: len,
            parent: work_node_id,
            first_child: NO_NODE,
            last_child: NO_NODE,
            next_sibling: NO_NODE,
        });
        let parent = &mut self.nodes[work_node_id as usize];
        let last = parent.last_child;
        parent.last_child = id;
        if last == NO_NODE {
            parent.first_child = id;
        } else {
            self.nodes[last as usize].next_sibling = id;
        }
        let mut up = work_node_id;
        while up != NO_NODE && self.nodes[up as usize].deepest < len {
            let node = &mut self.nodes[up as usize];
            node.deepest = len;
            up = node.parent;
        }
    }

    #[cold]
    fn reset(&mut self) {
        self.links_used = 0;
        self.nodes.clear();
        self.nodes
            .extend((0..usize::from(self.clear_code)).map(|i| Node {
                code: i as u16,
                suffix: i as u8,
                len: 1,
                deepest: 1,
                parent: NO_NODE,
                first_child: NO_NODE,
                last_child: NO_NODE,
                next_sibling: NO_NODE,
            }));
    }
}

struct Lookup<'a> {
    pub code_table: &'a CodeTable,
    pub pal: &'a [RGB8],
    pub image: &'a Image<'a>,
    pub max_diff: u32,
    /// √`max_diff` + 1: the loss's reach in RGB units, with a unit for rounding.
    pub max_root: f32,
    /// Squared RGB distances between palette entries (`pal.len()` a row), to pass over a child
    /// that cannot be within `max_diff` whatever the diffused error before it.
    pub apart: &'a [u32],
    pub best_node: NodeId,
    pub best_pos: usize,
    pub best_total_diff: u64,
}

impl Lookup<'_> {
    /// Every child of `node_id` whose colour at `pos` is within the loss, and on from there:
    /// the longest string (least total difference among equals) is kept in `best_*`.
    pub fn lossy_node(&mut self, pos: usize, node_id: NodeId, total_diff: u64, dither: RgbDiff) {
        let table = self.code_table;
        let first = table.nodes[node_id as usize].first_child;
        // Most strings the search reaches have no continuation yet.
        if first == NO_NODE {
            return;
        }
        let Some(px) = self.image.px_at(pos) else {
            return;
        };
        let transparent = self.image.transparent;
        let under = self.image.under.get(pos).copied();
        // The colour shown for an index here: transparency shows what is under it, when known.
        let seen = |index: u8| match under {
            Some(under) if Some(index) == transparent && Some(under) != transparent => {
                (under, false)
            }
            _ => (index, Some(index) == transparent),
        };
        let (want, want_clear) = seen(px);
        let want_c = self.pal[want as usize];
        // |a - b + d| >= |a - b| - |d| (and so for d / 2): a child further than the diffused
        // error plus the loss's reach from the wanted colour is out of reach (+1 for rounding).
        // Worked out at the first child whose colour differs.
        let mut beyond = None;
        let max_root = self.max_root;
        let beyond_of = || {
            let d = (i32::from(dither.r).pow(2)
                + i32::from(dither.g).pow(2)
                + i32::from(dither.b).pow(2)) as f32;
            let reach = d.sqrt() + max_root;
            (reach * reach).min(u32::MAX as f32) as u32
        };
        let row = &self.apart[want as usize * self.pal.len()..][..self.pal.len()];
        // Where this string started: a child's strings end at most at `start + deepest`.
        let start = pos - usize::from(table.nodes[node_id as usize].len);
        let mut next = first;
        while next != NO_NODE {
            let child = next;
            let node = &table.nodes[child as usize];
            next = node.next_sibling;
            let end = start + usize::from(node.deepest);
            if end < self.best_pos || end == self.best_pos && total_diff >= self.best_total_diff {
                // Nothing under it can be longer, or as long with less difference.
                continue;
            }
            let next_px = node.suffix;
            let (got, got_clear) = seen(next_px);
            let diff = if px == next_px || (want == got && want_clear == got_clear) {
                0
            } else if want_clear != got_clear
                || !want_clear && row[got as usize] > *beyond.get_or_insert_with(beyond_of)
            {
                // Transparency against a colour, or a colour out of reach.
                continue;
            } else {
                color_diff(
                    want_c,
                    self.pal[got as usize],
                    want_clear,
                    got_clear,
                    dither,
                )
            };
            if diff <= self.max_diff {
                let got_c = self.pal[got as usize];
                let new_dither = diffused_difference(want_c, got_c, want_clear, got_clear, dither);
                let new_pos = pos + 1;
                let new_diff = total_diff + u64::from(diff);
                if new_pos > self.best_pos
                    || new_pos == self.best_pos && new_diff < self.best_total_diff
                {
                    self.best_node = child;
                    self.best_pos = new_pos;
                    self.best_total_diff = new_diff;
                }
                self.lossy_node(new_pos, child, new_diff, new_dither);
            }
        }
    }
}

const RUN_EWMA_SHIFT: usize = 4;
const RUN_EWMA_SCALE: usize = 19;
const RUN_INV_THRESH: usize = (1 << RUN_EWMA_SCALE) / 3000;

/// Encodes `image` with a loss of `loss` (0: plain LZW; gifski uses 140-1270 for its qualities
/// 90-30), returning the LZW data (its first byte the minimum code size, as
/// `gif::Encoder::write_lzw_pre_encoded_frame` takes it) and the indices a decoder will see.
pub(super) fn write(image: &Image<'_>, loss: u32) -> (Vec<u8>, Vec<u8>) {
    let mut buf = Vec::with_capacity((image.img.len() / 4).next_power_of_two());
    let mut shown = vec![0u8; image.img.len()];

    let mut run = 0;
    let mut run_ewma = 0;
    let mut next_code = 0;
    let pal = image.pal;

    let min_code_size = (pal.len() as u32)
        .max(3)
        .next_power_of_two()
        .trailing_zeros() as u8;

    buf.push(min_code_size);
    let mut bufpos_bits = 8;

    let mut code_table = CodeTable {
        clear_code: 1 << u16::from(min_code_size),
        links_used: 0,
        nodes: Vec::new(),
    };
    code_table.reset();

    let apart: Vec<u32> = pal
        .iter()
        .flat_map(|a| {
            pal.iter().map(move |b| {
                let d = |x: u8, y: u8| (i32::from(x) - i32::from(y)).pow(2) as u32;
                d(a.r, b.r) + d(a.g, b.g) + d(a.b, b.b)
            })
        })
        .collect();

    let mut cur_code_bits = min_code_size + 1;
    let mut output_code = code_table.clear_code as LzwCode;
    let mut clear_bufpos_bits = bufpos_bits;
    let mut pos = 0;
    let mut clear_pos = pos;
    loop {
        let endpos_bits = bufpos_bits + (cur_code_bits as usize);
        loop {
            if bufpos_bits & 7 != 0 {
                buf[bufpos_bits / 8] |= (output_code << (bufpos_bits & 7)) as u8;
            } else {
                buf.push(
                    (output_code >> (bufpos_bits + (cur_code_bits as usize) - endpos_bits)) as u8,
                );
            }
            bufpos_bits = bufpos_bits + 8 - (bufpos_bits & 7);
            if bufpos_bits >= endpos_bits {
                break;
            }
        }
        bufpos_bits = endpos_bits;

        if output_code == code_table.clear_code {
            cur_code_bits = min_code_size + 1;
            next_code = (code_table.clear_code + 2) as LzwCode;
            run_ewma = 1 << RUN_EWMA_SCALE;
            code_table.reset();
            clear_bufpos_bits = 0;
            clear_pos = clear_bufpos_bits;
        } else {
            if output_code == (code_table.clear_code + 1) {
                break;
            }
            if next_code > (1 << cur_code_bits) && cur_code_bits < 12 {
                cur_code_bits += 1;
            }
            run = (((run as u32) << RUN_EWMA_SCALE) + (1 << (RUN_EWMA_SHIFT - 1) as u32)) as usize;
            if run < run_ewma {
                run_ewma = run_ewma - ((run_ewma - run) >> RUN_EWMA_SHIFT);
            } else {
                run_ewma = run_ewma + ((run - run_ewma) >> RUN_EWMA_SHIFT);
            }
        }
        if let Some(px) = image.px_at(pos) {
            let mut l = Lookup {
                code_table: &code_table,
                pal,
                image,
                max_diff: loss,
                max_root: (loss as f32).sqrt() + 1.0,
                apart: &apart,
                best_node: u16::from(px),
                best_pos: pos + 1,
                best_total_diff: 0,
            };
            l.lossy_node(pos + 1, u16::from(px), 0, RgbDiff { r: 0, g: 0, b: 0 });
            run = l.best_pos - pos;
            // The string the chosen code stands for, written backwards from its last pixel.
            let mut node = l.best_node;
            for at in (pos..l.best_pos).rev() {
                let n = &code_table.nodes[node as usize];
                shown[at] = n.suffix;
                node = n.parent;
            }
            pos = l.best_pos;
            let selected_node = &code_table.nodes[l.best_node as usize];
            output_code = selected_node.code;
            if let Some(px) = image.px_at(pos) {
                if next_code < 0x1000 {
                    code_table.define(l.best_node, px, next_code);
                    next_code += 1;
                } else {
                    next_code = 0x1001;
                }
                if next_code >= 0x0FFF {
                    let pixels_left = image.img.len() - pos - 1;
                    let do_clear = pixels_left != 0
                        && (run_ewma < (36 << RUN_EWMA_SCALE) / (min_code_size as usize)
                            || pixels_left > (0x7FFF_FFFF * 2 + 1) / RUN_INV_THRESH
                            || run_ewma < pixels_left * RUN_INV_THRESH);
                    if (do_clear || run < 7) && clear_pos == 0 {
                        clear_pos = pos - run;
                        clear_bufpos_bits = bufpos_bits;
                    } else if !do_clear && run > 50 {
                        clear_bufpos_bits = 8; // buf contains min code
                        clear_pos = 0;
                    }
                    if do_clear {
                        output_code = code_table.clear_code;
                        pos = clear_pos;
                        bufpos_bits = clear_bufpos_bits;
                        buf.truncate(bufpos_bits.div_ceil(8));
                        if buf.len() > bufpos_bits / 8 {
                            buf[bufpos_bits / 8] &= (1 << (bufpos_bits & 7)) - 1;
                        }
                        continue;
                    }
                }
                run = (((run as u32) << RUN_EWMA_SCALE) + (1 << (RUN_EWMA_SHIFT - 1) as u32))
                    as usize;
                if run < run_ewma {
                    run_ewma = run_ewma - ((run_ewma - run) >> RUN_EWMA_SHIFT);
                } else {
                    run_ewma = run_ewma + ((run - run_ewma) >> RUN_EWMA_SHIFT);
                }
            }
        } else {
            run = 0;
            output_code = code_table.clear_code + 1;
        }
    }
    (buf, shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame over a screen of stripes: its left half changed to a flat colour, its right half
    /// unchanged (transparent), the stripes going on under it.
    fn frame() -> (Vec<u8>, Vec<u8>, Vec<RGB8>) {
        let pal = vec![
            RGB8::new(0, 0, 0),
            RGB8::new(250, 250, 250),
            RGB8::new(200, 30, 30),
            RGB8::new(0, 0, 0),
        ];
        let (w, h) = (64, 32);
        let mut img = Vec::new();
        let mut under = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let stripe = ((x + y) / 2 % 2) as u8;
                under.push(stripe);
                img.push(if x < w / 2 {
                    2
                } else if x % 3 == 0 {
                    stripe
                } else {
                    3
                });
            }
        }
        (img, under, pal)
    }

    #[test]
    fn transparency_over_a_known_screen_is_exact_and_a_colour_may_stand_for_it() {
        let (img, under, pal) = frame();
        let plain = Image {
            img: &img,
            under: &[],
            transparent: Some(3),
            pal: &pal,
        };
        let knowing = Image {
            under: &under,
            ..plain
        };
        let (with_screen, shown) = write(&knowing, 0);
        // What a decoder shows over the screen: transparency leaves the stripe.
        for (i, &want) in img.iter().enumerate() {
            let on_screen = if shown[i] == 3 { under[i] } else { shown[i] };
            let want = if want == 3 { under[i] } else { want };
            assert_eq!(on_screen, want, "pixel {i}");
        }
        let (without, exact) = write(&plain, 0);
        assert_eq!(exact, img, "without a screen, loss 0 keeps every index");
        assert!(
            with_screen.len() <= without.len(),
            "{} > {}",
            with_screen.len(),
            without.len()
        );
    }
}
