// onebit stream driver: one AXI-Stream source and one sink around a Verilated design.
//
// The design is `onebit_sim_top` (written by onebit.hw.sim) with fixed ports clk, rst_n,
// s_tdata/s_tvalid/s_tready, m_tdata/m_tvalid/m_tready; it is compiled with --prefix Vsim.
// Arguments are key=value:
//   in=FILE       input words, one hex word per line ($readmemh style)
//   out=FILE      output words written here, one hex word per line
//   cycles=FILE   handshake cycles written here (binary little-endian uint64):
//                 n_in, n_out, total cycles, then the cycle of each input and output handshake
//   n_out=N       stop after N output words
//   seed=S        random seed of the stalls
//   p_valid=P     probability that the source offers the next word in a cycle (0..1]
//   p_ready=P     probability that the sink is ready in a cycle (0..1]
//   watchdog=K    fail when no handshake happened for K cycles
//   max_cycles=M  fail after M cycles
//   tail=T        after the last expected word, keep running T cycles (ready=1) and fail if
//                 the design offers another word
// Exit status: 0 ok, 1 usage/io error, 2 watchdog, 3 protocol violation, 4 max cycles,
// 5 extra output, 6 design called $finish/$stop.
// Cycle 0 is the first rising edge after reset is released.

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "Vsim.h"
#include "verilated.h"

#ifndef IN_WIDTH
#error "IN_WIDTH must be defined"
#endif
#ifndef OUT_WIDTH
#error "OUT_WIDTH must be defined"
#endif

static constexpr int kInWords = (IN_WIDTH + 31) / 32 < 2 ? 2 : (IN_WIDTH + 31) / 32;
static constexpr int kOutWords = (OUT_WIDTH + 31) / 32 < 2 ? 2 : (OUT_WIDTH + 31) / 32;

// Port access for every Verilator port type: scalars (CData..QData) and VlWide<N>.
template <class T>
static inline void set_port(T& port, const uint32_t* w) {
    if constexpr (sizeof(T) <= 4) {
        port = static_cast<T>(w[0]);
    } else {
        port = static_cast<T>(static_cast<uint64_t>(w[0]) | (static_cast<uint64_t>(w[1]) << 32));
    }
}
template <std::size_t N>
static inline void set_port(VlWide<N>& port, const uint32_t* w) {
    for (std::size_t i = 0; i < N; ++i) port[i] = w[i];
}
template <class T>
static inline void get_port(const T& port, uint32_t* w) {
    uint64_t v = static_cast<uint64_t>(port);
    w[0] = static_cast<uint32_t>(v);
    w[1] = static_cast<uint32_t>(v >> 32);
}
template <std::size_t N>
static inline void get_port(const VlWide<N>& port, uint32_t* w) {
    for (std::size_t i = 0; i < N; ++i) w[i] = port[i];
}

// xorshift64*: fast and good enough for stall patterns.
struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL) {
        if (!s) s = 1;
    }
    inline uint32_t next() {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return static_cast<uint32_t>((s * 0x2545F4914F6CDD1DULL) >> 32);
    }
};

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool read_hex(const char* path, int nwords, std::vector<uint32_t>& data, size_t& count) {
    FILE* f = std::fopen(path, "r");
    if (!f) return false;
    std::vector<char> line(1 << 16);
    count = 0;
    std::string buf;
    int c;
    auto flush = [&]() {
        if (buf.empty()) return true;
        size_t base = data.size();
        data.resize(base + nwords, 0);
        int nib = 0;
        for (size_t i = buf.size(); i-- > 0;) {
            int v = hexval(buf[i]);
            if (v < 0) {
                if (buf[i] == '_') continue;
                return false;
            }
            if (nib / 8 < nwords) data[base + nib / 8] |= static_cast<uint32_t>(v) << (4 * (nib % 8));
            ++nib;
        }
        ++count;
        buf.clear();
        return true;
    };
    while ((c = std::fgetc(f)) != EOF) {
        if (c == '\n' || c == '\r' || c == ' ' || c == '\t') {
            if (!flush()) { std::fclose(f); return false; }
        } else {
            buf.push_back(static_cast<char>(c));
        }
    }
    bool ok = flush();
    std::fclose(f);
    return ok;
}

