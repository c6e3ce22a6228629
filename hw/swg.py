"""finn-rtllib's buffered sliding-window generator as FINN generates it, modelled register by
register: its cycles per frame, and whether it emits the windows it should.

FINN's estimate of `ConvolutionInputGenerator_rtl` in the default (buffered) style is an upper
bound: it lets a frame's windows start only once the buffer holds a whole window and adds the
stride's skipped rows, while the RTL reads ahead into a buffer larger than a window and
overlaps reading with writing. On a depthwise 2x2 stride-2 window (a max-pool's) it is 15-20 %
pessimistic, and a design whose slowest layer is such a window simulates that much faster
than FINN says.

`window_cycles` runs a cycle model of the generator's control registers: the input side
(a word is read while the buffer has room: the oldest buffered word is older than both the
window being written and the next window's first word), the output side (a word is fetched
once the word it needs is buffered, written out the cycle after), the five-loop address
controller, and the end-of-frame handover. Its parameters are FINN's own code generation
values (`prepare_codegen_default`), so the model follows the RTL FINN generates; with the
source always valid and the sink always ready it gives the cycles between the last output
words of consecutive frames. The tests compare it with Verilator on random geometries.

`unsound_window` follows the address sequence of one frame: FINN's generator emits wrong and
extra words when an output dimension is 1 and the stride leaves columns or rows over (a 2x2
window at stride 3 over a 4x4 map gives 12 words for 4; Verilator agrees), so the fold step
refuses such a layer by name instead of a simulation failing late.
"""

from __future__ import annotations

from functools import lru_cache

START, SIMD, KW, KH, W, H = range(6)  # the controller's states (finn-rtllib swg_pkg order)
STATES = {"STATE_LOOP_SIMD": SIMD, "STATE_LOOP_KW": KW, "STATE_LOOP_KH": KH}
H_LOOP, W_LOOP, KH_LOOP, KW_LOOP, SIMD_LOOP = range(5)  # the loop counters, outermost first
LOOP_STATES = (H, W, KH, KW, SIMD)  # the head state entered when a loop steps


def default_style(inst) -> bool:
    """Whether FINN builds `inst` (a ConvolutionInputGenerator_rtl) in the buffered style this
    model covers (and can generate it: geometries it cannot are refused at fold)."""
    try:
        if inst.select_impl_style() != "default" or inst.get_nodeattr("dynamic_mode"):
            return False
        inst.prepare_codegen_default()
    except AssertionError:
        return False
    return True


def codegen_values(inst) -> dict[str, str]:
    """FINN's code generation values of `inst`'s buffered-style template, by name without the
    `$`s (the parameters of `frame_ends`)."""
    _, gen = inst.prepare_codegen_default()
    return {k.strip("$"): v[0] for k, v in gen.items()}


def expected_elements(inst) -> list[int]:
    """The input element (word) index of each output word of one frame, in stream order: per
    output pixel, the window's words (depthwise: channel fold outermost, as Pool reads them;
    else the channel fold innermost)."""
    g = inst.get_nodeattr
    iw, (kh, kw), (sh, sw), (dh, dw) = (g("IFMDim")[1], g("ConvKernelDim"), g("Stride"),
                                        g("Dilation"))
    (oh, ow), cf = g("OFMDim"), g("IFMChannels") // g("SIMD")
    out = []
    for oy in range(oh):
        for ox in range(ow):
            pix = [(oy * sh + ky * dh) * iw + ox * sw + kx * dw
                   for ky in range(kh) for kx in range(kw)]
            if g("depthwise") and cf > 1:
                out += [p * cf + c for c in range(cf) for p in pix]
            else:
                out += [p * cf + c for p in pix for c in range(cf)]
    return out


def unsound_window(inst) -> str | None:
    """Why the buffered-style generator FINN generates for `inst` emits other words than its
    windows (the model's first frame against `expected_elements`), or None when it is right."""
    got: list[int] = []
    try:
        frame_ends(codegen_values(inst), 1, got)
    except RuntimeError:
        return "its generator never completes a frame"
    want = expected_elements(inst)
    if got == want:
        return None
    bad = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b),
               min(len(got), len(want)))
    return (f"its generator emits {len(got)} words a frame for {len(want)}, the first wrong "
            f"one at word {bad}")


def window_cycles(inst) -> int:
    """Steady-state cycles per frame of the buffered-style generator `inst`."""
    return _steady_cycles(tuple(sorted(codegen_values(inst).items())))


@lru_cache(maxsize=256)
def _steady_cycles(params: tuple) -> int:
    ends = frame_ends(dict(params), frames=3)
    return ends[2] - ends[1]


