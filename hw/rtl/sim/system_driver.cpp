// onebit system driver: the kernel top (`onebit_kernel`: onebit_shell around the accelerator)
// against an AXI4 memory model, driven like a host through a line protocol on stdin/stdout.
//
// Compiled by onebit.hw.system with --prefix Vsim and -DDATA_WIDTH=<m_axi_gmem data bits>.
// Arguments (key=value): seed=S, rd_lat=MIN:MAX and wr_lat=MIN:MAX (cycles from a read burst's
// address to its first beat, from a write burst's last beat to its response), p_ready=P
// (ARREADY/AWREADY/WREADY high in a cycle), p_valid=P (RVALID/BVALID offered in a cycle, once
// due), p_lite=P (the host's AXI-Lite valid/ready), lite_timeout=K.
//
// Commands, one per line; every command answers one line, "ok ..." or "error <why>":
//   A addr n               allocate n bytes at addr (zero-filled); device accesses must fall
//                          inside allocations
//   M addr hexbytes        host writes bytes (allocates them)
//   L addr file            host writes a file's bytes (allocates them); answers "ok <n>"
//   D addr n               host reads n allocated bytes; answers "ok <hex>"
//   W off val              AXI-Lite write through the control port; answers "ok <cycle>"
//   R off                  AXI-Lite read; answers "ok <value>"
//   RUN n                  n clock cycles; answers "ok <cycle>"
//   WAIT_IRQ max           run until `interrupt` is high (at most max cycles):
//                          "ok <1|0> <cycle>"
//   POLL off mask max gap  read `off` every `gap` cycles until value & mask (at most max
//                          cycles): "ok <1|0> <value> <cycle>"
//   STATS                  "ok key=value ..." counters of the memory model
//   Q                      quit ("ok")
// Numbers are decimal or 0x-hex. A protocol violation of the design (payload changed while
// valid && !ready, a burst across 4 KiB or longer than 256 beats, wrong size/burst type/wlast,
// an unaligned address, an access outside allocated memory, CTRL read as idle while write
// responses are outstanding, an AXI-Lite response changed while valid && !ready) answers "error protocol: ..." and exits with status 3.

#include <cinttypes>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "Vsim.h"
#include "verilated.h"

#ifndef DATA_WIDTH
#error "DATA_WIDTH must be defined"
#endif

static constexpr int BB = DATA_WIDTH / 8;  // bytes per beat
static constexpr uint32_t AP_IDLE = 0x4;

// ---- port access for every Verilator port type (scalars and VlWide), little-endian bytes
template <class T>
static inline void set_bytes(T& port, const uint8_t* b) {
    uint64_t v = 0;
    std::memcpy(&v, b, sizeof(T) < 8 ? sizeof(T) : 8);
    port = static_cast<T>(v);
}
template <std::size_t N>
static inline void set_bytes(VlWide<N>& port, const uint8_t* b) {
    for (std::size_t i = 0; i < N; ++i) std::memcpy(&port[i], b + 4 * i, 4);
}
template <class T>
static inline void get_bytes(const T& port, uint8_t* b) {
    uint64_t v = static_cast<uint64_t>(port);
    std::memcpy(b, &v, sizeof(T) < 8 ? sizeof(T) : 8);
}
template <std::size_t N>
static inline void get_bytes(const VlWide<N>& port, uint8_t* b) {
    for (std::size_t i = 0; i < N; ++i) std::memcpy(b + 4 * i, &port[i], 4);
}

struct Rng {  // xorshift64*
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL) {
        if (!s) s = 1;
    }
    uint32_t next() {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return static_cast<uint32_t>((s * 0x2545F4914F6CDD1DULL) >> 32);
    }
    bool draw(double p) { return p >= 1.0 || next() < p * 4294967296.0; }
    uint64_t range(uint64_t lo, uint64_t hi) { return lo + (hi > lo ? next() % (hi - lo + 1) : 0); }
};

static void fail(const char* fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    std::printf("error protocol: %s\n", msg);
    std::fflush(stdout);
    std::exit(3);
}