static void write_hex(FILE* f, const uint32_t* w, int width) {
    int ndig = (width + 3) / 4;
    static const char* digits = "0123456789abcdef";
    std::string s(ndig, '0');
    for (int d = 0; d < ndig; ++d) {
        uint32_t nib = (w[d / 8] >> (4 * (d % 8))) & 0xF;
        if (d == ndig - 1 && width % 4) nib &= (1u << (width % 4)) - 1;
        s[ndig - 1 - d] = digits[nib];
    }
    std::fputs(s.c_str(), f);
    std::fputc('\n', f);
}

static void mask(uint32_t* w, int width, int nwords) {
    for (int i = 0; i < nwords; ++i) {
        int lo = 32 * i;
        if (lo >= width) w[i] = 0;
        else if (width - lo < 32) w[i] &= (1u << (width - lo)) - 1;
    }
}

int main(int argc, char** argv) {
    const char* in_path = nullptr;
    const char* out_path = nullptr;
    const char* cyc_path = nullptr;
    uint64_t n_out = 0, seed = 0, watchdog = 100000, max_cycles = UINT64_MAX, tail = 0;
    double p_valid = 1.0, p_ready = 1.0;
    for (int i = 1; i < argc; ++i) {
        const char* a = argv[i];
        const char* eq = std::strchr(a, '=');
        if (!eq || a[0] == '+') continue;
        std::string k(a, eq - a);
        const char* v = eq + 1;
        if (k == "in") in_path = v;
        else if (k == "out") out_path = v;
        else if (k == "cycles") cyc_path = v;
        else if (k == "n_out") n_out = std::strtoull(v, nullptr, 10);
        else if (k == "seed") seed = std::strtoull(v, nullptr, 10);
        else if (k == "watchdog") watchdog = std::strtoull(v, nullptr, 10);
        else if (k == "max_cycles") max_cycles = std::strtoull(v, nullptr, 10);
        else if (k == "tail") tail = std::strtoull(v, nullptr, 10);
        else if (k == "p_valid") p_valid = std::strtod(v, nullptr);
        else if (k == "p_ready") p_ready = std::strtod(v, nullptr);
        else { std::fprintf(stderr, "unknown argument %s\n", a); return 1; }
    }
    if (!in_path || !out_path) { std::fprintf(stderr, "usage: in=FILE out=FILE ...\n"); return 1; }

    std::vector<uint32_t> in_data;
    size_t n_in = 0;
    if (!read_hex(in_path, kInWords, in_data, n_in)) {
        std::fprintf(stderr, "cannot read input words from %s\n", in_path);
        return 1;
    }
    for (size_t i = 0; i < n_in; ++i) mask(&in_data[i * kInWords], IN_WIDTH, kInWords);
    std::vector<uint32_t> out_data(static_cast<size_t>(n_out) * kOutWords + kOutWords, 0);
    std::vector<uint64_t> in_cyc(n_in), out_cyc(n_out);

    // Thresholds on 32 random bits; p >= 1 never stalls.
    const uint64_t thr_v = p_valid >= 1.0 ? (1ULL << 32) : static_cast<uint64_t>(p_valid * 4294967296.0);
    const uint64_t thr_r = p_ready >= 1.0 ? (1ULL << 32) : static_cast<uint64_t>(p_ready * 4294967296.0);

    auto ctx = std::make_unique<VerilatedContext>();
    ctx->commandArgs(argc, argv);
    auto top = std::make_unique<Vsim>(ctx.get(), "TOP");
    Rng rng(seed);

    uint32_t zero[kInWords > kOutWords ? kInWords : kOutWords] = {};
    top->clk = 0;
    top->rst_n = 0;
    top->s_tvalid = 0;
    top->m_tready = 0;
    set_port(top->s_tdata, zero);
    for (int i = 0; i < 4; ++i) {
        top->clk = 0; top->eval();
        top->clk = 1; top->eval();
    }
    top->clk = 0;
    top->rst_n = 1;
    top->eval();

    size_t ii = 0, oi = 0;
    bool offering = false;
    uint64_t cycle = 0, idle = 0, tail_left = tail, end_cycle = 0;
    bool hold = false;  // last cycle ended with m_tvalid && !m_tready
    uint32_t held[kOutWords] = {};
    uint32_t cur[kOutWords] = {};
    int status = 0;
    bool finished = false;

    while (!finished) {
        if (cycle >= max_cycles) {
            std::fprintf(stderr, "max_cycles=%" PRIu64 " reached: input %zu/%zu words, output %zu/%"
                         PRIu64 " words\n", max_cycles, ii, n_in, oi, n_out);
            status = 4;
            break;
        }
        // Drive the inputs for this cycle (clk is low).
        if (!offering && ii < n_in && (thr_v > 0xFFFFFFFFULL || rng.next() < thr_v)) {
            offering = true;
            set_port(top->s_tdata, &in_data[ii * kInWords]);
        }
        top->s_tvalid = offering;
        bool draining = oi >= n_out;
        top->m_tready = draining || thr_r > 0xFFFFFFFFULL || rng.next() < thr_r;
        top->eval();
        // Sample handshakes before the rising edge.
        bool s_fire = offering && top->s_tready;
        bool m_valid = top->m_tvalid;
        bool m_fire = m_valid && top->m_tready;
        if (hold || m_valid) get_port(top->m_tdata, cur);
        if (hold) {
            mask(cur, OUT_WIDTH, kOutWords);
            if (!m_valid || std::memcmp(cur, held, sizeof(held)) != 0) {
                std::fprintf(stderr,
                             "protocol violation at cycle %" PRIu64 ": output %s while "
                             "m_tvalid && !m_tready (word %zu)\n",
                             cycle, m_valid ? "tdata changed" : "tvalid dropped", oi);
                status = 3;
                break;
            }
        }
        if (m_fire && draining) {
            std::fprintf(stderr, "extra output word at cycle %" PRIu64 ": expected %" PRIu64
                         " words\n", cycle, n_out);
            status = 5;
            break;
        }
        if (m_fire) {
            mask(cur, OUT_WIDTH, kOutWords);
            std::memcpy(&out_data[oi * kOutWords], cur, sizeof(uint32_t) * kOutWords);
            out_cyc[oi++] = cycle;
        }
        hold = m_valid && !m_fire;
        if (hold) {
            mask(cur, OUT_WIDTH, kOutWords);
            std::memcpy(held, cur, sizeof(held));
        }
        if (s_fire) {
            in_cyc[ii++] = cycle;
            offering = false;
        }
        top->clk = 1;
        top->eval();
        top->clk = 0;
        if (ctx->gotFinish()) {
            std::fprintf(stderr, "design called $finish/$stop at cycle %" PRIu64 "\n", cycle);
            status = 6;
            break;
        }
        ++cycle;
        if (s_fire || m_fire) idle = 0;
        else if (++idle >= watchdog && !draining) {
            if (offering)
                std::fprintf(stderr,
                             "watchdog: no handshake for %" PRIu64 " cycles at cycle %" PRIu64
                             "; input side stuck: s_tready low with s_tvalid high (input %zu/%zu "
                             "words, output %zu/%" PRIu64 " words)\n",
                             watchdog, cycle, ii, n_in, oi, n_out);
            else
                std::fprintf(stderr,
                             "watchdog: no handshake for %" PRIu64 " cycles at cycle %" PRIu64
                             "; output side stuck: m_tvalid low (input %zu/%zu words consumed, "
                             "output %zu/%" PRIu64 " words)\n",
                             watchdog, cycle, ii, n_in, oi, n_out);
            status = 2;
            break;
        }
        if (oi >= n_out) {
            if (end_cycle == 0) end_cycle = cycle;
            if (tail_left == 0) finished = true;
            else --tail_left;
        }
    }
    if (end_cycle == 0) end_cycle = cycle;
    top->final();

    FILE* fo = std::fopen(out_path, "w");
    if (!fo) { std::fprintf(stderr, "cannot write %s\n", out_path); return 1; }
    for (size_t i = 0; i < oi; ++i) write_hex(fo, &out_data[i * kOutWords], OUT_WIDTH);
    std::fclose(fo);
    if (cyc_path) {
        // Binary little-endian uint64: [n_in, n_out, cycles, in cycles..., out cycles...]
        FILE* fc = std::fopen(cyc_path, "wb");
        if (!fc) { std::fprintf(stderr, "cannot write %s\n", cyc_path); return 1; }
        uint64_t head[3] = {static_cast<uint64_t>(ii), static_cast<uint64_t>(oi), end_cycle};
        std::fwrite(head, sizeof(uint64_t), 3, fc);
        std::fwrite(in_cyc.data(), sizeof(uint64_t), ii, fc);
        std::fwrite(out_cyc.data(), sizeof(uint64_t), oi, fc);
        std::fclose(fc);
    }
    return status;
}
