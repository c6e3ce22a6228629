// onebit stream driver: AXI-Stream sources and sinks around a Verilated design, one or two
// inputs and one or two outputs, each port with its own random valid/ready pattern.
//
// The design is `onebit_sim_top` (written by onebit.hw.sim), compiled with --prefix Vsim and
// -DIN0_WIDTH=.. -DIN1_WIDTH=.. -DOUT0_WIDTH=.. -DOUT1_WIDTH=.. (tdata widths; a width of 0
// means the port is absent; input 0 and output 0 are always present). Ports: clk, rst_n,
// s_tdata/s_tvalid/s_tready (input 0), s1_* (input 1), m_tdata/m_tvalid/m_tready (output 0),
// m1_* (output 1).
// Arguments are key=value:
//   in0=FILE in1=FILE    input words, one hex word per line ($readmemh style); a FILE named
//                        *.bin holds them as binary words instead (below)
//   out0=FILE out1=FILE  output words written here, one hex word per line (*.bin: binary)
//                        A binary word is max(2, ceil(width / 32)) little-endian uint32, the
//                        word's bit 0 first: what the host packs without text either way.
//   n_out0=N n_out1=N    words expected on each output
//   cycles=FILE          binary little-endian uint64: total cycles, then for each present port
//                        (in order in0, in1, out0, out1) the number of handshakes followed by
//                        the cycle of each handshake
//   seed=S               random seed of the stalls (one stream, drawn in port order)
//   p_valid=P p_ready=P  probability that a source offers the next word / a sink is ready in
//                        a cycle, (0..1]; p_valid0=P p_valid1=P p_ready0=P p_ready1=P per port
//   watchdog=K           fail when no port handshook for K cycles
//   max_cycles=M         fail after M cycles
//   tail=T               after the last expected word of every output, keep running T cycles
//                        (ready=1) and fail if the design offers another word
//   trace=FILE           write a VCD waveform of every signal (a build with --trace; two
//                        time steps a cycle: clock low, clock high)
//   +coverage=DIR        write Verilator's coverage counts, per instance, to DIR/coverage.dat
//                        (a build with --coverage-*; the design's own `final` blocks may read
//                        the same plusarg)
// Exit status: 0 ok, 1 usage/io error, 2 watchdog, 3 protocol violation, 4 max cycles,
// 5 extra output, 6 design called $finish/$stop.
// Cycle 0 is the first rising edge after reset is released.

#if VM_TRACE
#include "verilated_vcd_c.h"
#endif
#if VM_COVERAGE
#include "verilated_cov.h"
#endif
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

// The model's own evaluation (Verilator 5 generates `<prefix>___024root___eval`): what
// `eval()` runs once the model is initialised, without eval()'s per-call bookkeeping (a mutex
// locked and unlocked by the deleter of dynamic objects, which onebit's RTL never creates;
// the queue of messages from worker threads, which a single-threaded model has none of): a
// tenth of a small design's time, at two evaluations a cycle. Weak: where Verilator names it
// otherwise the driver calls eval() (`fast_eval`).
void Vsim___024root___eval(Vsim___024root* vlSelf) __attribute__((weak));

#if !defined(IN0_WIDTH) || !defined(IN1_WIDTH) || !defined(OUT0_WIDTH) || !defined(OUT1_WIDTH)
#error "IN0_WIDTH, IN1_WIDTH, OUT0_WIDTH and OUT1_WIDTH must be defined"
#endif
#if IN0_WIDTH < 1 || OUT0_WIDTH < 1
#error "input 0 and output 0 must be present"
#endif

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

// Threshold on 32 random bits; p >= 1 gives one above every draw: never stall, draw nothing.
static uint64_t threshold(double p) {
    return p >= 1.0 ? (1ULL << 32) : static_cast<uint64_t>(p * 4294967296.0);
}
static inline bool draw(Rng& rng, uint64_t thr) {
    return thr > 0xFFFFFFFFULL || rng.next() < thr;
}

// 32-bit words per tdata value (at least 2, so that get_port of a QData fits).
static constexpr int nwords(int width) { return (width + 31) / 32 < 2 ? 2 : (width + 31) / 32; }

