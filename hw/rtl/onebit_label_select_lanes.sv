// onebit_label_select_lanes: onebit_label_select (indices of the K largest of LABELS class
// scores, FINN's LabelSelect; the same ports, packing, outputs and tie rule) for PE > 1 under a
// logic-depth budget (`hw/labelselect.py`).
//
// onebit_label_select inserts the PE scores of a word into one sorted list in one cycle, a chain
// PE insertions deep. Here lane e keeps its own sorted list of the best min(K, LABELS/PE) of its
// scores (element e of each word, indices e, PE + e, ...), so a cycle's path is one insertion
// whatever PE. A vector's last word copies the lanes' lists into a merge pipeline, which
// overlaps with the next vector's input: a tree of clog2(PE) levels, each merging pairs of
// sorted lists into the sorted top K of the pair (Batcher: the better of A[i] and B[KP-1-i] is
// the top KP as a bitonic sequence, sorted by clog2(KP) half-cleaner layers; KP = K rounded up
// to a power of two, the slots from K on emptied between levels). Every entry is one unsigned
// key {used, score (sign bit flipped), ~index}: distinct for used entries, so the
// compare-exchange network sorts by the one total order "greater score, then lower index" and
// its result is exactly TopK's, ties included; empty slots (key 0) sort last. A register
// follows every MERGE_LAYERS compare-exchange layers; the pipeline advances unless its last
// stage waits for the output register, and only a vector's last word waits for it to advance.
// Extra latency over onebit_label_select: ceil(clog2(PE) * (1 + clog2(KP)) / MERGE_LAYERS)
// cycles; throughput unchanged.
//
// s_axis_tready is a function of registers only (no path from m_axis_tready).
module onebit_label_select_lanes #(
  parameter int unsigned PE           = 2,
  parameter int unsigned ELEM_BITS    = 8,
  parameter bit          SIGNED       = 1'b1,
  parameter int unsigned LABELS       = 10,
  parameter int unsigned K            = 1,
  parameter int unsigned OUT_BITS     = 8,
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
  localparam int unsigned KL = K < WORDS ? K : WORDS;          // a lane's list length
  localparam int unsigned KP = K > 1 ? 2 ** $clog2(K) : 1;     // merge list slots
  localparam int unsigned LPL = 1 + $clog2(KP);                // layers per tree level
  localparam int unsigned NL = $clog2(PE) * LPL;               // compare-exchange layers
  localparam int unsigned ML = MERGE_LAYERS >= 1 ? MERGE_LAYERS : 1;
  localparam int unsigned NREG = (NL + ML - 1) / ML;           // merge registers
  localparam int unsigned KEY_W = 1 + ELEM_BITS + IDX_W;

  if (PE < 2 || LABELS % PE != 0) begin : g_bad_pe
    $error("onebit_label_select_lanes: PE (%0d) must be > 1 and divide LABELS (%0d)", PE,
           LABELS);
  end
  if (K < 1 || K > LABELS) begin : g_bad_k
    $error("onebit_label_select_lanes: K must be in 1..LABELS (%0d), got %0d", LABELS, K);
  end
  if (ELEM_BITS < 1) begin : g_bad_bits
    $error("onebit_label_select_lanes: ELEM_BITS must be >= 1, got %0d", ELEM_BITS);
  end
  if (OUT_BITS < IDX_W) begin : g_bad_out
    $error("onebit_label_select_lanes: OUT_BITS (%0d) cannot hold index %0d", OUT_BITS,
           LABELS - 1);
  end
  if (MERGE_LAYERS < 1) begin : g_bad_layers
    $error("onebit_label_select_lanes: MERGE_LAYERS must be >= 1, got %0d", MERGE_LAYERS);
  end

  typedef logic [ELEM_BITS-1:0] val_t;
  typedef logic [IDX_W-1:0] idx_t;
  typedef logic [KEY_W-1:0] key_t;
  localparam val_t FLIP = SIGNED ? val_t'(1) << (ELEM_BITS - 1) : '0;  // signed as unsigned

  logic [WCNT_W-1:0] wcnt;
  idx_t              out_q [K];  // the result being sent
  logic [OCNT_W-1:0] ocnt;
  logic              busy;
  logic [NREG-1:0]   v_q;        // merge stages holding a vector
  // The pipeline advances unless its last stage waits for the output register.
  wire adv        = !(v_q[NREG-1] && busy);
  wire load_out   = v_q[NREG-1] && !busy;
  wire first_word = wcnt == '0;
  wire last_word  = 32'(wcnt) == WORDS - 1;
  wire s_fire     = s_axis_tvalid && s_axis_tready;
  wire m_fire     = busy && m_axis_tready;
  wire last_out   = 32'(ocnt) == K - 1;

  // Only a vector's last word waits, for the merge pipeline to advance.
  assign s_axis_tready = !(last_word && !adv);

  function automatic logic ge(val_t a, val_t b);
    return SIGNED ? ($signed(a) >= $signed(b)) : (a >= b);
  endfunction

  // Lane e: a sorted list of KL entries (entry 0 is the largest) of the scores e, PE + e, ...
  // of the vector being read. Entry j keeps its place in front of the new score when it is
  // used and not smaller (its index is lower: it wins a tie); the first entry that does not
  // takes the score, the ones after it move down one place.
  for (genvar e = 0; e < PE; e++) begin : g_lane
    val_t          val_q [KL];
    idx_t          idx_q [KL];
    logic [KL-1:0] used_q;
    val_t          val_n [KL];
    idx_t          idx_n [KL];
    logic [KL-1:0] used_n;
    logic [KL-1:0] stay;
    wire val_t          v    = s_axis_tdata[e*ELEM_BITS +: ELEM_BITS];
    wire idx_t          ix   = IDX_W'(32'(wcnt) * PE + e);
    wire logic [KL-1:0] used = first_word ? '0 : used_q;

    for (genvar j = 0; j < KL; j++) begin : g_entry
      assign stay[j] = used[j] && ge(val_q[j], v);
      if (j == 0) begin : g_head
        assign val_n[j]  = stay[j] ? val_q[j] : v;
        assign idx_n[j]  = stay[j] ? idx_q[j] : ix;
        assign used_n[j] = 1'b1;
      end else begin : g_next
        assign val_n[j]  = stay[j] ? val_q[j] : stay[j-1] ? v : val_q[j-1];
        assign idx_n[j]  = stay[j] ? idx_q[j] : stay[j-1] ? ix : idx_q[j-1];
        assign used_n[j] = stay[j] || stay[j-1] || used[j-1];
      end
    end

    // Data path without reset (used_q is cleared by the first word of each vector).
    always_ff @(posedge clk) begin
      if (s_fire) begin
        val_q  <= val_n;
        idx_q  <= idx_n;
        used_q <= used_n;
      end
    end
  end

  // Keys of the merge: g_layer[l].src enters compare-exchange layer l, g_layer[l].dst leaves
  // it; r_q[r] is the register in front of layer r*ML (r_q[0]: the lanes' lists after the
  // last word).
  key_t r_q [NREG][PE][KP];
  // every slot of a lane is used after the vector's last word
  key_t snap [PE][KP];
  for (genvar e = 0; e < PE; e++) begin : g_snap
    for (genvar i = 0; i < KP; i++) begin : g_slot
      if (i < KL) begin : g_used
        assign snap[e][i] = {1'b1, g_lane[e].val_n[i] ^ FLIP, ~g_lane[e].idx_n[i]};
      end else begin : g_empty
        assign snap[e][i] = '0;
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

  for (genvar l = 0; l < NL; l++) begin : g_layer
    localparam int unsigned LEV = l / LPL;
    localparam int unsigned SUB = l % LPL;
    localparam int unsigned N_IN = (PE + 2 ** LEV - 1) >> LEV;   // lists into this level
    localparam int unsigned N_OUT = (N_IN + 1) / 2;
    localparam int unsigned D = SUB == 0 ? 0 : KP >> SUB;          // half-cleaner distance
    key_t src [PE][KP];
    key_t dst [PE][KP];

    if (l % ML == 0) begin : g_from_reg
      assign src = r_q[l/ML];
    end else begin : g_from_layer
      assign src = g_layer[l-1].dst;
    end

    for (genvar m = 0; m < PE; m++) begin : g_list
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

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      wcnt <= '0;
      ocnt <= '0;
      busy <= 1'b0;
      v_q  <= '0;
    end else begin
      if (s_fire) wcnt <= last_word ? '0 : wcnt + 1'b1;
      if (adv) v_q <= NREG'({v_q, s_fire && last_word});
      if (load_out) begin
        busy <= 1'b1;
        ocnt <= '0;
      end else if (m_fire) begin
        ocnt <= ocnt + 1'b1;
        if (last_out) busy <= 1'b0;
      end
    end
  end

  // The merged list's indices into the output shift register (no reset).
  always_ff @(posedge clk) begin
    if (load_out) begin
      for (int j = 0; j < K; j++) out_q[j] <= ~g_layer[NL-1].dst[0][j][IDX_W-1:0];
    end else if (m_fire) begin
      for (int j = 1; j < int'(K); j++) out_q[j-1] <= out_q[j];
    end
  end

  assign m_axis_tdata  = OUT_BITS'(out_q[0]);
  assign m_axis_tvalid = busy;
endmodule
