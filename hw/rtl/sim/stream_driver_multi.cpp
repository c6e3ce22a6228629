// onebit multi-port stream driver: up to two AXI-Stream sources and two sinks around a
// Verilated design, each port with its own random valid/ready pattern.
//
// The design is `onebit_sim_multi_top` (written by onebit.hw.sim_multi), compiled with
// --prefix Vsim and -DIN0_WIDTH=.. -DIN1_WIDTH=.. -DOUT0_WIDTH=.. -DOUT1_WIDTH=.. (a width of 0
// means the port is absent). Ports: clk, rst_n, s_tdata/s_tvalid/s_tready (input 0),
// s1_* (input 1), m_tdata/m_tvalid/m_tready (output 0), m1_* (output 1).
// Arguments are key=value:
//   in0=FILE in1=FILE    input words, one hex word per line
//   out0=FILE out1=FILE  output words written here, one hex word per line
//   n_out0=N n_out1=N    words expected on each output
//   cycles=FILE          binary little-endian uint64: total cycles, then for each input and each
//                        output port (in order in0, in1, out0, out1, present ports only) the
//                        number of handshakes followed by the cycle of each handshake
//   seed=S p_valid=P p_ready=P watchdog=K max_cycles=M tail=T   as stream_driver.cpp; every
//                        port draws its stalls from its own random stream
//   p_valid0=P p_valid1=P p_ready0=P p_ready1=P   per-port overrides of p_valid / p_ready
// Exit status: 0 ok, 1 usage/io error, 2 watchdog, 3 protocol violation, 4 max cycles,
// 5 extra output, 6 design called $finish/$stop.

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

#if !defined(IN0_WIDTH) || !defined(IN1_WIDTH) || !defined(OUT0_WIDTH) || !defined(OUT1_WIDTH)
#error "IN0_WIDTH, IN1_WIDTH, OUT0_WIDTH and OUT1_WIDTH must be defined"
#endif

template <class T>
static inline void set_port(T& port, const uint32_t* w) {
    if constexpr (sizeof(T) <= 4) port = static_cast<T>(w[0]);
    else port = static_cast<T>(static_cast<uint64_t>(w[0]) | (static_cast<uint64_t>(w[1]) << 32));
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
};

static uint64_t threshold(double p) {
    return p >= 1.0 ? (1ULL << 32) : static_cast<uint64_t>(p * 4294967296.0);
}

static int nwords(int width) { return (width + 31) / 32 < 2 ? 2 : (width + 31) / 32; }

static void mask(uint32_t* w, int width, int n) {
    for (int i = 0; i < n; ++i) {
        int lo = 32 * i;
        if (lo >= width) w[i] = 0;
        else if (width - lo < 32) w[i] &= (1u << (width - lo)) - 1;
    }
}

static bool read_hex(const char* path, int width, std::vector<uint32_t>& data, size_t& count) {
    FILE* f = std::fopen(path, "r");
    if (!f) return false;
    const int nw = nwords(width);
    count = 0;
    std::string buf;
    auto flush = [&]() {
        if (buf.empty()) return true;
        size_t base = data.size();
        data.resize(base + nw, 0);
        int nib = 0;
        for (size_t i = buf.size(); i-- > 0;) {
            char c = buf[i];
            int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (v < 0) {
                if (c == '_') continue;
                return false;
            }
            if (nib / 8 < nw) data[base + nib / 8] |= static_cast<uint32_t>(v) << (4 * (nib % 8));
            ++nib;
        }
        mask(&data[base], width, nw);
        ++count;
        buf.clear();
        return true;
    };
    int c;
    bool ok = true;
    while (ok && (c = std::fgetc(f)) != EOF) {
        if (c == '\n' || c == '\r' || c == ' ' || c == '\t') ok = flush();
        else buf.push_back(static_cast<char>(c));
    }
    ok = ok && flush();
    std::fclose(f);
    return ok;
}

static void write_hex(FILE* f, const uint32_t* w, int width) {
    static const char* digits = "0123456789abcdef";
    int ndig = (width + 3) / 4;
    std::string s(ndig, '0');
    for (int d = 0; d < ndig; ++d) s[ndig - 1 - d] = digits[(w[d / 8] >> (4 * (d % 8))) & 0xF];
    std::fputs(s.c_str(), f);
    std::fputc('\n', f);
}