def frame_ends(p: dict, frames: int, fetched: list[int] | None = None) -> list[int]:
    """Cycle of the last output word of each of `frames` frames (source always valid, sink
    always ready); `p` are the template's code generation values (strings, FINN's names).
    `fetched`, if given, receives the input element index of every output word in order."""
    n = {k: int(p[k]) for k in (
        "LAST_READ_ELEM", "LAST_WRITE_ELEM", "BUF_ELEM_TOTAL", "ELEM_PER_WINDOW",
        "LOOP_H_ITERATIONS", "LOOP_W_ITERATIONS", "LOOP_KH_ITERATIONS", "LOOP_KW_ITERATIONS",
        "LOOP_SIMD_ITERATIONS", "HEAD_INCR_SIMD", "HEAD_INCR_KW", "HEAD_INCR_KH",
        "HEAD_INCR_W", "HEAD_INCR_H", "TAIL_INCR_W", "TAIL_INCR_H", "TAIL_INCR_LAST",
        "IS_DEPTHWISE")}
    last_read, last_write = n["LAST_READ_ELEM"], n["LAST_WRITE_ELEM"]
    slack, per_window = n["BUF_ELEM_TOTAL"] - 1, n["ELEM_PER_WINDOW"]
    inner = STATES[p["INNERMOST_STATE"]]
    head = {START: 0, SIMD: n["HEAD_INCR_SIMD"], KW: n["HEAD_INCR_KW"],
            KH: n["HEAD_INCR_KH"], W: n["HEAD_INCR_W"], H: n["HEAD_INCR_H"]}
    loops = [n[f"LOOP_{name}_ITERATIONS"] for name in ("H", "W", "KH", "KW", "SIMD")]
    depthwise = bool(n["IS_DEPTHWISE"])

    # controller
    state, count = inner, list(loops)  # a counter runs from its iterations down to -1
    # generator
    newest, reading_last, reading_done = -1, last_read == 0, False
    current, first_next, position, position_zero = 0, 0, 0, True
    fetching_done, write_cmd, writing_done = False, False, False
    ends, cycle = [], 0
    while len(ends) < frames:
        if cycle > 1 << 26:
            raise RuntimeError("sliding-window cycle model did not finish a frame")
        fetch = current <= newest and not fetching_done
        read = not reading_done and (
            fetching_done or (newest - slack < first_next and newest - slack < current))
        write = write_cmd
        reset = inc = False
        n_current, n_first, n_fetching_done = current, first_next, fetching_done
        n_write_cmd, n_writing_done = write_cmd, writing_done
        if read:
            inc = True
            if reading_last and writing_done:
                reset, n_current, n_first = True, 0, 0
                n_writing_done = n_fetching_done = False
        if fetch:
            incr = head[state]
            tail = (1 if depthwise and count[KH_LOOP] >= 0 else n["TAIL_INCR_W"]
                    if count[W_LOOP] >= 0 else n["TAIL_INCR_H"] if count[H_LOOP] >= 0
                    else n["TAIL_INCR_LAST"])
            if fetched is not None:
                fetched.append(current)
            wrap = position == per_window - 1
            if position_zero:
                n_first = first_next + tail
            position, position_zero = (0 if wrap else position + 1), wrap
            if current == last_write:
                n_fetching_done = True
            else:
                n_current = current + incr
            n_write_cmd = True
            # the controller advances: leave a head state, or count the loop nest down
            if state != inner:
                state = inner
            else:
                if count[SIMD_LOOP] < 0:
                    state = next((LOOP_STATES[i] for i in (KW_LOOP, KH_LOOP, W_LOOP, H_LOOP)
                                  if count[i] >= 0), START)
                for i in (SIMD_LOOP, KW_LOOP, KH_LOOP, W_LOOP, H_LOOP):  # innermost first
                    if count[i] >= 0:
                        count[i] -= 1
                        break
                    count[i] = loops[i]
        if write:
            n_write_cmd = fetch
            if fetching_done:  # the frame's last word
                ends.append(cycle)
                if reading_done or (read and reading_last):
                    reset, n_current, n_first, n_fetching_done = True, 0, 0, False
                else:
                    n_writing_done = True
        if reset:
            newest, reading_last, reading_done = -1, last_read == 0, False
        elif inc:
            reading_last, reading_done = (newest == last_read - 2 and not reading_last,
                                          reading_last)
            newest += 1
        current, first_next, fetching_done = n_current, n_first, n_fetching_done
        write_cmd, writing_done = n_write_cmd, n_writing_done
        cycle += 1
    return ends
