// onebit_label_select: indices of the K largest of LABELS class scores (FINN's LabelSelect).
//
// Input: LABELS/PE words per vector, PE scores of ELEM_BITS bits each, element 0 in the LSBs;
// score i of word w has label index w*PE + i. Output: K words per vector, each one label index
// zero-extended to OUT_BITS, in descending order of score. Equal scores keep the lower index
// first (the tie rule of ONNX TopK, which FINN's Python execution runs).
//
// The scores of a word are inserted into a sorted top-K list in one cycle (a chain of PE
// insertions), so the input takes one word per cycle. After a vector's last word the list is
// moved to an output shift register and streamed out while the next vector is read; the last
// word of the next vector waits until the previous result has been sent. s_axis_tready is a
// function of registers only (no path from m_axis_tready).
module onebit_label_select #(
  parameter int unsigned PE        = 1,
  parameter int unsigned ELEM_BITS = 8,
  parameter bit          SIGNED    = 1'b1,
  parameter int unsigned LABELS    = 10,
  parameter int unsigned K         = 1,
  parameter int unsigned OUT_BITS  = 8
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

  typedef logic [ELEM_BITS-1:0] val_t;
  typedef logic [IDX_W-1:0] idx_t;

  // Sorted top-K list of the vector being read (entry 0 is the largest).
  val_t             val_q [K];
  idx_t             idx_q [K];
  logic [K-1:0]     used_q;
  logic [WCNT_W-1:0] wcnt;
  // Result being sent.
  idx_t             out_q [K];
  logic [OCNT_W-1:0] ocnt;
  logic             busy;

  val_t         val_n [K];
  idx_t         idx_n [K];
  logic [K-1:0] used_n;

  wire first_word = wcnt == '0;
  wire last_word  = 32'(wcnt) == WORDS - 1;
  wire s_fire     = s_axis_tvalid && s_axis_tready;
  wire m_fire     = busy && m_axis_tready;
  wire last_out   = 32'(ocnt) == K - 1;

  function automatic logic ge(val_t a, val_t b);
    return SIGNED ? ($signed(a) >= $signed(b)) : (a >= b);
  endfunction

  // Insert the PE scores of the incoming word, in index order, into the list. An entry keeps
  // its place in front of a new score when it is used and not smaller (lower index wins ties).
  always_comb begin
    val_t v;
    idx_t ix;
    logic stay, stay_prev;
    for (int j = 0; j < K; j++) begin
      val_n[j] = val_q[j];
      idx_n[j] = idx_q[j];
    end
    used_n = first_word ? '0 : used_q;
    for (int e = 0; e < PE; e++) begin
      v  = s_axis_tdata[e*ELEM_BITS +: ELEM_BITS];
      ix = IDX_W'(32'(wcnt) * PE + e);
      for (int j = K - 1; j >= 0; j--) begin
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

  // The last word of a vector may only enter while no result is being sent.
  assign s_axis_tready = !(last_word && busy);

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      wcnt <= '0;
      ocnt <= '0;
      busy <= 1'b0;
    end else begin
      if (s_fire) wcnt <= last_word ? '0 : wcnt + 1'b1;
      if (s_fire && last_word) begin
        busy <= 1'b1;
        ocnt <= '0;
      end else if (m_fire) begin
        ocnt <= ocnt + 1'b1;
        if (last_out) busy <= 1'b0;
      end
    end
  end

  // Data path without reset (used_q is cleared by the first word of each vector).
  always_ff @(posedge clk) begin
    if (s_fire) begin
      for (int j = 0; j < K; j++) begin
        val_q[j] <= val_n[j];
        idx_q[j] <= idx_n[j];
      end
      used_q <= used_n;
    end
    if (s_fire && last_word) begin
      for (int j = 0; j < K; j++) out_q[j] <= idx_n[j];
    end else if (m_fire) begin
      for (int j = 1; j < int'(K); j++) out_q[j-1] <= out_q[j];
    end
  end

  assign m_axis_tdata  = OUT_BITS'(out_q[0]);
  assign m_axis_tvalid = busy;
endmodule