struct Source {
    const char* name;
    int width = 0, nw = 2;
    const char* path = nullptr;
    std::vector<uint32_t> data;
    size_t n = 0, idx = 0;
    bool offering = false;
    std::vector<uint64_t> cyc;
    Rng rng{0};
    uint64_t thr = 0;

    template <class D>
    void drive(D& tdata, CData& tvalid) {
        if (!offering && idx < n && (thr > 0xFFFFFFFFULL || rng.next() < thr)) {
            offering = true;
            set_port(tdata, &data[idx * nw]);
        }
        tvalid = offering;
    }
    bool sample(CData tready, uint64_t cycle) {
        if (!(offering && tready)) return false;
        cyc.push_back(cycle);
        ++idx;
        offering = false;
        return true;
    }
};

struct Sink {
    const char* name;
    int width = 0, nw = 2;
    const char* path = nullptr;
    std::vector<uint32_t> data;
    size_t n = 0;
    bool hold = false;
    std::vector<uint32_t> held, cur;
    std::vector<uint64_t> cyc;
    Rng rng{0};
    uint64_t thr = 0;

    bool done() const { return cyc.size() >= n; }
    void drive(CData& tready) { tready = done() || thr > 0xFFFFFFFFULL || rng.next() < thr; }
    // 0: ok (sets *fired), 3: protocol violation, 5: extra word.
    template <class D>
    int sample(const D& tdata, CData tvalid, CData tready, uint64_t cycle, bool* fired) {
        *fired = false;
        if (hold || tvalid) {
            get_port(tdata, cur.data());
            mask(cur.data(), width, nw);
        }
        if (hold && (!tvalid || cur != held)) {
            std::fprintf(stderr, "protocol violation at cycle %" PRIu64 ": %s %s while tvalid && "
                         "!tready (word %zu)\n", cycle, name,
                         tvalid ? "tdata changed" : "tvalid dropped", cyc.size());
            return 3;
        }
        bool fire = tvalid && tready;
        if (fire && done()) {
            std::fprintf(stderr, "extra output word on %s at cycle %" PRIu64 ": expected %zu "
                         "words\n", name, cycle, n);
            return 5;
        }
        if (fire) {
            data.insert(data.end(), cur.begin(), cur.end());
            cyc.push_back(cycle);
            *fired = true;
        }
        hold = tvalid && !fire;
        if (hold) held = cur;
        return 0;
    }
};

