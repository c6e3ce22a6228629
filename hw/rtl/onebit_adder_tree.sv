// onebit_adder_tree: the sum of N operands as a balanced binary tree, pipelined by depth.
//
// Level 0 holds the N operands (IN_W bits each, two's complement when SIGNED); level l holds
// ceil(N / 2^l) partial sums of up to 2^l operands, min(IN_W + l, OUT_W) bits wide (a sum
// wraps modulo 2^OUT_W exactly as the OUT_W-bit result does, so capping the width never
// changes the result). The result is the level-ceil(log2 N) sum, extended or truncated to
// OUT_W bits.
//
// Pipelining: with LEVELS_PER_STAGE = K > 0 the sums of every level l with l % K == 0 are
// registered, so at most K adder levels lie between registers; REG_IN registers the operands
// (level 0) too. LATENCY = REG_IN + floor(depth / K) cycles; K = 0 adds no register. There is
// no enable: the tree runs every cycle, its user delays the matching valid bit by LATENCY.
module onebit_adder_tree #(
  parameter int unsigned N = 4,
  parameter int unsigned IN_W = 1,
  parameter int unsigned OUT_W = 8,
  parameter bit SIGNED = 1'b0,
  parameter int unsigned LEVELS_PER_STAGE = 0,
  parameter bit REG_IN = 1'b0
) (
  input  logic              clk,
  input  logic [N*IN_W-1:0] terms,
  output logic [OUT_W-1:0]  sum
);
  localparam int unsigned DEPTH = N > 1 ? $clog2(N) : 0;

  if (N < 1 || IN_W < 1 || IN_W > OUT_W) begin : g_bad_params
    $error("onebit_adder_tree: need N >= 1 and 1 <= IN_W <= OUT_W, got N=%0d IN_W=%0d OUT_W=%0d",
           N, IN_W, OUT_W);
  end

  function automatic int unsigned width(int unsigned l);
    return IN_W + l < OUT_W ? IN_W + l : OUT_W;
  endfunction
  function automatic int unsigned count(int unsigned l);
    return (N + (1 << l) - 1) >> l;
  endfunction

  for (genvar l = 0; l <= DEPTH; l++) begin : g_lvl
    localparam int unsigned W = width(l);
    localparam int unsigned M = count(l);
    logic [M*W-1:0] s;
    if (l == 0) begin : g_in
      if (REG_IN) begin : g_reg
        always_ff @(posedge clk) s <= terms;
      end else begin : g_wire
        assign s = terms;
      end
    end else begin : g_add
      localparam int unsigned PW = width(l - 1);
      localparam int unsigned PM = count(l - 1);
      logic [M*W-1:0] d;
      for (genvar i = 0; i < M; i++) begin : g_node
        wire [PW-1:0] a = g_lvl[l-1].s[2*i*PW +: PW];
        if (2 * i + 1 < PM) begin : g_pair
          wire [PW-1:0] b = g_lvl[l-1].s[(2*i+1)*PW +: PW];
          assign d[i*W +: W] = SIGNED ? W'($signed(a)) + W'($signed(b)) : W'(a) + W'(b);
        end else begin : g_single
          assign d[i*W +: W] = SIGNED ? W'($signed(a)) : W'(a);
        end
      end
      if (LEVELS_PER_STAGE > 0 && l % LEVELS_PER_STAGE == 0) begin : g_reg
        always_ff @(posedge clk) s <= d;
      end else begin : g_wire
        assign s = d;
      end
    end
  end

  if (!REG_IN && (LEVELS_PER_STAGE == 0 || LEVELS_PER_STAGE > DEPTH)) begin : g_no_clk
    wire unused = &{1'b0, clk};
  end

  wire [width(DEPTH)-1:0] top = g_lvl[DEPTH].s;
  assign sum = SIGNED ? OUT_W'($signed(top)) : OUT_W'(top);
endmodule