// ---- memory: sparse 4 KiB pages over the 64-bit space, plus the allocated ranges
struct Memory {
    std::unordered_map<uint64_t, std::vector<uint8_t>> pages;
    std::vector<std::pair<uint64_t, uint64_t>> regions;  // [lo, hi)

    uint8_t& at(uint64_t a) {
        auto& p = pages[a >> 12];
        if (p.empty()) p.assign(4096, 0);
        return p[a & 0xFFF];
    }
    void allocate(uint64_t lo, uint64_t n) {
        if (n) regions.emplace_back(lo, lo + n);
    }
    // [lo, lo+n) inside one allocation; `round`: its end rounded up to the bus word (the
    // reader fetches whole bus words)
    bool inside(uint64_t lo, uint64_t n, bool round) const {
        for (auto& r : regions) {
            uint64_t hi = round ? (r.second + BB - 1) / BB * BB : r.second;
            if (lo >= r.first && lo + n <= hi) return true;
        }
        return false;
    }
};

struct Burst {
    uint64_t addr;
    unsigned beats, done = 0;
    uint64_t due;  // first beat (read) / response (write) not before this cycle
};

// An address channel's payload, checked stable while valid && !ready.
struct AddrBeat {
    uint64_t addr;
    unsigned len, size, burst;
    bool operator!=(const AddrBeat& o) const {
        return addr != o.addr || len != o.len || size != o.size || burst != o.burst;
    }
};

struct Options {
    uint64_t seed = 0, rd_lo = 1, rd_hi = 1, wr_lo = 1, wr_hi = 1, lite_timeout = 10000;
    double p_ready = 1.0, p_valid = 1.0, p_lite = 1.0;
};

struct System {
    Options opt;
    Rng rng;
    std::unique_ptr<VerilatedContext> ctx;
    std::unique_ptr<Vsim> top;
    Memory mem;
    uint64_t cycle = 0;
    // memory model
    std::deque<Burst> reads, writes;  // accepted, in order
    std::deque<uint64_t> responses;   // B responses due at these cycles
    bool r_on = false, b_on = false, r_last = false;
    uint8_t r_data[BB] = {};
    bool ar_hold = false, aw_hold = false, w_hold = false;
    AddrBeat ar_held{}, aw_held{};
    uint8_t w_held[BB] = {};
    uint64_t w_strb_held = 0;
    bool w_last_held = false;
    // counters
    uint64_t n_ar = 0, n_aw = 0, n_b = 0, rd_beats = 0, wr_beats = 0, max_rd = 0, max_wr = 0;
    uint64_t split_4k = 0, stall_cycles = 0;
    // AXI-Lite host
    enum Op { NONE, WRITE, READ } op = NONE;
    bool aw_on = false, aw_ok = false, w_on = false, w_ok = false, ar_on = false, ar_ok = false;
    bool finished = false, b_hold = false, r_hold = false;
    uint32_t lite_off = 0, lite_val = 0, lite_result = 0, r_held = 0;

    explicit System(const Options& o, int argc, char** argv)
        : opt(o), rng(o.seed), ctx(std::make_unique<VerilatedContext>()) {
        ctx->commandArgs(argc, argv);
        top = std::make_unique<Vsim>(ctx.get(), "TOP");
        top->ap_rst_n = 0;
        for (int i = 0; i < 8; ++i) {
            top->ap_clk = 0;
            top->eval();
            top->ap_clk = 1;
            top->eval();
        }
        top->ap_clk = 0;
        top->ap_rst_n = 1;
        top->eval();
    }

    void check_bursts(const AddrBeat& a, const char* ch, bool read) {
        const unsigned beats = a.len + 1;
        if (a.burst != 1) fail("%s burst type %u at 0x%" PRIx64 " (INCR expected)", ch, a.burst,
                               a.addr);
        if ((1u << a.size) != static_cast<unsigned>(BB))
            fail("%s size %u bytes at 0x%" PRIx64 " (the bus is %d bytes)", ch, 1u << a.size,
                 a.addr, BB);
        if (a.addr % BB) fail("%s address 0x%" PRIx64 " not aligned to the bus (%d bytes)", ch,
                              a.addr, BB);
        if (beats > 256) fail("%s burst of %u beats", ch, beats);
        if ((a.addr & 0xFFF) + static_cast<uint64_t>(beats) * BB > 4096)
            fail("%s burst of %u beats at 0x%" PRIx64 " crosses a 4 KiB boundary", ch, beats,
                 a.addr);
        if ((a.addr & 0xFFF) + static_cast<uint64_t>(beats) * BB == 4096 && beats < 256 &&
            a.addr % 4096)
            ++split_4k;
        if (read && !mem.inside(a.addr, static_cast<uint64_t>(beats) * BB, true))
            fail("read of %u bytes at 0x%" PRIx64 " outside allocated memory", beats * BB,
                 a.addr);
    }

