// onebit_swg: the loop controller and window buffer of finn-rtllib's buffered sliding-window
// generator (the `default` style FINN generates for ConvolutionInputGenerator_rtl), with the
// read-address increment registered.
//
// FINN's generated `<top>_impl` instantiates `swg_controller` and
// `swg_cyclic_buffer_addressable`; onebit compiles this file in place of finn-rtllib's
// swg_common.sv for that style (hw/finn_rtl.py). The ports, parameters and the value of every
// output in every cycle are those of finn-rtllib's modules; what differs is where the
// increment comes from. finn-rtllib decodes it from the loop state each cycle, so the window
// buffer's read address (read address + increment, wrapped into the buffer) sits behind that
// decode: 7 LUT levels in CNV's third generator, the deepest path of the stitched CNV.
// Here the increment is a register loaded with the next state's value whenever the state
// changes, which takes the decode off that path.
//
// The controller walks five nested loops, outermost first: H, W (output pixels), KH, KW
// (kernel) and SIMD (channel folds). A loop's counter runs from its ITERATIONS parameter down
// to -1 (negative = the loop is done; ITERATIONS = -1 is a loop that is done at once); the
// innermost loop steps on every advance, and a loop steps when every loop inside it is done,
// reloading the inner ones. The state names the loop that stepped last: it is the innermost
// loop's, except for one advance after an outer loop stepped (or START after the last one).
// `addr_incr` is the buffer address step of the state (HEAD_INCR_*), `tail_incr` the step of
// the first element of the next window (TAIL_INCR_*), both as finn-rtllib defines them.
module swg_controller import swg::*; #(
  int unsigned LOOP_H_ITERATIONS,
  int unsigned LOOP_W_ITERATIONS,
  int unsigned LOOP_KH_ITERATIONS,
  int unsigned LOOP_KW_ITERATIONS,
  int unsigned LOOP_SIMD_ITERATIONS,
  int unsigned INCR_BITWIDTH,
  bit IS_DEPTHWISE,
  int HEAD_INCR_SIMD,
  int HEAD_INCR_KW,
  int HEAD_INCR_KH,
  int HEAD_INCR_W,
  int HEAD_INCR_H,
  int TAIL_INCR_W,
  int TAIL_INCR_H,
  int TAIL_INCR_LAST,
  state_e INNERMOST_STATE
) (
  input  logic                     clk,
  input  logic                     rst_n,
  input  logic                     advance,
  output logic [INCR_BITWIDTH-1:0] addr_incr,
  output logic [INCR_BITWIDTH-1:0] tail_incr
);
  function automatic logic [INCR_BITWIDTH-1:0] head_incr(state_e s);
    unique case (s)
      STATE_LOOP_SIMD: return INCR_BITWIDTH'(HEAD_INCR_SIMD);
      STATE_LOOP_KW:   return INCR_BITWIDTH'(HEAD_INCR_KW);
      STATE_LOOP_KH:   return INCR_BITWIDTH'(HEAD_INCR_KH);
      STATE_LOOP_W:    return INCR_BITWIDTH'(HEAD_INCR_W);
      STATE_LOOP_H:    return INCR_BITWIDTH'(HEAD_INCR_H);
      default:         return '0;  // STATE_START
    endcase
  endfunction

  // Loop counters, one sign bit wider than their start value (-1 .. ITERATIONS).
  logic signed [$clog2(LOOP_H_ITERATIONS + 1):0]    Cnt_h = LOOP_H_ITERATIONS;
  logic signed [$clog2(LOOP_W_ITERATIONS + 1):0]    Cnt_w = LOOP_W_ITERATIONS;
  logic signed [$clog2(LOOP_KH_ITERATIONS + 1):0]   Cnt_kh = LOOP_KH_ITERATIONS;
  logic signed [$clog2(LOOP_KW_ITERATIONS + 1):0]   Cnt_kw = LOOP_KW_ITERATIONS;
  logic signed [$clog2(LOOP_SIMD_ITERATIONS + 1):0] Cnt_simd = LOOP_SIMD_ITERATIONS;
  wire done_h = Cnt_h < 0, done_w = Cnt_w < 0, done_kh = Cnt_kh < 0, done_kw = Cnt_kw < 0;
  wire done_simd = Cnt_simd < 0;

  state_e State = INNERMOST_STATE;
  state_e next;
  always_comb begin
    if (State != INNERMOST_STATE) next = INNERMOST_STATE;
    else if (!done_simd) next = State;
    else if (!done_kw) next = STATE_LOOP_KW;
    else if (!done_kh) next = STATE_LOOP_KH;
    else if (!done_w) next = STATE_LOOP_W;
    else if (!done_h) next = STATE_LOOP_H;
    else next = STATE_START;
  end

  logic [INCR_BITWIDTH-1:0] Incr = head_incr(INNERMOST_STATE);  // head_incr(State), always
  assign addr_incr = Incr;
  assign tail_incr = IS_DEPTHWISE && !done_kh ? INCR_BITWIDTH'(1)
                   : !done_w ? INCR_BITWIDTH'(TAIL_INCR_W)
                   : !done_h ? INCR_BITWIDTH'(TAIL_INCR_H)
                   : INCR_BITWIDTH'(TAIL_INCR_LAST);

  // A counter steps when every loop inside it is done: down by one, or back to its start.
  wire step = advance && State == INNERMOST_STATE;
  wire step_kw = step && done_simd;
  wire step_kh = step_kw && done_kw;
  wire step_w = step_kh && done_kh;
  wire step_h = step_w && done_w;

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      State <= INNERMOST_STATE;
      Incr <= head_incr(INNERMOST_STATE);
      Cnt_h <= LOOP_H_ITERATIONS;
      Cnt_w <= LOOP_W_ITERATIONS;
      Cnt_kh <= LOOP_KH_ITERATIONS;
      Cnt_kw <= LOOP_KW_ITERATIONS;
      Cnt_simd <= LOOP_SIMD_ITERATIONS;
    end else begin
      if (advance) begin
        State <= next;
        Incr <= head_incr(next);
      end
      if (step) Cnt_simd <= done_simd ? LOOP_SIMD_ITERATIONS : Cnt_simd - 1;
      if (step_kw) Cnt_kw <= done_kw ? LOOP_KW_ITERATIONS : Cnt_kw - 1;
      if (step_kh) Cnt_kh <= done_kh ? LOOP_KH_ITERATIONS : Cnt_kh - 1;
      if (step_w) Cnt_w <= done_w ? LOOP_W_ITERATIONS : Cnt_w - 1;
      if (step_h) Cnt_h <= done_h ? LOOP_H_ITERATIONS : Cnt_h - 1;
    end
  end
