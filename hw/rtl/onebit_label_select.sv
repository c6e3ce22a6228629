// onebit_label_select: indices of the K largest of LABELS class scores (FINN's LabelSelect).
//
// Input: LABELS/PE words per vector, PE scores of ELEM_BITS bits each, element 0 in the LSBs;
// score i of word w has label index w*PE + i. Output: K words per vector, each one label index
// zero-extended to OUT_BITS, in descending order of score. Equal scores keep the lower index
// first (the tie rule of ONNX TopK, which FINN's Python execution runs).
//
// LANES = 1 (the default): the scores of a word are inserted into one sorted top-K list in one
// cycle (a chain of PE insertions), so the input takes one word per cycle. After a vector's last
// word the list is moved to an output shift register and streamed out while the next vector is
// read; the last word of the next vector waits until the previous result has been sent.
//
// LANES > 1 (a logic-depth budget, `hw/labelselect.py`): lane g keeps its own sorted list of
// the best min(K, LABELS/LANES) of its scores (elements g*PE/LANES .. (g+1)*PE/LANES-1 of each
// word), so a cycle's insertion chain is PE/LANES long whatever PE. A vector's last word copies
// the lanes' lists into a merge pipeline, which overlaps with the next vector's input: a tree
// of clog2(LANES) levels, each merging pairs of sorted lists into the sorted top K of the pair
// (Batcher: the better of A[i] and B[KP-1-i] is the top KP as a bitonic sequence, sorted by
// clog2(KP) half-cleaner layers; KP = K rounded up to a power of two, the slots from K on
// emptied between levels). Every entry is one unsigned key {used, score (sign bit flipped),
// ~index}: distinct for used entries, so the compare-exchange network sorts by the one total
// order "greater score, then lower index" and its result is exactly TopK's, ties included;
// empty slots (key 0) sort last. A register follows every MERGE_LAYERS compare-exchange layers;
// the pipeline advances unless its last stage waits for the output register, and only a
// vector's last word waits for it to advance. Extra latency: clog2(LANES) * (1 + clog2(KP))
// layers / MERGE_LAYERS, rounded up, cycles; throughput unchanged.
//
// s_axis_tready is a function of registers only (no path from m_axis_tready).
module onebit_label_select #(
  parameter int unsigned PE           = 1,
  parameter int unsigned ELEM_BITS    = 8,
  parameter bit          SIGNED       = 1'b1,
  parameter int unsigned LABELS       = 10,
  parameter int unsigned K            = 1,
  parameter int unsigned OUT_BITS     = 8,
  parameter int unsigned LANES        = 1,
  parameter int unsigned MERGE_LAYERS = 1
) (
  input  logic                    clk,
  input  logic                    rst_n,
  input  logic [PE*ELEM_BITS-1:0] s_axis_tdata,
  input  logic                    s_axis_tvalid,
  output logic                    s_axis_tready,
  output logic [OUT_BITS-1:0]     m_axis_tdata,
  output logic                    m_axis_tvalid,
  input  logic                    m_axis_tready
);
  localparam int unsigned WORDS = LABELS / PE;
  localparam int unsigned IDX_W = LABELS > 1 ? $clog2(LABELS) : 1;
  localparam int unsigned WCNT_W = WORDS > 1 ? $clog2(WORDS) : 1;
  localparam int unsigned OCNT_W = K > 1 ? $clog2(K) : 1;
  localparam int unsigned GS = LANES >= 1 ? PE / LANES : 1;     // scores per lane and word
  localparam int unsigned KL = K < WORDS * GS ? K : WORDS * GS; // a lane's list length
  localparam int unsigned KP = K > 1 ? 2 ** $clog2(K) : 1;      // merge list slots
  localparam int unsigned LEVELS = LANES > 1 ? $clog2(LANES) : 0;
  localparam int unsigned LPL = 1 + $clog2(KP);                 // layers per tree level
  localparam int unsigned NL = LEVELS * LPL;                    // compare-exchange layers
  localparam int unsigned ML = MERGE_LAYERS >= 1 ? MERGE_LAYERS : 1;
  localparam int unsigned NREG = (NL + ML - 1) / ML;            // merge registers
  localparam int unsigned KEY_W = 1 + ELEM_BITS + IDX_W;

  if (PE < 1 || LABELS % PE != 0) begin : g_bad_pe
    $error("onebit_label_select: PE (%0d) must divide LABELS (%0d)", PE, LABELS);
  end
  if (K < 1 || K > LABELS) begin : g_bad_k
    $error("onebit_label_select: K must be in 1..LABELS (%0d), got %0d", LABELS, K);
  end
  if (ELEM_BITS < 1) begin : g_bad_bits
    $error("onebit_label_select: ELEM_BITS must be >= 1, got %0d", ELEM_BITS);
  end
  if (OUT_BITS < IDX_W) begin : g_bad_out
    $error("onebit_label_select: OUT_BITS (%0d) cannot hold index %0d", OUT_BITS, LABELS - 1);
  end
  if (LANES < 1 || PE % LANES != 0) begin : g_bad_lanes
    $error("onebit_label_select: LANES (%0d) must divide PE (%0d)", LANES, PE);
  end
  if (MERGE_LAYERS < 1) begin : g_bad_layers
    $error("onebit_label_select: MERGE_LAYERS must be >= 1, got %0d", MERGE_LAYERS);
  end

  typedef logic [ELEM_BITS-1:0] val_t;
  typedef logic [IDX_W-1:0] idx_t;
  typedef logic [KEY_W-1:0] key_t;
  localparam val_t FLIP = SIGNED ? val_t'(1) << (ELEM_BITS - 1) : '0;  // signed as unsigned

  logic [WCNT_W-1:0] wcnt;
  // Result being sent.
  idx_t             out_q [K];
  logic [OCNT_W-1:0] ocnt;
  logic             busy;
  // The sorted top K of the vector read last, and when it enters the output register.
  idx_t             res_idx [K];
  logic             load_out;

  wire first_word = wcnt == '0;
  wire last_word  = 32'(wcnt) == WORDS - 1;
  wire s_fire     = s_axis_tvalid && s_axis_tready;
  wire m_fire     = busy && m_axis_tready;
  wire last_out   = 32'(ocnt) == K - 1;

  function automatic logic ge(val_t a, val_t b);
    return SIGNED ? ($signed(a) >= $signed(b)) : (a >= b);
  endfunction

  // Lane g: a sorted list of KL entries (entry 0 is the largest) of the vector being read.
  for (genvar g = 0; g < LANES; g++) begin : g_lane
    val_t          val_q [KL];
    idx_t          idx_q [KL];
    logic [KL-1:0] used_q;
    val_t          val_n [KL];
    idx_t          idx_n [KL];
    logic [KL-1:0] used_n;

    // Insert the lane's GS scores of the incoming word, in index order, into its list. An
    // entry keeps its place in front of a new score when it is used and not smaller (lower
    // index wins ties).
    always_comb begin
      val_t v;
      idx_t ix;
      logic stay, stay_prev;
      for (int j = 0; j < KL; j++) begin
        val_n[j] = val_q[j];
        idx_n[j] = idx_q[j];
      end
      used_n = first_word ? '0 : used_q;
      for (int e = g * GS; e < (g + 1) * GS; e++) begin
        v  = s_axis_tdata[e*ELEM_BITS +: ELEM_BITS];
        ix = IDX_W'(32'(wcnt) * PE + e);
        for (int j = KL - 1; j >= 0; j--) begin
          stay      = used_n[j] && ge(val_n[j], v);
          stay_prev = (j == 0) || (used_n[j-1] && ge(val_n[j-1], v));
          if (!stay) begin
            if (stay_prev) begin
              val_n[j]  = v;
              idx_n[j]  = ix;
              used_n[j] = 1'b1;
            end else begin
              val_n[j]  = val_n[j-1];
              idx_n[j]  = idx_n[j-1];
              used_n[j] = used_n[j-1];
            end
          end
        end
      end
    end

    // Data path without reset (used_q is cleared by the first word of each vector).
    always_ff @(posedge clk) begin
      if (s_fire) begin
        for (int j = 0; j < KL; j++) begin
          val_q[j] <= val_n[j];
          idx_q[j] <= idx_n[j];
        end
        used_q <= used_n;
      end
    end
  end

  if (LANES == 1) begin : g_one_list
    // The last word of a vector may only enter while no result is being sent.
    assign s_axis_tready = !(last_word && busy);
    assign load_out = s_fire && last_word;
    for (genvar j = 0; j < K; j++) begin : g_res
      assign res_idx[j] = g_lane[0].idx_n[j];
    end
  end else begin : g_merge
    // Keys of the merge: g_layer[l].src enters compare-exchange layer l, g_layer[l].dst leaves
    // it; r_q[r] is the register in front of layer r*ML (r_q[0]: the lanes' lists after the
    // last word).
    key_t r_q [NREG][LANES][KP];
    logic [NREG-1:0] v_q;
    // The pipeline advances unless its last stage waits for the output register.
    wire adv = !(v_q[NREG-1] && busy);

    assign s_axis_tready = !(last_word && !adv);
    assign load_out = v_q[NREG-1] && !busy;

    always_ff @(posedge clk) begin
      if (!rst_n) v_q <= '0;
      else if (adv) v_q <= NREG'({v_q, s_fire && last_word});
    end

    // every slot of a lane is used after the vector's last word
    key_t snap [LANES][KP];
    for (genvar g = 0; g < LANES; g++) begin : g_snap
      for (genvar i = 0; i < KP; i++) begin : g_slot
        if (i < KL) begin : g_used
          assign snap[g][i] = {1'b1, g_lane[g].val_n[i] ^ FLIP, ~g_lane[g].idx_n[i]};
        end else begin : g_empty
          assign snap[g][i] = '0;
        end
      end
    end

    always_ff @(posedge clk) begin
      if (adv) r_q[0] <= snap;
    end

    for (genvar r = 1; r < NREG; r++) begin : g_reg
      always_ff @(posedge clk) begin
        if (adv) r_q[r] <= g_layer[r*ML-1].dst;
      end
    end

    for (genvar l = 0; l < LPL * LEVELS; l++) begin : g_layer
      localparam int unsigned LEV = l / LPL;
      localparam int unsigned SUB = l % LPL;
      localparam int unsigned N_IN = (LANES + 2 ** LEV - 1) >> LEV;   // lists into this level
      localparam int unsigned N_OUT = (N_IN + 1) / 2;
      localparam int unsigned D = SUB == 0 ? 0 : KP >> SUB;          // half-cleaner distance
      key_t src [LANES][KP];
      key_t dst [LANES][KP];

      if (l % ML == 0) begin : g_from_reg
        assign src = r_q[l/ML];
      end else begin : g_from_layer
        assign src = g_layer[l-1].dst;
      end

      for (genvar m = 0; m < LANES; m++) begin : g_list
        for (genvar i = 0; i < KP; i++) begin : g_slot
          if (m >= N_OUT || (SUB == LPL - 1 && i >= K)) begin : g_empty
            // no list here, or a slot past K at the end of a level
            assign dst[m][i] = '0;
          end else if (SUB == 0 && 2 * m + 1 == N_IN) begin : g_pass
            assign dst[m][i] = src[2*m][i];  // an odd list out passes this level
          end else if (SUB == 0) begin : g_pair
            // the better of A[i] and B[KP-1-i]: the top KP of A and B, bitonic
            wire key_t a = src[2*m][i];
            wire key_t b = src[2*m+1][KP-1-i];
            assign dst[m][i] = a > b ? a : b;
          end else if ((i & D) == 0) begin : g_hi
            wire key_t a = src[m][i];
            wire key_t b = src[m][i+D];
            assign dst[m][i] = a > b ? a : b;
          end else begin : g_lo
            wire key_t a = src[m][i-D];
            wire key_t b = src[m][i];
            assign dst[m][i] = a > b ? b : a;
          end
        end
      end
    end

    for (genvar j = 0; j < K; j++) begin : g_res
      assign res_idx[j] = ~g_layer[NL-1].dst[0][j][IDX_W-1:0];
    end
  end

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      wcnt <= '0;
      ocnt <= '0;
      busy <= 1'b0;
    end else begin
      if (s_fire) wcnt <= last_word ? '0 : wcnt + 1'b1;
      if (load_out) begin
        busy <= 1'b1;
        ocnt <= '0;
      end else if (m_fire) begin
        ocnt <= ocnt + 1'b1;
        if (last_out) busy <= 1'b0;
      end
    end
  end

  // Data path without reset.
  always_ff @(posedge clk) begin
    if (load_out) begin
      for (int j = 0; j < K; j++) out_q[j] <= res_idx[j];
    end else if (m_fire) begin
      for (int j = 1; j < int'(K); j++) out_q[j-1] <= out_q[j];
    end
  end

  assign m_axis_tdata  = OUT_BITS'(out_q[0]);
  assign m_axis_tvalid = busy;
endmodule
