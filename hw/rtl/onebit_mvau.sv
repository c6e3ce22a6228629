// onebit_mvau: binary matrix-vector-activation unit (FINN's MVAU semantics), folded and streaming.
//
// Computes, for every input vector x of MW elements, the MH outputs
//   acc[r] = sum_c  x[c] (*) w[r][c]        then   y[r] = #{t : acc[r] >= thr[r][t]} + OUT_BIAS
// (or y[r] = acc[r] when N_THRES == 0), where the element product (*) is
//   XNOR = 1:                  1 if x == w else 0 (x, w single bits: acc = popcount(xnor))
//   W_BITS = 1, W_BIPOLAR = 1: +x / -x (w code 1 / 0)
//   W_BITS = 1, W_BIPOLAR = 0: x / 0 (w in {0, 1})
//   W_BITS > 1:                x * w, w a signed (W_SIGNED) or unsigned integer
// and x is a bipolar (IN_BIPOLAR: code 1 = +1, code 0 = -1), signed (IN_SIGNED) or unsigned
// integer of IN_BITS bits (multi-bit weights serve a binary network's first and last layers:
// pixels in, logits out). Accumulators and thresholds are signed ACC_BITS-bit integers;
// outputs are OUT_BITS-bit codes (two's complement of y, truncated; with N_THRES == 0 the
// accumulator sign-extended or truncated to OUT_BITS).
//
// Folding: NF = MH / PE neuron folds, SF = MW / SIMD synapse folds. Each cycle without stall
// performs one (nf, sf) step: PE rows x SIMD columns. An input vector arrives as SF words of
// SIMD elements (element 0 in the LSBs), is read from the stream once (during nf = 0) and kept
// in a buffer for nf = 1..NF-1; the result leaves as NF words of PE elements. A vector takes
// NF*SF cycles; the unit runs on over consecutive vectors forever.
//
// Memories ($readmemh, one hex word per line, most significant digit first):
//   WEIGHT_FILE: NF*SF words of PE*SIMD*W_BITS bits; word nf*SF+sf holds at bits
//                [(pe*SIMD+s)*W_BITS +: W_BITS] the weight code of row nf*PE+pe, column
//                sf*SIMD+s (two's complement when W_SIGNED).
//   THRES_FILE:  NF words of PE*N_THRES*ACC_BITS bits; word nf holds thr[nf*PE+pe][t] at bits
//                [((pe*N_THRES)+t)*ACC_BITS +: ACC_BITS], two's complement. Unused if N_THRES=0.
//                With position classes (below): NCLS*NF words, word cls*NF+nf for class cls.
//
// Position classes (a conv that zero-pads a +-1 input, computed as -1 padding plus a correction
// folded into the thresholds; onebit.flows.zero_pad): the vectors of a frame are the
// OUT_ROWS x OUT_COLS output positions in row-major order; position (h, w) has class
// cls = row_cls[h] * N_COL_CLS + col_cls[w] and is thresholded with threshold set cls.
//   ROW_CLS_FILE: OUT_ROWS words, the row class of each output row (< N_ROW_CLS).
//   COL_CLS_FILE: OUT_COLS words, the column class of each output column (< N_COL_CLS).
// With N_ROW_CLS = N_COL_CLS = 1 (the default) there is one threshold set and no counters.
//
// Pipeline: issue (memory reads) -> SIMD dot products -> accumulate -> threshold -> output FIFO.
// A step that completes an output word is only issued with a credit for a free FIFO slot, so
// the datapath never stalls and s_axis_tready is a function of registers only (no
// combinational path from m_axis_tready). Steady state: one step per cycle; latency from the
// last input word of a vector to its last output word: 4 cycles plus (NF-1)*SF.
//
// Runtime-writable memories (FINN's runtime_writeable_weights; WRITABLE = 1): the host rewrites
// the weight (cfg_sel = 0) and threshold (cfg_sel = 1) memories through a 32-bit write port.
// A memory word of B bits is written as ceil(B / 32) parts, part p holding bits [32p +: 32];
// cfg_idx = word * P + part, P the smallest power of two >= ceil(B / 32). Parts below the last
// are staged; writing the last part commits the whole word (write them in increasing order).
// Indices past the memory are ignored. Rewrite only while no vector is in flight (the shell's
// ap_idle). With WRITABLE = 0 the port is ignored and the memories are ROMs as before.
//
// Pipelining by depth (PIPE_LEVELS = K > 0; K = 0 is the datapath above): the SIMD reduction
// is a balanced adder tree (onebit_adder_tree) with registers every K adder levels (the
// products of multi-bit weights registered before it), and the activation compares the
// accumulator with all N_THRES thresholds at once into a register, then counts the results
// in a second tree registered every K levels: one output per cycle, exact for any threshold
// order. Throughput is unchanged; the latency grows by DOT_LAT + THR_LAT cycles.
//
// Precision gating (FracBNN's PG layer; GATED = 1, onebit.flows.fracbnn_ops.pg_accumulate):
// the input elements are 2-bit codes q (IN_BITS = 2, a = 2q - 3 in {-3, -1, 1, 3}) and the
// weights +-1 (W_BITS = 1, W_BIPOLAR = 1, XNOR = 0). Two XNOR-popcount lanes per PE count, over
// the vector, the matches of the weights with the MSB plane (q[1]: pc_m) and with the LSB plane
// (q[0]: pc_l), one (nf, sf) step per cycle as a 1-bit MVAU. At the end of the vector the gate
// opens where acc_m = 2 pc_m - MW >= T (stored as pc_m >= G = ceil((T + MW) / 2)) and
//   acc = 2 acc_m + (gate ? acc_l : 0) = 4 pc_m - 2 MW + (gate ? 2 pc_l - MW : 0),
// in thirds of the paper's units, is what the thresholds (or the raw output) see.
//   GATE_FILE: NF words of PE*ACC_BITS bits; word nf holds G of row nf*PE+pe at bits
//              [pe*ACC_BITS +: ACC_BITS] (G in [0, MW + 1]).
// The gate and the sum take GATE_LAT registers (1; 2 when pipelined: compare, then add), so a
// vector still takes NF*SF cycles; the latency grows by GATE_LAT.
//
// Thermometer codes (THERMO_LEVELS = L > 0; XNOR, SIMD a multiple of L): every SIMD word is
// TG = SIMD / L codes of L bits from FracBNN's thermometer unit, code bit k set for levels
// k < q (q levels on). The matches of such a code with L weight bits depend on q alone,
//   m(q) = #{k < q : w_k = 1} + #{k >= q : w_k = 0},
// so the unit decodes q once per code (shared by the PEs) and reads m from a table instead
// of counting L XNORs per PE: a function of q and the weight word in place of an L-input
// popcount. Exact on thermometer codes only (onebit.hw.mvau enables it for a layer whose
// input comes from a thermometer unit through padding and sliding windows).
//   THERMO_FILE: TG * NW2 * Q2 words of PE*TM_W bits (NW2 = 2^WA_W, Q2 = 2^TM_W, TM_W =
//                clog2(L + 1)); word (g * NW2 + wa) * Q2 + q holds at [pe*TM_W +: TM_W] the
//                matches of code g with q levels on and row pe of weight word wa.
//
// Two products per multiplier (PACK_SHIFT = G > 0; multi-bit inputs and weights, PE even): PE
// rows 2q and 2q+1 read the same input x, so their weights a and b are stored as one value
// A = a * 2^G + b (W_BITS + G + 1 bits, two's complement) and multiplied once: x * A =
// (a x) 2^G + b x, where G is the width of any product b x (two's complement). The low G bits
// of the product are b x; the rest, shifted down, are a x - 1 where b x < 0, so row 2q adds
// the count of negative b x over the vector as one more operand of its sum. One multiplier
// (a DSP48 where the tool maps it so) serves two rows; cycles and latency as without. The
// products leave the multiplier before they are summed (the halves of a packed sum would
// overflow into each other), so the sums are built from LUTs rather than DSP cascades.
//   WEIGHT_FILE when packed: NF*SF words of (PE/2)*SIMD*P bits (P = W_BITS+G+1); word
//                nf*SF+sf holds at [(q*SIMD+s)*P +: P] the A of rows nf*PE+2q (a) and
//                nf*PE+2q+1 (b), column sf*SIMD+s.
//
// Functional coverage (simulation only, `define ONEBIT_COVERAGE; onebit.hw.coverage): which
// weight words the issue stage read, which input elements (columns) were ever nonzero (the
// weights of a column whose input is always 0 take part in no product: no vector tests them;
// XNOR, bipolar and gated inputs are never 0), and which thresholds the activation compared
// with an accumulator at or above them and below them. With the plusarg +coverage=DIR, `final`
// appends
//   <instance> weight_words <read> <NF*SF>
//   <instance> input_columns <nonzero> <MW>
//   <instance>.g_thres.u_cov_thres thresholds <both ways> <only >=> <only <> <NCLS*NF*PE*N_THRES>
//   <instance>.g_gate.u_cov_gates gates <both ways> <only >=> <only <> <NF*PE>  (GATED: pc_m >= G)
// to DIR/functional.txt (a threshold counts per class set, row and index).
//
// Synthesis attributes (FINN's folding keys; "auto" adds none of its own): RAM_STYLE on the
// weight memory and RAM_STYLE_THRES on the threshold memory ((* ram_style *): auto, block,
// distributed, ultra), RES_TYPE on the products ((* use_dsp *): "lut" -> "no", "dsp" -> "yes").
module onebit_mvau #(
  parameter int unsigned MW = 16,
  parameter int unsigned MH = 8,
  parameter int unsigned SIMD = 4,
  parameter int unsigned PE = 2,
  parameter int unsigned IN_BITS = 1,
  parameter bit IN_SIGNED = 1'b0,
  parameter bit IN_BIPOLAR = 1'b0,
  parameter bit W_BIPOLAR = 1'b1,
  parameter int unsigned W_BITS = 1,
  parameter bit W_SIGNED = 1'b1,
  parameter bit XNOR = 1'b1,
  parameter int unsigned ACC_BITS = 16,
  parameter int unsigned N_THRES = 1,
  parameter int unsigned OUT_BITS = 1,
  parameter int OUT_BIAS = 0,
  parameter string WEIGHT_FILE = "",
  parameter string THRES_FILE = "",
  parameter int unsigned OUT_ROWS = 1,
  parameter int unsigned OUT_COLS = 1,
  parameter int unsigned N_ROW_CLS = 1,
  parameter int unsigned N_COL_CLS = 1,
  parameter string ROW_CLS_FILE = "",
  parameter string COL_CLS_FILE = "",
  parameter bit WRITABLE = 1'b0,
  parameter int unsigned PIPE_LEVELS = 0,
  parameter bit GATED = 1'b0,
  parameter string GATE_FILE = "",
  parameter int unsigned THERMO_LEVELS = 0,
  parameter string THERMO_FILE = "",
  parameter int unsigned PACK_SHIFT = 0,
  // synthesis attributes only (Verilator ignores them)
  /* verilator lint_off UNUSEDPARAM */
  parameter string RAM_STYLE = "auto",
  parameter string RAM_STYLE_THRES = "auto",
  parameter string RES_TYPE = "auto"
  /* verilator lint_on UNUSEDPARAM */
) (
  input  logic                     clk,
  input  logic                     rst_n,
  input  logic [SIMD*IN_BITS-1:0]  s_axis_tdata,
  input  logic                     s_axis_tvalid,
  output logic                     s_axis_tready,
  output logic [PE*OUT_BITS-1:0]   m_axis_tdata,
  output logic                     m_axis_tvalid,
  input  logic                     m_axis_tready,
  // memory write port (used when WRITABLE; no toggle coverage: a stream simulation never
  // writes)
  /* verilator coverage_off */
  input  logic                     cfg_we,
  input  logic                     cfg_sel,
  input  logic [31:0]              cfg_idx,
  input  logic [31:0]              cfg_data
  /* verilator coverage_on */
);
  localparam int unsigned NF = MH / PE;
  localparam int unsigned SF = MW / SIMD;
  localparam int unsigned IN_W = SIMD * IN_BITS;
  localparam int unsigned OUT_W = PE * OUT_BITS;
  localparam bit PACK = PACK_SHIFT > 0;
  localparam int unsigned PACK_W = W_BITS + PACK_SHIFT + 1;  // a packed pair of weights
  localparam int unsigned WW = PACK ? PE / 2 * SIMD * PACK_W : PE * SIMD * W_BITS;
  localparam int unsigned NT = N_THRES > 0 ? N_THRES : 1;
  localparam int unsigned THR_W = PE * NT * ACC_BITS;
  localparam int unsigned NF_W = NF > 1 ? $clog2(NF) : 1;
  localparam int unsigned SF_W = SF > 1 ? $clog2(SF) : 1;
  localparam int unsigned WA_W = NF * SF > 1 ? $clog2(NF * SF) : 1;
  localparam bit POPCNT = XNOR || GATED;  // 1-bit XNOR terms (GATED: two lanes of them)
  localparam int unsigned TERM_W = POPCNT ? 1
                                   : IN_BITS + W_BITS + 1 < ACC_BITS ? IN_BITS + W_BITS + 1
                                   : ACC_BITS;
  localparam int unsigned TL = THERMO_LEVELS > 0 ? THERMO_LEVELS : 1;
  localparam int unsigned TG = SIMD / TL;  // thermometer codes per SIMD word
  localparam int unsigned TM_W = $clog2(TL + 1);  // q and the matches, 0..L
  localparam int unsigned DOT_N = THERMO_LEVELS > 0 ? TG  // the adder tree's operands
                                  : PACK ? SIMD + 1 : SIMD;
  localparam int unsigned DOT_DEPTH = DOT_N > 1 ? $clog2(DOT_N) : 0;
  localparam int unsigned THR_DEPTH = N_THRES > 1 ? $clog2(N_THRES) : 0;
  localparam bit REG_PRODUCTS = PIPE_LEVELS > 0 && ((!XNOR && W_BITS > 1) || THERMO_LEVELS > 0);
  localparam int unsigned DOT_LAT = PIPE_LEVELS == 0 ? 0
                                    : 32'(REG_PRODUCTS) + DOT_DEPTH / PIPE_LEVELS;
  localparam int unsigned THR_LAT = PIPE_LEVELS == 0 || N_THRES == 0 ? 0
                                    : 1 + THR_DEPTH / PIPE_LEVELS;
  localparam int unsigned GATE_LAT = !GATED ? 0 : PIPE_LEVELS > 0 ? 2 : 1;
  localparam int unsigned LATENCY = 3 + DOT_LAT + GATE_LAT + THR_LAT;  // issue to FIFO write
  localparam int unsigned FIFO_DEPTH = LATENCY + 3;  // credits for one result per cycle
  localparam int unsigned CR_W = $clog2(FIFO_DEPTH + 1);
  localparam int unsigned CNT_W = $clog2(NT + 1);
  localparam int unsigned NCLS = N_ROW_CLS * N_COL_CLS;
  localparam int unsigned TA_W = NCLS * NF > 1 ? $clog2(NCLS * NF) : 1;

  // ---- elaboration checks -------------------------------------------------------------------
  if (SIMD < 1 || PE < 1 || MW % SIMD != 0) begin : g_bad_simd
    $error("onebit_mvau: MW (%0d) must be a multiple of SIMD (%0d)", MW, SIMD);
  end
  if (MH % PE != 0) begin : g_bad_pe
    $error("onebit_mvau: MH (%0d) must be a multiple of PE (%0d)", MH, PE);
  end
  if ((XNOR || IN_BIPOLAR) && IN_BITS != 1) begin : g_bad_in_bits
    $error("onebit_mvau: XNOR and IN_BIPOLAR need IN_BITS = 1, got %0d", IN_BITS);
  end
  if (W_BITS < 1 || (XNOR && W_BITS != 1)) begin : g_bad_w_bits
    $error("onebit_mvau: W_BITS (%0d) must be >= 1, and 1 with XNOR", W_BITS);
  end
  if (ACC_BITS < 2 || ACC_BITS > 64 || OUT_BITS < 1) begin : g_bad_widths
    $error("onebit_mvau: ACC_BITS (%0d) must lie in [2, 64], OUT_BITS (%0d) >= 1",
           ACC_BITS, OUT_BITS);
  end
  if (N_ROW_CLS < 1 || N_COL_CLS < 1 || N_ROW_CLS > OUT_ROWS || N_COL_CLS > OUT_COLS)
  begin : g_bad_classes
    $error("onebit_mvau: %0d x %0d position classes for %0d x %0d positions: need %s",
           N_ROW_CLS, N_COL_CLS, OUT_ROWS, OUT_COLS,
           "1 <= N_ROW_CLS <= OUT_ROWS and 1 <= N_COL_CLS <= OUT_COLS");
  end
  if (GATED && (IN_BITS != 2 || W_BITS != 1 || !W_BIPOLAR || XNOR || NCLS > 1 || WRITABLE))
  begin : g_bad_gated
    $error("onebit_mvau: GATED needs IN_BITS = 2, W_BITS = 1, W_BIPOLAR, no XNOR, %s",
           "no position classes, WRITABLE = 0");
  end
  if (THERMO_LEVELS > 0 && (!XNOR || GATED || WRITABLE || SIMD % THERMO_LEVELS != 0))
  begin : g_bad_thermo
    $error("onebit_mvau: THERMO_LEVELS (%0d) needs XNOR, SIMD (%0d) a multiple of it, %s",
           THERMO_LEVELS, SIMD, "GATED = 0 and WRITABLE = 0");
  end
  if (PACK && (W_BITS < 2 || IN_BITS < 2 || IN_BIPOLAR || XNOR || GATED || WRITABLE
               || PE % 2 != 0 || THERMO_LEVELS > 0)) begin : g_bad_pack
    $error("onebit_mvau: PACK_SHIFT needs multi-bit inputs and weights, PE (%0d) even, %s", PE,
           "no XNOR, GATED, WRITABLE or THERMO_LEVELS");
  end
  if (NCLS > 1 && N_THRES == 0) begin : g_bad_class_thres
    $error("onebit_mvau: position classes (%0d) need thresholds, N_THRES = 0", NCLS);
  end

  typedef logic signed [ACC_BITS-1:0] acc_t;

  // ---- memories (contents, not logic: no toggle coverage) ----------------------------------
  /* verilator coverage_off */
  (* ram_style = RAM_STYLE *) logic [WW-1:0] wmem [NF*SF];
  /* verilator coverage_on */

  logic [IN_W-1:0]    ibuf [SF];
  initial $readmemh(WEIGHT_FILE, wmem);
  if (WRITABLE) begin : g_wr_weights
    logic w_we;
    logic [WA_W-1:0] w_wa;
    logic [WW-1:0] w_wd;
    onebit_mvau_wport #(.WIDTH(WW), .DEPTH(NF * SF)) u_wport (
      .clk, .we(cfg_we && !cfg_sel), .idx(cfg_idx), .data(cfg_data), .mem_we(w_we),
      .mem_addr(w_wa), .mem_data(w_wd)
    );
    always_ff @(posedge clk) if (w_we) wmem[w_wa] <= w_wd;
  end else begin : g_rom_weights
    logic unused_cfg;
    assign unused_cfg = ^{cfg_we, cfg_sel, cfg_idx, cfg_data};
  end

  // ---- stage 0: issue one (nf, sf) step ------------------------------------------------------
  logic [NF_W-1:0] nf;
  logic [SF_W-1:0] sf;
  logic [WA_W-1:0] waddr;
  logic [CR_W-1:0] credits;
  logic            fifo_s_ready, fifo_m_valid;

  wire is_last = 32'(sf) == SF - 1;
  wire can_go  = !is_last || credits != '0;
  wire go      = can_go && (nf != '0 || s_axis_tvalid);
  wire s_fire  = go && nf == '0;
  wire m_fire  = fifo_m_valid && m_axis_tready;
  assign s_axis_tready = can_go && nf == '0;

  // ---- position class of the vector being issued: threshold set base tbase = cls * NF ------
  logic [TA_W-1:0] tbase;
  wire  [TA_W-1:0] taddr = tbase + TA_W'(nf);
  if (NCLS == 1) begin : g_one_class
    assign tbase = '0;
  end else begin : g_classes
    localparam int unsigned PH_W = OUT_ROWS > 1 ? $clog2(OUT_ROWS) : 1;
    localparam int unsigned PW_W = OUT_COLS > 1 ? $clog2(OUT_COLS) : 1;
    localparam int unsigned RC_W = N_ROW_CLS > 1 ? $clog2(N_ROW_CLS) : 1;
    localparam int unsigned CC_W = N_COL_CLS > 1 ? $clog2(N_COL_CLS) : 1;
    /* verilator coverage_off */
    logic [RC_W-1:0] row_cls [OUT_ROWS];
    logic [CC_W-1:0] col_cls [OUT_COLS];
    /* verilator coverage_on */
    initial begin
      $readmemh(ROW_CLS_FILE, row_cls);
      $readmemh(COL_CLS_FILE, col_cls);
    end
    logic [PH_W-1:0] pos_h;
    logic [PW_W-1:0] pos_w;
    wire vec_done = go && is_last && 32'(nf) == NF - 1;
    wire last_w = 32'(pos_w) == OUT_COLS - 1;
    wire last_h = 32'(pos_h) == OUT_ROWS - 1;
    wire [PW_W-1:0] pos_w_next = last_w ? '0 : pos_w + 1'b1;
    wire [PH_W-1:0] pos_h_next = !last_w ? pos_h : last_h ? '0 : pos_h + 1'b1;
    function automatic logic [TA_W-1:0] base(logic [PH_W-1:0] h, logic [PW_W-1:0] w);
      return TA_W'((32'(row_cls[h]) * N_COL_CLS + 32'(col_cls[w])) * NF);
    endfunction
    always_ff @(posedge clk) begin
      if (!rst_n) begin
        pos_h <= '0;
        pos_w <= '0;
        tbase <= base('0, '0);
      end else if (vec_done) begin
        pos_h <= pos_h_next;
        pos_w <= pos_w_next;
        tbase <= base(pos_h_next, pos_w_next);
      end
    end
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      nf      <= '0;
      sf      <= '0;
      waddr   <= '0;
      credits <= CR_W'(FIFO_DEPTH);
    end else begin
      if (go) begin
        sf    <= is_last ? '0 : sf + 1'b1;
        waddr <= 32'(waddr) == NF * SF - 1 ? '0 : waddr + 1'b1;
        if (is_last) nf <= 32'(nf) == NF - 1 ? '0 : nf + 1'b1;
      end
      credits <= credits - CR_W'(go && is_last) + CR_W'(m_fire);
    end
  end

  // ---- stage 1: operands ---------------------------------------------------------------------
  logic              v1, first1, last1, from_stream1;
  logic [TA_W-1:0]   ta1;
  logic [IN_W-1:0]   x_stream1, x_buf1;
  logic [WW-1:0]     w1;

  always_ff @(posedge clk) begin
    if (!rst_n) v1 <= 1'b0;
    else v1 <= go;
  end
  always_ff @(posedge clk) begin
    if (go) begin
      first1       <= sf == '0;
      last1        <= is_last;
      from_stream1 <= nf == '0;
      ta1          <= taddr;
      w1           <= wmem[waddr];
      x_buf1       <= ibuf[sf];
    end
    if (s_fire) begin
      x_stream1 <= s_axis_tdata;
      if (NF > 1) ibuf[sf] <= s_axis_tdata;
    end
  end

  wire [IN_W-1:0] x1 = from_stream1 ? x_stream1 : x_buf1;

  function automatic acc_t product(logic [IN_BITS-1:0] x, logic [W_BITS-1:0] w);
    acc_t v;
    if (IN_BIPOLAR) v = x[0] ? acc_t'(1) : -acc_t'(1);
    else if (IN_SIGNED) v = acc_t'($signed(x));
    else v = acc_t'($unsigned(x));
    if (W_BITS > 1) return v * (W_SIGNED ? acc_t'($signed(w)) : acc_t'($unsigned(w)));
    if (W_BIPOLAR) return w[0] ? v : -v;
    return w[0] ? v : '0;
  endfunction

  // A PE row's weights: SIMD elements of W_BITS bits, row p of a memory word at w[p*RW +: RW]
  // (the functions below take a row, not the word: Verilator copies a function's arguments).
  localparam int unsigned RW = SIMD * W_BITS;
  typedef logic [RW-1:0] row_t;

  // the SIMD matches of a row's weights (one bit each) with bit b of each input element (XNOR:
  // the element; GATED: b = 1 the MSB plane, b = 0 the LSB plane)
  function automatic logic [SIMD-1:0] agree(logic [IN_W-1:0] x, row_t w, int b);
    logic [SIMD-1:0] m;
    if (IN_BITS == 1) return x[SIMD-1:0] ~^ w[SIMD-1:0];  // whole words in Verilator
    for (int s = 0; s < SIMD; s++) m[s] = x[s*IN_BITS + b] ~^ w[s];
    return m;
  endfunction

  localparam int MSB = GATED ? 1 : 0;  // the plane of the first lane

  // Small dot products (PLANES: not XNOR, not packed, inputs and weights of 1 or 2 bits) as
  // popcounts of bit planes, a few word operations a PE where a simulator unrolls a loop of
  // SIMD products into PE x SIMD of them (and fewer LUTs in Yosys; 4-bit inputs keep the
  // products: their plane sums were 5 LUT levels deeper, benchmarks/mvau_synth.py). With
  // value(v) = sum_b c_b v[b] + k (c_b = 2^b, the MSB's -2^b when signed; a bipolar code
  // 2 v - 1: c_0 = 2, k = -1),
  //   sum_s value(x_s) value(w_s) = sum_a,b cx_a cw_b popcount(xs_a & w_b)
  //                                 + kx sum_b cw_b popcount(w_b) + kw sum_s value(x_s)
  // where w_b = (w >> b) & LANE0 is bit b of every weight of the row where it is stored (bit
  // s*W_BITS), and xs_a bit a of every input element moved there (once a cycle, for all PEs).
  localparam bit PLANES = !POPCNT && !PACK && IN_BITS <= 2 && W_BITS <= 2
                          && (!IN_BIPOLAR || IN_BITS == 1);
  localparam bit W_BIP1 = W_BITS == 1 && W_BIPOLAR;  // product() reads W_SIGNED when W_BITS > 1

  function automatic row_t lane0_mask();
    row_t m = '0;
    for (int s = 0; s < SIMD; s++) m[s*W_BITS] = 1'b1;
    return m;
  endfunction
  localparam row_t LANE0 = lane0_mask();

  function automatic acc_t coef_x(int a);
    if (IN_BIPOLAR) return acc_t'(2);
    return (IN_SIGNED && a == IN_BITS - 1) ? -(acc_t'(1) << a) : acc_t'(1) << a;
  endfunction

  function automatic acc_t coef_w(int b);
    if (W_BITS == 1) return W_BIPOLAR ? acc_t'(2) : acc_t'(1);
    return (W_SIGNED && b == W_BITS - 1) ? -(acc_t'(1) << b) : acc_t'(1) << b;
  endfunction

  typedef logic [IN_BITS-1:0][RW-1:0] spread_t;
  /* verilator lint_off UNUSEDSIGNAL */
  spread_t xs1;  // bit a of input element s at [a][s*W_BITS]; unused without PLANES
  acc_t xk1;     // kw sum_s value(x_s): the part of every row's sum that is the input's alone
  /* verilator lint_on UNUSEDSIGNAL */
  if (PLANES) begin : g_planes
    always_comb begin
      xs1 = '0;
      for (int a = 0; a < IN_BITS; a++)
        for (int s = 0; s < SIMD; s++) xs1[a][s*W_BITS] = x1[s*IN_BITS + a];
      xk1 = '0;
      if (W_BIP1) begin  // kw = -1
        for (int a = 0; a < IN_BITS; a++) xk1 = xk1 - coef_x(a) * acc_t'($countones(xs1[a]));
        if (IN_BIPOLAR) xk1 = xk1 + acc_t'(SIMD);  // kx kw = 1, per element
      end
    end
  end else begin : g_no_planes
    assign xs1 = '0;
    assign xk1 = '0;
  end

  function automatic acc_t plane_dot(spread_t xs, acc_t xk, row_t w);
    acc_t d = xk;
    for (int b = 0; b < W_BITS; b++) begin
      row_t wb = (w >> b) & LANE0;
      for (int a = 0; a < IN_BITS; a++)
        d = d + coef_x(a) * coef_w(b) * acc_t'($countones(xs[a] & wb));
      if (IN_BIPOLAR) d = d - coef_w(b) * acc_t'($countones(wb));  // kx = -1
    end
    return d;
  endfunction

  function automatic acc_t dot(logic [IN_W-1:0] x, row_t w);
    acc_t d = '0;
    if (POPCNT) return acc_t'($countones(agree(x, w, MSB)));  // a word popcount in Verilator
    if (PLANES) return plane_dot(xs1, xk1, w);  // x is x1, whose planes xs1 are, once a cycle
    for (int s = 0; s < SIMD; s++)
      d = d + product(x[s*IN_BITS +: IN_BITS], w[s*W_BITS +: W_BITS]);
    return d;
  endfunction

  // the SIMD terms of a row, TERM_W bits each (the adder tree's operands)
  function automatic logic [SIMD*TERM_W-1:0] products(logic [IN_W-1:0] x, row_t w);
    logic [SIMD*TERM_W-1:0] t;
    logic [SIMD-1:0] m = agree(x, w, MSB);
    if (POPCNT && TERM_W == 1) return (SIMD*TERM_W)'(m);
    for (int s = 0; s < SIMD; s++) begin
      if (POPCNT) t[s*TERM_W +: TERM_W] = TERM_W'(m[s]);
      else t[s*TERM_W +: TERM_W] = TERM_W'(product(x[s*IN_BITS +: IN_BITS],
                                                   w[s*W_BITS +: W_BITS]));
    end
    return t;
  endfunction

  /* verilator lint_off UNUSEDSIGNAL */  // (unread where dot2's register computes them)
  acc_t dot1 [PE];
  /* verilator lint_on UNUSEDSIGNAL */
  // The adder-tree paths (lookups, packed products, or any pipelined datapath) give each PE
  // row DOT_N operands of TREE_W bits, summed by one onebit_adder_tree a row.
  localparam int unsigned PP_W = PACK_W + IN_BITS + 1;  // x * A, x as a signed value
  localparam int unsigned PT_W0 = PP_W - PACK_SHIFT > PACK_SHIFT ? PP_W - PACK_SHIFT : PACK_SHIFT;
  localparam int unsigned PT_W = PT_W0 < ACC_BITS ? PT_W0 : ACC_BITS;  // sums wrap as acc
  localparam int unsigned TREE_W = THERMO_LEVELS > 0 ? TM_W : PACK ? PT_W : TERM_W;
  localparam bit TREE_SIGNED = THERMO_LEVELS == 0 && (PACK || !POPCNT);
  localparam bit TREE = THERMO_LEVELS > 0 || PACK || PIPE_LEVELS > 0;
  localparam bit DOT_IN_REG = !TREE && RES_TYPE != "lut" && RES_TYPE != "dsp";
  /* verilator lint_off UNUSEDSIGNAL */  // (read only on the tree paths)
  logic [DOT_N*TREE_W-1:0] tree_terms [PE];
  /* verilator lint_on UNUSEDSIGNAL */
  if (THERMO_LEVELS > 0) begin : g_thermo
    localparam int unsigned NW2 = 1 << WA_W;
    localparam int unsigned Q2 = 1 << TM_W;
    /* verilator coverage_off */
    logic [PE*TM_W-1:0] tmem [TG * NW2 * Q2];
    /* verilator coverage_on */
    initial $readmemh(THERMO_FILE, tmem);
    logic [WA_W-1:0] wa1;  // the weight word of stage 1 (the table's, not w1)
    always_ff @(posedge clk) if (go) wa1 <= waddr;
    logic unused_w1;
    assign unused_w1 = ^w1;
    // q of a thermometer code: bit j of q is the parity of the code bits i * 2^j - 1 (i >= 1),
    // of which as many are set as there are multiples of 2^j in 1..q
    function automatic logic [TM_W-1:0] levels_on(logic [TL-1:0] t);
      logic [TM_W-1:0] q = '0;
      for (int j = 0; j < TM_W; j++)
        for (int i = (1 << j) - 1; i < TL; i += 1 << j) q[j] = q[j] ^ t[i];
      return q;
    endfunction
    logic [PE*TM_W-1:0] m [TG];  // the matches of code g, for every PE row
    always_comb
      for (int g = 0; g < TG; g++)
        m[g] = tmem[(g * NW2 + 32'(wa1)) * Q2 + 32'(levels_on(x1[g*TL +: TL]))];
    always_comb
      for (int p = 0; p < PE; p++)
        for (int g = 0; g < TG; g++) tree_terms[p][g*TM_W +: TM_W] = m[g][p*TM_W +: TM_W];
  end else if (PACK) begin : g_pack
    function automatic logic signed [PP_W-1:0] packed_product(logic [IN_BITS-1:0] x,
                                                              logic [PACK_W-1:0] a);
      logic signed [IN_BITS:0] xs = IN_SIGNED ? (IN_BITS+1)'($signed(x))
                                              : $signed({1'b0, x});
      return PP_W'(xs) * PP_W'($signed(a));
    endfunction
    logic signed [PP_W-1:0] pp [PE/2][SIMD];
    if (RES_TYPE == "dsp") begin : g_dsp
      (* use_dsp = "yes" *) logic signed [PP_W-1:0] pp_d [PE/2][SIMD];
      always_comb for (int q = 0; q < PE / 2; q++) for (int s = 0; s < SIMD; s++)
        pp_d[q][s] = packed_product(x1[s*IN_BITS +: IN_BITS], w1[(q*SIMD+s)*PACK_W +: PACK_W]);
      always_comb pp = pp_d;
    end else begin : g_auto
      always_comb for (int q = 0; q < PE / 2; q++) for (int s = 0; s < SIMD; s++)
        pp[q][s] = packed_product(x1[s*IN_BITS +: IN_BITS], w1[(q*SIMD+s)*PACK_W +: PACK_W]);
    end
    // row 2q: the high parts, then the count of negative low parts (the borrows); row 2q+1:
    // the low parts, then 0
    always_comb
      for (int p = 0; p < PE; p++) begin
        logic [SIMD-1:0] neg;
        for (int s = 0; s < SIMD; s++) begin
          neg[s] = pp[p/2][s][PACK_SHIFT-1];  // b x < 0
          tree_terms[p][s*PT_W +: PT_W] =
              p % 2 == 0 ? PT_W'(pp[p/2][s] >>> PACK_SHIFT)
                         : PT_W'($signed(pp[p/2][s][PACK_SHIFT-1:0]));
        end
        tree_terms[p][SIMD*PT_W +: PT_W] = p % 2 == 0 ? PT_W'($countones(neg)) : '0;
      end
  end else if (PIPE_LEVELS > 0) begin : g_dot_tree
    for (genvar p = 0; p < PE; p++) begin : g_pe
      // the products, with RES_TYPE's use_dsp as on the unpipelined path
      if (RES_TYPE == "lut") begin : g_lut
        (* use_dsp = "no" *) logic [SIMD*TERM_W-1:0] t;
        always_comb t = products(x1, w1[p*RW +: RW]);
        assign tree_terms[p] = t;
      end else if (RES_TYPE == "dsp") begin : g_dsp
        (* use_dsp = "yes" *) logic [SIMD*TERM_W-1:0] t;
        always_comb t = products(x1, w1[p*RW +: RW]);
        assign tree_terms[p] = t;
      end else begin : g_auto
        assign tree_terms[p] = products(x1, w1[p*RW +: RW]);
      end
    end
  end else if (RES_TYPE == "lut") begin : g_mul_lut
    (* use_dsp = "no" *) acc_t dot_l [PE];
    always_comb for (int p = 0; p < PE; p++) dot_l[p] = dot(x1, w1[p*RW +: RW]);
    always_comb dot1 = dot_l;
  end else if (RES_TYPE == "dsp") begin : g_mul_dsp
    (* use_dsp = "yes" *) acc_t dot_d [PE];
    always_comb for (int p = 0; p < PE; p++) dot_d[p] = dot(x1, w1[p*RW +: RW]);
    always_comb dot1 = dot_d;
  end else begin : g_mul_auto
    // computed in stage 2's register (DOT_IN_REG), only for a valid step
    always_comb for (int p = 0; p < PE; p++) dot1[p] = acc_t'(0);
  end
  if (TREE) begin : g_tree
    for (genvar p = 0; p < PE; p++) begin : g_pe
      onebit_adder_tree #(
        .N(DOT_N), .IN_W(TREE_W), .OUT_W(ACC_BITS), .SIGNED(TREE_SIGNED),
        .LEVELS_PER_STAGE(PIPE_LEVELS), .REG_IN(REG_PRODUCTS)
      ) u_tree (
        .clk  (clk),
        .terms(tree_terms[p]),
        .sum  (dot1[p])
      );
    end
  end else begin : g_no_tree
    always_comb for (int p = 0; p < PE; p++) tree_terms[p] = '0;
  end

  // ---- stage 2: accumulate -------------------------------------------------------------------
  logic            v2, first2, last2;
  // ta2 addresses the threshold memory only: unused (by design) when N_THRES == 0.
  /* verilator lint_off UNUSEDSIGNAL */
  logic [TA_W-1:0] ta2;
  /* verilator lint_on UNUSEDSIGNAL */
  acc_t            dot2 [PE];

  // the control bits of stage 1, delayed by the adder tree's latency
  logic            v1d, first1d, last1d;
  logic [TA_W-1:0] ta1d;
  onebit_delay #(.WIDTH(3 + TA_W), .CYCLES(DOT_LAT)) u_dot_delay (
    .clk  (clk),
    .rst_n(rst_n),
    .d    ({v1, first1, last1, ta1}),
    .q    ({v1d, first1d, last1d, ta1d})
  );

  always_ff @(posedge clk) begin
    if (!rst_n) v2 <= 1'b0;
    else v2 <= v1d;
  end
  always_ff @(posedge clk) begin
    first2 <= first1d;
    last2  <= last1d;
    ta2    <= ta1d;
  end
  // The products of a valid step only: the same register, its clock enable the step's valid
  // bit (v1; v1d = v1 without an adder tree; stage 3 reads dot2 under v2), and a simulator
  // evaluates the dot products of a step when there is one instead of every cycle (a
  // combinational dot1 is evaluated every cycle in Verilator: a wide layer working 2 cycles a
  // frame cost as much as one working all of them).
  if (DOT_IN_REG) begin : g_dot_reg
    always_ff @(posedge clk)
      if (v1) for (int p = 0; p < PE; p++) dot2[p] <= dot(x1, w1[p*RW +: RW]);
  end else begin : g_dot_wire
    always_ff @(posedge clk) if (v1d) dot2 <= dot1;
  end

  // ---- stage 3: activation -------------------------------------------------------------------
  logic v3;
  acc_t acc3 [PE];

  always_ff @(posedge clk) begin
    if (!rst_n) v3 <= 1'b0;
    else v3 <= v2 && last2;
  end
  always_ff @(posedge clk) begin
    if (v2) begin
      for (int p = 0; p < PE; p++) acc3[p] <= (first2 ? acc_t'(0) : acc3[p]) + dot2[p];
    end
  end

  // ---- stage 4 (GATED only): the precision gate; act is what the activation reads -----------
  acc_t            act [PE];
  logic            v_act;
  // the threshold word of act: unused (by design) when N_THRES == 0
  /* verilator lint_off UNUSEDSIGNAL */
  logic [TA_W-1:0] ta_act;
  /* verilator lint_on UNUSEDSIGNAL */
  if (GATED) begin : g_gate
    // the LSB lane: matches with plane 0, delayed and accumulated as the MSB lane (dot1..acc3)
    acc_t dotl1 [PE];
    acc_t dotl2 [PE];
    acc_t accl3 [PE];
    if (PIPE_LEVELS > 0) begin : g_tree
      for (genvar p = 0; p < PE; p++) begin : g_pe
        onebit_adder_tree #(
          .N(SIMD), .IN_W(1), .OUT_W(ACC_BITS), .SIGNED(1'b0), .LEVELS_PER_STAGE(PIPE_LEVELS),
          .REG_IN(1'b0)
        ) u_tree (
          .clk  (clk),
          .terms(agree(x1, w1[p*RW +: RW], 0)),
          .sum  (dotl1[p])
        );
      end
    end else begin : g_comb
      always_comb begin
        for (int p = 0; p < PE; p++) begin
          dotl1[p] = acc_t'($countones(agree(x1, w1[p*RW +: RW], 0)));
        end
      end
    end
    always_ff @(posedge clk) begin
      dotl2 <= dotl1;
      if (v2) begin
        for (int p = 0; p < PE; p++) accl3[p] <= (first2 ? acc_t'(0) : accl3[p]) + dotl2[p];
      end
    end

    /* verilator coverage_off */
    logic [PE*ACC_BITS-1:0] gmem [NF];
    /* verilator coverage_on */
    logic [PE*ACC_BITS-1:0] g3;
    initial $readmemh(GATE_FILE, gmem);
    always_ff @(posedge clk) g3 <= gmem[NF_W'(ta2)];
`ifdef ONEBIT_COVERAGE
    logic [NF_W-1:0] cov_ga;  // the word g3 holds
    logic [PE-1:0]   cov_open;
    always_ff @(posedge clk) cov_ga <= NF_W'(ta2);
    always_comb begin
      for (int p = 0; p < PE; p++) cov_open[p] = acc3[p] >= $signed(g3[p*ACC_BITS +: ACC_BITS]);
    end
    onebit_cov_both_ways #(.ROWS(NF), .COLS(PE), .KIND("gates")) u_cov_gates (
      .clk, .en(rst_n && v3), .row(cov_ga), .ge(cov_open), .lt(~cov_open)
    );
`endif

    localparam acc_t MW_ACC = acc_t'(MW);
    function automatic acc_t msb_part(acc_t pc_m);  // 2 acc_m = 4 pc_m - 2 MW
      return (pc_m <<< 2) - (MW_ACC <<< 1);
    endfunction
    function automatic acc_t lsb_part(acc_t pc_l);  // acc_l = 2 pc_l - MW
      return (pc_l <<< 1) - MW_ACC;
    endfunction
    if (PIPE_LEVELS > 0) begin : g_two_stages
      // compare and scale into registers, then add the gated LSB part
      logic [PE-1:0] gate4;
      acc_t          m4 [PE];
      acc_t          l4 [PE];
      always_ff @(posedge clk) begin
        for (int p = 0; p < PE; p++) begin
          gate4[p] <= acc3[p] >= $signed(g3[p*ACC_BITS +: ACC_BITS]);
          m4[p]    <= msb_part(acc3[p]);
          l4[p]    <= lsb_part(accl3[p]);
        end
      end
      always_ff @(posedge clk) begin
        for (int p = 0; p < PE; p++) act[p] <= m4[p] + (gate4[p] ? l4[p] : acc_t'(0));
      end
    end else begin : g_one_stage
      always_ff @(posedge clk) begin
        for (int p = 0; p < PE; p++) begin
          act[p] <= msb_part(acc3[p]) + (acc3[p] >= $signed(g3[p*ACC_BITS +: ACC_BITS])
                                         ? lsb_part(accl3[p]) : acc_t'(0));
        end
      end
    end
    onebit_delay #(.WIDTH(1), .CYCLES(GATE_LAT)) u_gate_delay (
      .clk  (clk),
      .rst_n(rst_n),
      .d    (v3),
      .q    (v_act)
    );
  end else begin : g_no_gate
    always_comb act = acc3;
    assign v_act = v3;
  end
  // the threshold word is read one cycle before act is valid (as for acc3)
  onebit_delay #(.WIDTH(TA_W), .CYCLES(GATE_LAT)) u_ta_delay (
    .clk  (clk),
    .rst_n(rst_n),
    .d    (ta2),
    .q    (ta_act)
  );

  logic [OUT_W-1:0] y3;
  logic             v_out;
  if (N_THRES == 0) begin : g_no_act
    always_comb begin
      for (int p = 0; p < PE; p++) y3[p*OUT_BITS +: OUT_BITS] = OUT_BITS'(act[p]);
    end
    assign v_out = v_act;
  end else begin : g_thres
    /* verilator coverage_off */
    (* ram_style = RAM_STYLE_THRES *) logic [THR_W-1:0] tmem [NCLS*NF];
    /* verilator coverage_on */
    logic [THR_W-1:0] thr3;
    initial $readmemh(THRES_FILE, tmem);
    if (WRITABLE) begin : g_wr_thres
      logic t_we;
      logic [TA_W-1:0] t_wa;
      logic [THR_W-1:0] t_wd;
      onebit_mvau_wport #(.WIDTH(THR_W), .DEPTH(NCLS * NF)) u_tport (
        .clk, .we(cfg_we && cfg_sel), .idx(cfg_idx), .data(cfg_data), .mem_we(t_we),
        .mem_addr(t_wa), .mem_data(t_wd)
      );
      always_ff @(posedge clk) if (t_we) tmem[t_wa] <= t_wd;
    end
    always_ff @(posedge clk) thr3 <= tmem[ta_act];
`ifdef ONEBIT_COVERAGE
    logic [TA_W-1:0]  cov_ta;  // the word thr3 holds
    logic [PE*NT-1:0] cov_met;
    always_ff @(posedge clk) cov_ta <= ta_act;
    always_comb begin
      for (int p = 0; p < PE; p++) begin
        for (int t = 0; t < NT; t++) begin
          cov_met[p*NT+t] = act[p] >= $signed(thr3[(p*NT+t)*ACC_BITS +: ACC_BITS]);
        end
      end
    end
    onebit_cov_both_ways #(.ROWS(NCLS * NF), .COLS(PE * NT), .KIND("thresholds")) u_cov_thres (
      .clk, .en(rst_n && v_act), .row(cov_ta), .ge(cov_met), .lt(~cov_met)
    );
`endif
    if (PIPE_LEVELS == 0) begin : g_serial
      // compare all thresholds, count the hits in a balanced tree without registers (a chain
      // of NT conditional increments nests NT deep: 255 exhausted Yosys' frontend stack)
      for (genvar p = 0; p < PE; p++) begin : g_pe
        logic [NT-1:0] ge;
        logic [CNT_W-1:0] cnt;
        always_comb begin
          for (int t = 0; t < NT; t++) begin
            ge[t] = act[p] >= $signed(thr3[(p*NT+t)*ACC_BITS +: ACC_BITS]);
          end
        end
        onebit_adder_tree #(
          .N(NT), .IN_W(1), .OUT_W(CNT_W), .SIGNED(1'b0), .LEVELS_PER_STAGE(0)
        ) u_count (
          .clk  (clk),
          .terms(ge),
          .sum  (cnt)
        );
        assign y3[p*OUT_BITS +: OUT_BITS] = OUT_BITS'(32'(cnt) + OUT_BIAS);
      end
      assign v_out = v_act;
    end else begin : g_tree
      // compare all thresholds into a register, count the hits in a pipelined tree
      for (genvar p = 0; p < PE; p++) begin : g_pe
        logic [NT-1:0] ge;
        logic [CNT_W-1:0] cnt;
        always_ff @(posedge clk) begin
          for (int t = 0; t < NT; t++) begin
            ge[t] <= act[p] >= $signed(thr3[(p*NT+t)*ACC_BITS +: ACC_BITS]);
          end
        end
        onebit_adder_tree #(
          .N(NT), .IN_W(1), .OUT_W(CNT_W), .SIGNED(1'b0), .LEVELS_PER_STAGE(PIPE_LEVELS)
        ) u_count (
          .clk  (clk),
          .terms(ge),
          .sum  (cnt)
        );
        assign y3[p*OUT_BITS +: OUT_BITS] = OUT_BITS'(32'(cnt) + OUT_BIAS);
      end
      onebit_delay #(.WIDTH(1), .CYCLES(THR_LAT)) u_thr_delay (
        .clk  (clk),
        .rst_n(rst_n),
        .d    (v_act),
        .q    (v_out)
      );
    end
  end

  // ---- output FIFO ---------------------------------------------------------------------------
  onebit_fifo #(
    .WIDTH(OUT_W),
    .DEPTH(FIFO_DEPTH)
  ) u_out (
    .clk          (clk),
    .rst_n        (rst_n),
    .s_axis_tdata (y3),
    .s_axis_tvalid(v_out),
    .s_axis_tready(fifo_s_ready),
    .m_axis_tdata (m_axis_tdata),
    .m_axis_tvalid(fifo_m_valid),
    .m_axis_tready(m_axis_tready)
  );
  assign m_axis_tvalid = fifo_m_valid;

`ifndef SYNTHESIS
  always_ff @(posedge clk) begin
    if (rst_n && v_out && !fifo_s_ready) $error("onebit_mvau: output FIFO overflow (credit bug)");
  end
`endif

`ifdef ONEBIT_COVERAGE
  /* verilator coverage_off */
  // ---- functional coverage: the weight words read (thresholds: in g_thres) ------------------
  bit cov_wread [NF*SF];
  bit cov_xlive [SF][SIMD];  // input element s of word sf seen nonzero
  always_ff @(posedge clk) begin
    if (rst_n && go) cov_wread[waddr] <= 1'b1;
    if (rst_n && s_fire) begin
      for (int s = 0; s < SIMD; s++) begin
        if (POPCNT || IN_BIPOLAR || s_axis_tdata[s*IN_BITS +: IN_BITS] != '0)
          cov_xlive[sf][s] <= 1'b1;
      end
    end
  end
  final begin
    string dir;
    int fd, n, live;
    if ($value$plusargs("coverage=%s", dir)) begin
      {n, live} = '0;
      foreach (cov_wread[i]) n += int'(cov_wread[i]);
      foreach (cov_xlive[i, j]) live += int'(cov_xlive[i][j]);
      fd = $fopen({dir, "/functional.txt"}, "a");
      $fdisplay(fd, "%m weight_words %0d %0d", n, NF * SF);
      $fdisplay(fd, "%m input_columns %0d %0d", live, MW);
      $fclose(fd);
    end
  end
  /* verilator coverage_on */
`endif
endmodule