endmodule

// The window buffer: DEPTH words, one written and one read (registered, read before write)
// per cycle at the addresses given.
module swg_cyclic_buffer_addressable #(
  int unsigned WIDTH,
  int unsigned DEPTH,
  parameter RAM_STYLE = "auto"
) (
  input  logic                     clk,
  input  logic                     write_enable,
  input  logic [$clog2(DEPTH)-1:0] write_addr,
  input  logic [WIDTH-1:0]         data_in,
  input  logic                     read_enable,
  input  logic [$clog2(DEPTH)-1:0] read_addr,
  output logic [WIDTH-1:0]         data_out
);
  (* ram_style = RAM_STYLE *) logic [WIDTH-1:0] mem[DEPTH];
  always_ff @(posedge clk) begin
    if (read_enable) data_out <= mem[read_addr];
    if (write_enable) mem[write_addr] <= data_in;
  end
endmodule

// The parallel-window style's buffers (FINN's `swg_template_parallel.sv`).

// A shift register of DEPTH words: on `shift_enable` word 0 takes `shift_in` and word e takes
// word e-1; `data_out` holds every word (word e at bits e*WIDTH), `shift_out` the last.
module swg_reg_buffer #(
  int unsigned WIDTH = 1,
  int unsigned DEPTH = 1
) (
  input  logic                   clk,
  input  logic                   shift_enable,
  input  logic [WIDTH-1:0]       shift_in,
  output logic [WIDTH-1:0]       shift_out,
  output logic [WIDTH*DEPTH-1:0] data_out
);
  logic [WIDTH*DEPTH-1:0] words;
  always_ff @(posedge clk)
    if (shift_enable) words <= (WIDTH * DEPTH)'({words, shift_in});
  assign data_out = words;
  assign shift_out = words[WIDTH*(DEPTH-1) +: WIDTH];
endmodule

// A delay line of DEPTH shifts in a memory: on `shift_enable` the word shifted in DEPTH
// shifts ago comes out (registered) and `shift_in` is stored in its place.
module swg_ram_buffer #(
  int unsigned WIDTH,
  int unsigned DEPTH,
  parameter RAM_STYLE = "auto"
) (
  input  logic             clk,
  input  logic             rst_n,
  input  logic             shift_enable,
  input  logic [WIDTH-1:0] shift_in,
  output logic [WIDTH-1:0] shift_out
);
  localparam int unsigned AW = $clog2(DEPTH);
  (* ram_style = RAM_STYLE *) logic [WIDTH-1:0] mem[DEPTH];
  logic [AW-1:0] wr = 0, rd = 1;  // rd runs one word ahead of wr
  function automatic logic [AW-1:0] next(logic [AW-1:0] a);
    return a == AW'(DEPTH - 1) ? '0 : a + 1'b1;
  endfunction
  always_ff @(posedge clk) begin
    if (!rst_n) begin
      wr <= 0;
      rd <= 1;
    end else if (shift_enable) begin
      mem[wr] <= shift_in;
      shift_out <= mem[rd];
      wr <= next(wr);
      rd <= next(rd);
    end
  end
endmodule