    // an address channel's payload must stay while valid && !ready
    void stable(const char* ch, const AddrBeat& a, bool valid, bool ready, bool& hold,
                AddrBeat& held) {
        if (hold && (!valid || a != held))
            fail("%s %s while valid && !ready (cycle %" PRIu64 ")", ch,
                 valid ? "payload changed" : "valid dropped", cycle);
        hold = valid && !ready;
        held = a;
    }

    // one clock cycle: drive (clk low), evaluate, check and sample, rising edge
    void tick() {
        Vsim& t = *top;
        // memory model outputs
        t.m_axi_gmem_arready = rng.draw(opt.p_ready);
        t.m_axi_gmem_awready = rng.draw(opt.p_ready);
        t.m_axi_gmem_wready = !writes.empty() && rng.draw(opt.p_ready);
        if (!r_on && !reads.empty() && reads.front().due <= cycle && rng.draw(opt.p_valid)) {
            Burst& b = reads.front();
            const uint64_t a = b.addr + static_cast<uint64_t>(b.done) * BB;
            for (int i = 0; i < BB; ++i) r_data[i] = mem.at(a + i);
            r_last = b.done + 1 == b.beats;
            r_on = true;
        }
        set_bytes(t.m_axi_gmem_rdata, r_data);
        t.m_axi_gmem_rvalid = r_on;
        t.m_axi_gmem_rlast = r_on && r_last;
        t.m_axi_gmem_rresp = 0;
        if (!b_on && !responses.empty() && responses.front() <= cycle && rng.draw(opt.p_valid))
            b_on = true;
        t.m_axi_gmem_bvalid = b_on;
        t.m_axi_gmem_bresp = 0;
        drive_lite();
        t.eval();

        // AR
        AddrBeat ar{t.m_axi_gmem_araddr, t.m_axi_gmem_arlen, t.m_axi_gmem_arsize,
                    t.m_axi_gmem_arburst};
        stable("AR", ar, t.m_axi_gmem_arvalid, t.m_axi_gmem_arready, ar_hold, ar_held);
        if (t.m_axi_gmem_arvalid && t.m_axi_gmem_arready) {
            check_bursts(ar, "AR", true);
            reads.push_back({ar.addr, ar.len + 1, 0, cycle + rng.range(opt.rd_lo, opt.rd_hi)});
            ++n_ar;
            if (reads.size() > max_rd) max_rd = reads.size();
        }
        // AW
        AddrBeat aw{t.m_axi_gmem_awaddr, t.m_axi_gmem_awlen, t.m_axi_gmem_awsize,
                    t.m_axi_gmem_awburst};
        stable("AW", aw, t.m_axi_gmem_awvalid, t.m_axi_gmem_awready, aw_hold, aw_held);
        // W (before AW's handshake of this cycle: wready was driven from earlier bursts)
        uint8_t wd[BB];
        get_bytes(t.m_axi_gmem_wdata, wd);
        const uint64_t strb = static_cast<uint64_t>(t.m_axi_gmem_wstrb);
        const bool wlast = t.m_axi_gmem_wlast;
        if (w_hold && (!t.m_axi_gmem_wvalid || std::memcmp(wd, w_held, BB) != 0 ||
                       strb != w_strb_held || wlast != w_last_held))
            fail("W %s while wvalid && !wready (cycle %" PRIu64 ")",
                 t.m_axi_gmem_wvalid ? "payload changed" : "wvalid dropped", cycle);
        w_hold = t.m_axi_gmem_wvalid && !t.m_axi_gmem_wready;
        std::memcpy(w_held, wd, BB);
        w_strb_held = strb;
        w_last_held = wlast;
        if (t.m_axi_gmem_wvalid && t.m_axi_gmem_wready) {
            Burst& b = writes.front();
            const uint64_t a = b.addr + static_cast<uint64_t>(b.done) * BB;
            for (int i = 0; i < BB; ++i) {
                if (!((strb >> i) & 1)) continue;
                if (!mem.inside(a + i, 1, false))
                    fail("write at 0x%" PRIx64 " outside allocated memory", a + i);
                mem.at(a + i) = wd[i];
            }
            ++b.done;
            ++wr_beats;
            if (wlast != (b.done == b.beats))
                fail("wlast %d on beat %u of a %u-beat burst at 0x%" PRIx64, wlast, b.done,
                     b.beats, b.addr);
            if (b.done == b.beats) {
                responses.push_back(cycle + rng.range(opt.wr_lo, opt.wr_hi));
                writes.pop_front();
            }
        }
        if (t.m_axi_gmem_awvalid && t.m_axi_gmem_awready) {
            check_bursts(aw, "AW", false);
            writes.push_back({aw.addr, aw.len + 1, 0, 0});
            ++n_aw;
            if (n_aw - n_b > max_wr) max_wr = n_aw - n_b;
        }
        // R, B
        if (r_on && t.m_axi_gmem_rready) {
            Burst& b = reads.front();
            ++rd_beats;
            if (++b.done == b.beats) reads.pop_front();
            r_on = false;
        } else if (r_on) {
            ++stall_cycles;
        }
        if (b_on && t.m_axi_gmem_bready) {
            responses.pop_front();
            ++n_b;
            b_on = false;
        }
        sample_lite();

        t.ap_clk = 1;
        t.eval();
        t.ap_clk = 0;
        ++cycle;
    }