int main(int argc, char** argv) {
    Source src[2] = {{"input 0"}, {"input 1"}};
    Sink snk[2] = {{"output 0"}, {"output 1"}};
    src[0].width = IN0_WIDTH;
    src[1].width = IN1_WIDTH;
    snk[0].width = OUT0_WIDTH;
    snk[1].width = OUT1_WIDTH;
    const char* cyc_path = nullptr;
    uint64_t seed = 0, watchdog = 100000, max_cycles = UINT64_MAX, tail = 0;
    double p_valid = 1.0, p_ready = 1.0;
    double pv[2] = {-1.0, -1.0}, pr[2] = {-1.0, -1.0};
    for (int i = 1; i < argc; ++i) {
        const char* a = argv[i];
        const char* eq = std::strchr(a, '=');
        if (!eq || a[0] == '+') continue;
        std::string k(a, eq - a);
        const char* v = eq + 1;
        if (k == "in0") src[0].path = v;
        else if (k == "in1") src[1].path = v;
        else if (k == "out0") snk[0].path = v;
        else if (k == "out1") snk[1].path = v;
        else if (k == "n_out0") snk[0].n = std::strtoull(v, nullptr, 10);
        else if (k == "n_out1") snk[1].n = std::strtoull(v, nullptr, 10);
        else if (k == "cycles") cyc_path = v;
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
    for (int i = 0; i < 2; ++i) {
        Source& s = src[i];
        s.nw = nwords(s.width);
        s.rng = Rng(seed * 4 + i);
        s.thr = threshold(pv[i] >= 0 ? pv[i] : p_valid);
        if (s.width > 0 && (!s.path || !read_hex(s.path, s.width, s.data, s.n))) {
            std::fprintf(stderr, "cannot read %s words from %s\n", s.name, s.path ? s.path : "?");
            return 1;
        }
        Sink& k = snk[i];
        k.nw = nwords(k.width);
        k.rng = Rng(seed * 4 + 2 + i);
        k.thr = threshold(pr[i] >= 0 ? pr[i] : p_ready);
        k.held.assign(k.nw, 0);
        k.cur.assign(k.nw, 0);
        if (k.width > 0 && !k.path) { std::fprintf(stderr, "no file for %s\n", k.name); return 1; }
        if (k.width == 0) k.n = 0;
    }

    auto ctx = std::make_unique<VerilatedContext>();
    ctx->commandArgs(argc, argv);
    auto top = std::make_unique<Vsim>(ctx.get(), "TOP");
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
        top->clk = 0; top->eval();
        top->clk = 1; top->eval();
    }
    top->clk = 0;
    top->rst_n = 1;
    top->eval();

    uint64_t cycle = 0, idle = 0, tail_left = tail, end_cycle = 0;
    int status = 0;
    for (;;) {
        if (cycle >= max_cycles) {
            std::fprintf(stderr, "max_cycles=%" PRIu64 " reached\n", max_cycles);
            status = 4;
            break;
        }
        src[0].drive(top->s_tdata, top->s_tvalid);
#if IN1_WIDTH > 0
        src[1].drive(top->s1_tdata, top->s1_tvalid);
#endif
        snk[0].drive(top->m_tready);
#if OUT1_WIDTH > 0
        snk[1].drive(top->m1_tready);
#endif
        top->eval();
        bool any = src[0].sample(top->s_tready, cycle);
#if IN1_WIDTH > 0
        any |= src[1].sample(top->s1_tready, cycle);
#endif
        bool fired = false;
        status = snk[0].sample(top->m_tdata, top->m_tvalid, top->m_tready, cycle, &fired);
        any |= fired;
#if OUT1_WIDTH > 0
        if (!status) status = snk[1].sample(top->m1_tdata, top->m1_tvalid, top->m1_tready, cycle,
                                            &fired);
        any |= fired;
#endif
        if (status) break;
        top->clk = 1;
        top->eval();
        top->clk = 0;
        if (ctx->gotFinish()) {
            std::fprintf(stderr, "design called $finish/$stop at cycle %" PRIu64 "\n", cycle);
            status = 6;
            break;
        }
        ++cycle;
        bool all_done = snk[0].done() && snk[1].done();
        if (any) idle = 0;
        else if (++idle >= watchdog && !all_done) {
            std::fprintf(stderr, "watchdog: no handshake for %" PRIu64 " cycles at cycle %" PRIu64
                         ";", watchdog, cycle);
            for (const Source& s : src)
                if (s.width > 0)
                    std::fprintf(stderr, " %s %zu/%zu words%s;", s.name, s.idx, s.n,
                                 s.offering ? " (stuck: tready low with tvalid high)" : "");
            for (const Sink& k : snk)
                if (k.width > 0)
                    std::fprintf(stderr, " %s %zu/%zu words%s;", k.name, k.cyc.size(), k.n,
                                 k.done() ? "" : " (waiting: tvalid low)");
            std::fprintf(stderr, "\n");
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

    for (Sink& k : snk) {
        if (k.width == 0) continue;
        FILE* fo = std::fopen(k.path, "w");
        if (!fo) { std::fprintf(stderr, "cannot write %s\n", k.path); return 1; }
        for (size_t i = 0; i < k.cyc.size(); ++i) write_hex(fo, &k.data[i * k.nw], k.width);
        std::fclose(fo);
    }
    if (cyc_path) {
        FILE* fc = std::fopen(cyc_path, "wb");
        if (!fc) { std::fprintf(stderr, "cannot write %s\n", cyc_path); return 1; }
        std::fwrite(&end_cycle, sizeof(uint64_t), 1, fc);
        auto put = [&](const std::vector<uint64_t>& v) {
            uint64_t n = v.size();
            std::fwrite(&n, sizeof(uint64_t), 1, fc);
            std::fwrite(v.data(), sizeof(uint64_t), v.size(), fc);
        };
        for (const Source& s : src) if (s.width > 0) put(s.cyc);
        for (const Sink& k : snk) if (k.width > 0) put(k.cyc);
        std::fclose(fc);
    }
    return status;
}