static void mask(uint32_t* w, int width, int n) {
    for (int i = 0; i < n; ++i) {
        int lo = 32 * i;
        if (lo >= width) w[i] = 0;
        else if (width - lo < 32) w[i] &= (1u << (width - lo)) - 1;
    }
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static inline bool blank(char c) { return c == '\n' || c == '\r' || c == ' ' || c == '\t'; }

// Appends the words of `path` to `data` (nwords(W) uint32 each, masked to W bits). The width
// is a template parameter, as in the cycle loop: long streams make this a hot path.
template <int W>
static bool read_hex(const char* path, std::vector<uint32_t>& data, size_t& count) {
    constexpr int NW = nwords(W);
    FILE* f = std::fopen(path, "rb");
    if (!f) return false;
    std::string text;
    std::vector<char> chunk(1 << 16);
    for (size_t got; (got = std::fread(chunk.data(), 1, chunk.size(), f)) > 0;)
        text.append(chunk.data(), got);
    std::fclose(f);
    count = 0;
    const size_t len = text.size();
    for (size_t i = 0; i < len;) {
        while (i < len && blank(text[i])) ++i;
        const size_t start = i;
        while (i < len && !blank(text[i])) ++i;
        if (start == i) break;
        const size_t base = data.size();
        data.resize(base + NW, 0);
        int nib = 0;
        for (size_t j = i; j-- > start;) {  // least significant digit last
            int v = hexval(text[j]);
            if (v < 0) {
                if (text[j] == '_') continue;
                return false;
            }
            if (nib / 8 < NW) data[base + nib / 8] |= static_cast<uint32_t>(v) << (4 * (nib % 8));
            ++nib;
        }
        mask(&data[base], W, NW);
        ++count;
    }
    return true;
}

static bool binary_file(const char* path) {
    size_t n = std::strlen(path);
    return n >= 4 && std::strcmp(path + n - 4, ".bin") == 0;
}

// Appends the binary words of `path` (nwords(W) uint32 each, masked to W bits).
template <int W>
static bool read_bin(const char* path, std::vector<uint32_t>& data, size_t& count) {
    constexpr int NW = nwords(W);
    FILE* f = std::fopen(path, "rb");
    if (!f) return false;
    std::vector<uint32_t> chunk(1 << 14);
    size_t got, total = 0;
    while ((got = std::fread(chunk.data(), sizeof(uint32_t), chunk.size(), f)) > 0) {
        data.insert(data.end(), chunk.begin(), chunk.begin() + got);
        total += got;
    }
    bool whole = std::ferror(f) == 0 && total % NW == 0;
    std::fclose(f);
    count = total / NW;
    for (size_t i = 0; i < count; ++i) mask(&data[data.size() - total + i * NW], W, NW);
    return whole;
}

template <int W>
static void write_hex(FILE* f, const uint32_t* w) {
    static const char* digits = "0123456789abcdef";
    constexpr int ndig = (W + 3) / 4;
    char s[ndig + 1];
    for (int d = 0; d < ndig; ++d) {
        uint32_t nib = (w[d / 8] >> (4 * (d % 8))) & 0xF;
        if (d == ndig - 1 && W % 4) nib &= (1u << (W % 4)) - 1;
        s[ndig - 1 - d] = digits[nib];
    }
    s[ndig] = '\n';
    std::fwrite(s, 1, ndig + 1, f);
}

// What every port has: its file, its word count, its handshake cycles and its stall threshold.
struct Port {
    const char* name;
    int width;
    int nw;            // uint32 per word in `data`
    const char* path = nullptr;
    size_t n = 0;      // words to send (source) / expected (sink)
    size_t count = 0;  // handshakes so far
    std::vector<uint32_t> data;
    std::vector<uint64_t> cyc;
    uint64_t thr = 1ULL << 32;
    Port(const char* name_, int width_) : name(name_), width(width_), nw(nwords(width_)) {}
    bool present() const { return width > 0; }
};

template <int W>
struct Source : Port {
    static constexpr int NW = nwords(W);
    bool offering = false;
    explicit Source(const char* name_) : Port(name_, W) {}

    bool load() {
        if (W == 0 || (path && (binary_file(path) ? read_bin<W>(path, data, n)
                                                   : read_hex<W>(path, data, n))))
            return true;
        std::fprintf(stderr, "cannot read %s words from %s\n", name, path ? path : "?");
        return false;
    }

    template <class D>
    inline void drive(D& tdata, CData& tvalid, Rng& rng) {
        if (!offering && count < n && draw(rng, thr)) {
            offering = true;
            set_port(tdata, &data[count * NW]);
        }
        tvalid = offering;
    }
    inline bool sample(CData tready, uint64_t cycle) {
        if (!(offering && tready)) return false;
        cyc[count++] = cycle;
        offering = false;
        return true;
    }
};

template <int W>
struct Sink : Port {
    static constexpr int NW = nwords(W);
    bool hold = false;  // last cycle ended with tvalid && !tready
    uint32_t held[NW] = {}, cur[NW] = {};
    explicit Sink(const char* name_) : Port(name_, W) {}

    bool save() const {
        if (W == 0) return true;
        FILE* fo = std::fopen(path, "wb");
        if (!fo) {
            std::fprintf(stderr, "cannot write %s words to %s\n", name, path);
            return false;
        }
        if (binary_file(path)) {
            std::fwrite(data.data(), sizeof(uint32_t), count * NW, fo);
        } else {
            for (size_t i = 0; i < count; ++i) write_hex<W>(fo, &data[i * NW]);
        }
        return std::fclose(fo) == 0;
    }

    inline bool done() const {
        if constexpr (W == 0) return true;  // absent port
        else return count >= n;
    }
    inline void drive(CData& tready, Rng& rng) { tready = done() || draw(rng, thr); }
    // 0: ok (sets `fired` on a handshake), 3: protocol violation, 5: extra word.
    template <class D>
    inline int sample(const D& tdata, CData tvalid, CData tready, uint64_t cycle, bool& fired) {
        if (!(hold || tvalid)) return 0;
        get_port(tdata, cur);
        mask(cur, W, NW);
        if (hold && (!tvalid || std::memcmp(cur, held, sizeof(held)) != 0)) {
            std::fprintf(stderr, "protocol violation at cycle %" PRIu64 ": %s %s while tvalid && "
                         "!tready (word %zu)\n", cycle, name,
                         tvalid ? "tdata changed" : "tvalid dropped", count);
            return 3;
        }
        bool fire = tvalid && tready;
        if (fire && done()) {
            std::fprintf(stderr, "extra output word on %s at cycle %" PRIu64 ": expected %zu "
                         "words\n", name, cycle, n);
            return 5;
        }
        if (fire) {
            std::memcpy(&data[count * NW], cur, sizeof(cur));
            cyc[count++] = cycle;
            fired = true;
        }
        hold = tvalid && !fire;
        if (hold) std::memcpy(held, cur, sizeof(held));
        return 0;
    }
};

// " (input 0 3/4 words, output 0 1/4 words)": the progress of every present port.
static void progress(const Port* const* ports, int n) {
    const char* sep = " (";
    for (int i = 0; i < n; ++i) {
        if (!ports[i]->present()) continue;
        std::fprintf(stderr, "%s%s %zu/%zu words", sep, ports[i]->name, ports[i]->count,
                     ports[i]->n);
        sep = ", ";
    }
    std::fprintf(stderr, ")\n");
}

int main(int argc, char** argv) {
    Source<IN0_WIDTH> in0("input 0");
    Source<IN1_WIDTH> in1("input 1");
    Sink<OUT0_WIDTH> out0("output 0");
    Sink<OUT1_WIDTH> out1("output 1");
    Port* srcs[2] = {&in0, &in1};
    Port* snks[2] = {&out0, &out1};
    const Port* const ports[4] = {&in0, &in1, &out0, &out1};
    const char* cyc_path = nullptr;
    const char* trace_path = nullptr;
    const char* cov_dir = nullptr;
    uint64_t seed = 0, watchdog = 100000, max_cycles = UINT64_MAX, tail = 0;
    double p_valid = 1.0, p_ready = 1.0;
    double pv[2] = {-1.0, -1.0}, pr[2] = {-1.0, -1.0};
    for (int i = 1; i < argc; ++i) {
        const char* a = argv[i];
        const char* eq = std::strchr(a, '=');
        if (std::strncmp(a, "+coverage=", 10) == 0) cov_dir = a + 10;
        if (!eq || a[0] == '+') continue;
        std::string k(a, eq - a);
        const char* v = eq + 1;
        if (k == "in0") in0.path = v;
        else if (k == "in1") in1.path = v;
        else if (k == "out0") out0.path = v;
        else if (k == "out1") out1.path = v;
        else if (k == "n_out0") out0.n = std::strtoull(v, nullptr, 10);
        else if (k == "n_out1") out1.n = std::strtoull(v, nullptr, 10);
        else if (k == "cycles") cyc_path = v;
        else if (k == "trace") trace_path = v;
        else if (k == "seed") seed = std::strtoull(v, nullptr, 10);
        else if (k == "watchdog") watchdog = std::strtoull(v, nullptr, 10);
        else if (k == "max_cycles") max_cycles = std::strtoull(v, nullptr, 10);
        else if (k == "tail") tail = std::strtoull(v, nullptr, 10);
        else if (k == "p_valid") p_valid = std::strtod(v, nullptr);
        else if (k == "p_ready") p_ready = std::strtod(v, nullptr);
        else if (k == "p_valid0") pv[0] = std::strtod(v, nullptr);
        else if (k == "p_valid1") pv[1] = std::strtod(v, nullptr);
        else if (k == "p_ready0") pr[0] = std::strtod(v, nullptr);
        else if (k == "p_ready1") pr[1] = std::strtod(v, nullptr);
        else { std::fprintf(stderr, "unknown argument %s\n", a); return 1; }
    }
    // Input words; every buffer sized up front so the cycle loop never allocates.
    if (!in0.load() || !in1.load()) return 1;
    for (int i = 0; i < 2; ++i) {
        Port& p = *srcs[i];
        p.thr = threshold(pv[i] >= 0 ? pv[i] : p_valid);
        p.cyc.assign(p.n, 0);
    }
    for (int i = 0; i < 2; ++i) {
        Port& p = *snks[i];
        p.thr = threshold(pr[i] >= 0 ? pr[i] : p_ready);
        if (!p.present()) { p.n = 0; continue; }
        if (!p.path) { std::fprintf(stderr, "no file for %s\n", p.name); return 1; }
        p.cyc.assign(p.n, 0);
        p.data.assign(p.n * p.nw, 0);
    }

    auto ctx = std::make_unique<VerilatedContext>();
    ctx->commandArgs(argc, argv);
#if VM_TRACE
    if (trace_path) ctx->traceEverOn(true);
#else
    if (trace_path) {
        std::fprintf(stderr, "trace=%s: this simulation was built without --trace\n", trace_path);
        return 1;
    }
#endif
#if !VM_COVERAGE
    if (cov_dir) {
        std::fprintf(stderr, "+coverage=%s: this simulation was built without coverage\n",
                     cov_dir);
        return 1;
    }
#endif
    auto top = std::make_unique<Vsim>(ctx.get(), "TOP");
#if VM_TRACE
    std::unique_ptr<VerilatedVcdC> vcd;
    if (trace_path) {
        vcd = std::make_unique<VerilatedVcdC>();
        top->trace(vcd.get(), 99);
        vcd->open(trace_path);
    }
#endif
    uint64_t tick = 0;
    bool fast_eval = false;  // set once the model is initialised (the first eval() calls)
    auto eval = [&]() {  // evaluate, and dump the waveform when tracing
        if (fast_eval) Vsim___024root___eval(top->rootp);
        else top->eval();
#if VM_TRACE
        if (vcd) vcd->dump(tick);
#endif
        ++tick;
    };
    Rng rng(seed);

    top->clk = 0;
    top->rst_n = 0;
    top->s_tvalid = 0;
    top->m_tready = 0;
#if IN1_WIDTH > 0
    top->s1_tvalid = 0;
#endif
#if OUT1_WIDTH > 0
    top->m1_tready = 0;
#endif
    for (int i = 0; i < 4; ++i) {
        top->clk = 0; eval();
        top->clk = 1; eval();
    }
    top->clk = 0;
    top->rst_n = 1;
    top->eval();
    fast_eval = Vsim___024root___eval != nullptr;

    uint64_t cycle = 0, idle = 0, tail_left = tail, end_cycle = 0;
    int status = 0;
    for (;;) {
        if (cycle >= max_cycles) {
            std::fprintf(stderr, "max_cycles=%" PRIu64 " reached", max_cycles);
            progress(ports, 4);
            status = 4;
            break;
        }
        // Drive the inputs for this cycle (clk is low); random draws in port order.
        in0.drive(top->s_tdata, top->s_tvalid, rng);
#if IN1_WIDTH > 0
        in1.drive(top->s1_tdata, top->s1_tvalid, rng);
#endif
        out0.drive(top->m_tready, rng);
#if OUT1_WIDTH > 0
        out1.drive(top->m1_tready, rng);
#endif
        eval();
        // Sample handshakes before the rising edge.
        bool any = false;
        status = out0.sample(top->m_tdata, top->m_tvalid, top->m_tready, cycle, any);
#if OUT1_WIDTH > 0
        if (!status) status = out1.sample(top->m1_tdata, top->m1_tvalid, top->m1_tready, cycle,
                                          any);
#endif
        if (status) break;
        any |= in0.sample(top->s_tready, cycle);
#if IN1_WIDTH > 0
        any |= in1.sample(top->s1_tready, cycle);
#endif
        top->clk = 1;
        eval();
        top->clk = 0;
        if (ctx->gotFinish()) {
            std::fprintf(stderr, "design called $finish/$stop at cycle %" PRIu64 "\n", cycle);
            status = 6;
            break;
        }
        ++cycle;
        const bool all_done = out0.done() && out1.done();
        if (any) {
            idle = 0;
        } else if (++idle >= watchdog && !all_done) {
            // An input offering a word that is not taken: the input side is stuck; otherwise
            // the outputs that still wait for words are.
            const bool in_stuck = in0.offering || in1.offering;
            std::fprintf(stderr, "watchdog: no handshake for %" PRIu64 " cycles at cycle %" PRIu64
                         "; %s side stuck: %s on", watchdog, cycle, in_stuck ? "input" : "output",
                         in_stuck ? "tready low with tvalid high" : "tvalid low");
            if (in_stuck) {
                if (in0.offering) std::fprintf(stderr, " %s", in0.name);
                if (in1.offering) std::fprintf(stderr, " %s", in1.name);
            } else {
                if (!out0.done()) std::fprintf(stderr, " %s", out0.name);
                if (!out1.done()) std::fprintf(stderr, " %s", out1.name);
            }
            progress(ports, 4);
            status = 2;
            break;
        }
        if (all_done) {
            if (end_cycle == 0) end_cycle = cycle;
            if (tail_left == 0) break;
            --tail_left;
        }
    }
    if (end_cycle == 0) end_cycle = cycle;
    top->final();
#if VM_TRACE
    if (vcd) vcd->close();
#endif
#if VM_COVERAGE
    if (cov_dir) {  // every instance apart (by default Verilator sums a module's instances)
        ctx->coveragep()->forcePerInstance(true);
        ctx->coveragep()->write(std::string(cov_dir) + "/coverage.dat");
    }
#endif

    if (!out0.save() || !out1.save()) return 1;
    if (cyc_path) {
        FILE* fc = std::fopen(cyc_path, "wb");
        if (!fc) { std::fprintf(stderr, "cannot write %s\n", cyc_path); return 1; }
        std::fwrite(&end_cycle, sizeof(uint64_t), 1, fc);
        for (const Port* p : ports) {
            if (!p->present()) continue;
            uint64_t n = p->count;
            std::fwrite(&n, sizeof(uint64_t), 1, fc);
            std::fwrite(p->cyc.data(), sizeof(uint64_t), p->count, fc);
        }
        std::fclose(fc);
    }
    return status;
}