    // ---- AXI-Lite host
    void drive_lite() {
        Vsim& t = *top;
        if (op == WRITE) {
            if (!aw_ok && !aw_on && rng.draw(opt.p_lite)) aw_on = true;
            if (!w_ok && !w_on && rng.draw(opt.p_lite)) w_on = true;
        } else if (op == READ) {
            if (!ar_ok && !ar_on && rng.draw(opt.p_lite)) ar_on = true;
        }
        t.s_axi_control_awvalid = aw_on;
        t.s_axi_control_awaddr = lite_off;
        t.s_axi_control_wvalid = w_on;
        t.s_axi_control_wdata = lite_val;
        t.s_axi_control_wstrb = 0xF;
        t.s_axi_control_bready = op == WRITE && rng.draw(opt.p_lite);
        t.s_axi_control_arvalid = ar_on;
        t.s_axi_control_araddr = lite_off;
        t.s_axi_control_rready = op == READ && rng.draw(opt.p_lite);
    }

    void sample_lite() {
        Vsim& t = *top;
        // the control slave's responses stay while valid && !ready
        if ((b_hold && !t.s_axi_control_bvalid) ||
            (r_hold && (!t.s_axi_control_rvalid || t.s_axi_control_rdata != r_held)))
            fail("AXI-Lite %s response changed while valid && !ready (cycle %" PRIu64 ")",
                 b_hold ? "write" : "read", cycle);
        b_hold = t.s_axi_control_bvalid && !t.s_axi_control_bready;
        r_hold = t.s_axi_control_rvalid && !t.s_axi_control_rready;
        r_held = t.s_axi_control_rdata;
        if (aw_on && t.s_axi_control_awready) aw_on = false, aw_ok = true;
        if (w_on && t.s_axi_control_wready) w_on = false, w_ok = true;
        if (ar_on && t.s_axi_control_arready) ar_on = false, ar_ok = true;
        if (t.s_axi_control_bvalid && t.s_axi_control_bready) {
            if (op != WRITE || !aw_ok || !w_ok) fail("AXI-Lite write response without a write");
            if (t.s_axi_control_bresp) fail("AXI-Lite write to 0x%x: bresp %u", lite_off,
                                            t.s_axi_control_bresp);
            finished = true;
            op = NONE;
        }
        if (t.s_axi_control_rvalid && t.s_axi_control_rready) {
            if (op != READ || !ar_ok) fail("AXI-Lite read data without a read");
            lite_result = t.s_axi_control_rdata;
            finished = true;
            op = NONE;
        }
    }

    // one AXI-Lite transaction; false when it did not complete in lite_timeout cycles
    bool lite(Op o, uint32_t off, uint32_t val) {
        op = o;
        lite_off = off;
        lite_val = val;
        aw_ok = w_ok = ar_ok = finished = false;
        for (uint64_t k = 0; k < opt.lite_timeout && !finished; ++k) tick();
        if (!finished) {
            op = NONE;
            aw_on = w_on = ar_on = false;
            return false;
        }
        // ap_idle is live (ap_done is sticky: it may be a previous run's while the next one
        // writes), and the shell goes idle together with ap_done
        if (o == READ && off == 0 && (lite_result & AP_IDLE) && n_aw != n_b)
            fail("CTRL reads 0x%x (idle) with %" PRIu64 " write responses outstanding",
                 lite_result, n_aw - n_b);
        return true;
    }
};

static uint64_t num(const char* s) { return std::strtoull(s, nullptr, 0); }

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool parse_range(const char* v, uint64_t& lo, uint64_t& hi) {
    char* end;
    lo = std::strtoull(v, &end, 0);
    hi = *end == ':' ? std::strtoull(end + 1, nullptr, 0) : lo;
    return hi >= lo;
}

int main(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const char* a = argv[i];
        const char* eq = std::strchr(a, '=');
        if (!eq || a[0] == '+') continue;
        std::string k(a, eq - a);
        const char* v = eq + 1;
        bool ok = true;
        if (k == "seed") o.seed = num(v);
        else if (k == "rd_lat") ok = parse_range(v, o.rd_lo, o.rd_hi);
        else if (k == "wr_lat") ok = parse_range(v, o.wr_lo, o.wr_hi);
        else if (k == "p_ready") o.p_ready = std::strtod(v, nullptr);
        else if (k == "p_valid") o.p_valid = std::strtod(v, nullptr);
        else if (k == "p_lite") o.p_lite = std::strtod(v, nullptr);
        else if (k == "lite_timeout") o.lite_timeout = num(v);
        else ok = false;
        if (!ok) {
            std::fprintf(stderr, "bad argument %s\n", a);
            return 1;
        }
    }
    System sys(o, argc, argv);
    std::string line, hex;
    char buf[1 << 16];
    while (std::fgets(buf, sizeof(buf), stdin)) {
        line = buf;
        while (!line.empty() && line.back() != '\n' && std::fgets(buf, sizeof(buf), stdin))
            line += buf;  // long lines (M with many bytes)
        while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
        std::vector<std::string> w;
        for (size_t i = 0; i < line.size();) {
            while (i < line.size() && line[i] == ' ') ++i;
            size_t s = i;
            while (i < line.size() && line[i] != ' ') ++i;
            if (i > s) w.emplace_back(line, s, i - s);
        }
        if (w.empty()) continue;
        const std::string& c = w[0];
        auto arg = [&](size_t i) { return i < w.size() ? num(w[i].c_str()) : 0; };
        if (c == "Q") {
            std::printf("ok\n");
            std::fflush(stdout);
            break;
        } else if (c == "A" && w.size() == 3) {
            const uint64_t a = arg(1), n = arg(2);
            for (uint64_t k = 0; k < n; ++k) sys.mem.at(a + k) = 0;
            sys.mem.allocate(a, n);
            std::printf("ok\n");
        } else if (c == "M" && w.size() == 3 && w[2].size() % 2 == 0) {
            const uint64_t a = arg(1);
            const std::string& h = w[2];
            bool good = true;
            for (size_t k = 0; k < h.size(); k += 2) {
                int hi = hexval(h[k]), lo = hexval(h[k + 1]);
                if (hi < 0 || lo < 0) { good = false; break; }
                sys.mem.at(a + k / 2) = static_cast<uint8_t>(hi << 4 | lo);
            }
            sys.mem.allocate(a, h.size() / 2);
            std::printf(good ? "ok\n" : "error bad hex bytes\n");
        } else if (c == "L" && w.size() == 3) {
            FILE* f = std::fopen(w[2].c_str(), "rb");
            if (!f) {
                std::printf("error cannot read %s\n", w[2].c_str());
            } else {
                uint64_t a = arg(1), n = 0;
                int ch;
                while ((ch = std::fgetc(f)) != EOF) sys.mem.at(a + n++) = static_cast<uint8_t>(ch);
                std::fclose(f);
                sys.mem.allocate(a, n);
                std::printf("ok %" PRIu64 "\n", n);
            }
        } else if (c == "D" && w.size() == 3) {
            const uint64_t a = arg(1), n = arg(2);
            if (n && !sys.mem.inside(a, n, false)) {
                std::printf("error %" PRIu64 " bytes at 0x%" PRIx64 " are not allocated\n", n, a);
            } else {
                static const char* digits = "0123456789abcdef";
                hex.assign(2 * n, '0');
                for (uint64_t k = 0; k < n; ++k) {
                    uint8_t b = sys.mem.at(a + k);
                    hex[2 * k] = digits[b >> 4];
                    hex[2 * k + 1] = digits[b & 15];
                }
                std::printf("ok %s\n", hex.c_str());
            }
        } else if (c == "W" && w.size() == 3) {
            if (sys.lite(System::WRITE, arg(1), arg(2))) std::printf("ok %" PRIu64 "\n", sys.cycle);
            else std::printf("error AXI-Lite write to 0x%" PRIx64 " not answered\n", arg(1));
        } else if (c == "R" && w.size() == 2) {
            if (sys.lite(System::READ, arg(1), 0)) std::printf("ok %u\n", sys.lite_result);
            else std::printf("error AXI-Lite read of 0x%" PRIx64 " not answered\n", arg(1));
        } else if (c == "RUN" && w.size() == 2) {
            for (uint64_t k = arg(1); k; --k) sys.tick();
            std::printf("ok %" PRIu64 "\n", sys.cycle);
        } else if (c == "WAIT_IRQ" && w.size() == 2) {
            const uint64_t end = sys.cycle + arg(1);
            // Verilator names the port `interrupt` (a keyword of some C++ compilers) so
            while (!sys.top->__SYM__interrupt && sys.cycle < end) sys.tick();
            const bool irq = sys.top->__SYM__interrupt;
            std::printf("ok %d %" PRIu64 "\n", irq ? 1 : 0, sys.cycle);
        } else if (c == "POLL" && w.size() == 5) {
            const uint64_t end = sys.cycle + arg(3), gap = arg(4);
            const uint32_t off = arg(1), mask = arg(2);
            bool hit = false, answered = true;
            uint32_t v = 0;
            for (;;) {
                if (!sys.lite(System::READ, off, 0)) { answered = false; break; }
                v = sys.lite_result;
                if ((hit = (v & mask) != 0) || sys.cycle >= end) break;
                for (uint64_t k = 0; k < gap && sys.cycle < end; ++k) sys.tick();
            }
            if (!answered) std::printf("error AXI-Lite read of 0x%x not answered\n", off);
            else std::printf("ok %d %u %" PRIu64 "\n", hit ? 1 : 0, v, sys.cycle);
        } else if (c == "STATS" && w.size() == 1) {
            std::printf("ok cycle=%" PRIu64 " read_bursts=%" PRIu64 " read_beats=%" PRIu64
                        " write_bursts=%" PRIu64 " write_beats=%" PRIu64 " write_responses=%"
                        PRIu64 " max_reads_outstanding=%" PRIu64 " max_writes_outstanding=%"
                        PRIu64 " bursts_ending_at_4k=%" PRIu64 " r_stall_cycles=%" PRIu64 "\n",
                        sys.cycle, sys.n_ar, sys.rd_beats, sys.n_aw, sys.wr_beats, sys.n_b,
                        sys.max_rd, sys.max_wr, sys.split_4k, sys.stall_cycles);
        } else {
            std::printf("error unknown command: %s\n", line.substr(0, 80).c_str());
        }
        std::fflush(stdout);
    }
    sys.top->final();
    return 0;
}
