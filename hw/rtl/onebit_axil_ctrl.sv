// onebit_axil_ctrl: AXI4-Lite control registers in the Vitis `ap_ctrl_hs` layout.
//
// The register map (docs/shell.md; the same table is onebit.hw.shell.REGISTERS):
//   0x00 CTRL     bit0 ap_start (set by the host, cleared when the run is accepted unless
//                 auto_restart), bit1 ap_done (clear on read), bit2 ap_idle, bit3 ap_ready
//                 (clear on read), bit7 auto_restart
//   0x04 GIE      bit0 global interrupt enable
//   0x08 IER      bit0 done, bit1 ready
//   0x0C ISR      bit0 done, bit1 ready (a written 1 toggles the bit)
//   0x10/0x14     input address [31:0] / [63:32]
//   0x1C/0x20     output address [31:0] / [63:32]
//   0x28          frames per run
//   0x30/0x34     cycles [31:0] / [63:32] of the last run (accepted to done), read only
//   0x40 magic, 0x44 design id, 0x48/0x4C input/output word bytes, 0x50/0x54 input/output
//   words per frame: read only, constants of the design.
// Weight windows: a write at an offset >= 0x100 with all four byte strobes set is passed on
// (cfg_we for one cycle, with its offset and data) to the runtime-writable layers' memories
// (onebit.driver.weights); windows read 0. Unmapped offsets read 0 and ignore writes. A write
// takes effect when both its address and data have arrived (in either order); every output is
// a register.
module onebit_axil_ctrl #(
  parameter int unsigned ADDR_W         = 8,
  parameter logic [31:0] DESIGN_ID      = 32'h0,
  parameter int unsigned IN_WORD_BYTES  = 1,
  parameter int unsigned OUT_WORD_BYTES = 1,
  parameter int unsigned IN_WORDS       = 1,
  parameter int unsigned OUT_WORDS      = 1
) (
  input  logic              clk,
  input  logic              rst_n,
  // AXI4-Lite slave
  input  logic [ADDR_W-1:0] s_axi_awaddr,
  input  logic              s_axi_awvalid,
  output logic              s_axi_awready,
  input  logic [31:0]       s_axi_wdata,
  input  logic [3:0]        s_axi_wstrb,
  input  logic              s_axi_wvalid,
  output logic              s_axi_wready,
  output logic [1:0]        s_axi_bresp,
  output logic              s_axi_bvalid,
  input  logic              s_axi_bready,
  input  logic [ADDR_W-1:0] s_axi_araddr,
  input  logic              s_axi_arvalid,
  output logic              s_axi_arready,
  output logic [31:0]       s_axi_rdata,
  output logic [1:0]        s_axi_rresp,
  output logic              s_axi_rvalid,
  input  logic              s_axi_rready,
  // to and from the core
  input  logic              idle,       // no run in progress
  input  logic              done,       // a run finished (one cycle)
  output logic              start,      // a run is accepted (one cycle; only while idle)
  output logic [63:0]       in_addr,
  output logic [63:0]       out_addr,
  output logic [31:0]       frames,
  input  logic [63:0]       cycles,
  output logic              interrupt,
  // weight windows: one write per cycle of cfg_we
  output logic              cfg_we,
  output logic [ADDR_W-1:0] cfg_addr,
  output logic [31:0]       cfg_data
);
  localparam logic [31:0] MAGIC = 32'h0B17_5E11;

  if (ADDR_W < 7) begin : g_bad_addr
    $error("onebit_axil_ctrl: ADDR_W must be >= 7 (registers up to 0x54), got %0d", ADDR_W);
  end

  logic       ap_start, ap_done, ap_ready, auto_restart, gie;
  logic [1:0] ier, isr;

  // write: address and data in either order, then the response
  logic              aw_got, w_got;
  logic [ADDR_W-1:0] waddr;
  logic [31:0]       wdata;
  logic [3:0]        wstrb;

  assign s_axi_awready = !aw_got && !s_axi_bvalid;
  assign s_axi_wready  = !w_got && !s_axi_bvalid;
  assign s_axi_bresp   = 2'b00;
  assign s_axi_rresp   = 2'b00;
  assign s_axi_arready = !s_axi_rvalid;

  wire aw_fire = s_axi_awvalid && s_axi_awready;
  wire w_fire  = s_axi_wvalid && s_axi_wready;
  wire ar_fire = s_axi_arvalid && s_axi_arready;
  wire wr      = aw_got && w_got;  // perform the write this cycle
  wire [ADDR_W-1:0] woff = {waddr[ADDR_W-1:2], 2'b00};
  wire [ADDR_W-1:0] roff = {s_axi_araddr[ADDR_W-1:2], 2'b00};

  assign start = ap_start && idle;

  function automatic logic [31:0] merge(logic [31:0] old, logic [31:0] d, logic [3:0] s);
    for (int b = 0; b < 4; b++) if (s[b]) old[8*b +: 8] = d[8*b +: 8];
    return old;
  endfunction

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      aw_got       <= 1'b0;
      w_got        <= 1'b0;
      s_axi_bvalid <= 1'b0;
      s_axi_rvalid <= 1'b0;
      ap_start     <= 1'b0;
      ap_done      <= 1'b0;
      ap_ready     <= 1'b0;
      auto_restart <= 1'b0;
      gie          <= 1'b0;
      ier          <= '0;
      isr          <= '0;
      in_addr      <= '0;
      out_addr     <= '0;
      frames       <= '0;
      cfg_we       <= 1'b0;
    end else begin
      cfg_we <= wr && 32'(woff) >= 32'h100 && wstrb == 4'hF;
      if (wr) begin
        cfg_addr <= woff;
        cfg_data <= wdata;
      end
      if (aw_fire) begin
        aw_got <= 1'b1;
        waddr  <= s_axi_awaddr;
      end
      if (w_fire) begin
        w_got <= 1'b1;
        wdata <= s_axi_wdata;
        wstrb <= s_axi_wstrb;
      end
      if (wr) begin
        aw_got       <= 1'b0;
        w_got        <= 1'b0;
        s_axi_bvalid <= 1'b1;
      end else if (s_axi_bvalid && s_axi_bready) begin
        s_axi_bvalid <= 1'b0;
      end

      // CTRL: ap_start set by the host, taken by the core; done/ready events and reads
      if (wr && woff == 'h00 && wstrb[0] && wdata[0]) ap_start <= 1'b1;
      else if (start) ap_start <= auto_restart;
      if (wr && woff == 'h00 && wstrb[0]) auto_restart <= wdata[7];
      if (done) ap_done <= 1'b1;
      else if (ar_fire && roff == 'h00) ap_done <= 1'b0;
      if (start) ap_ready <= 1'b1;
      else if (ar_fire && roff == 'h00) ap_ready <= 1'b0;

      if (wr && woff == 'h04 && wstrb[0]) gie <= wdata[0];
      if (wr && woff == 'h08 && wstrb[0]) ier <= wdata[1:0];
      for (int b = 0; b < 2; b++) begin
        if (wr && woff == 'h0C && wstrb[0] && wdata[b]) isr[b] <= !isr[b];
        else if (ier[b] && (b == 0 ? done : start)) isr[b] <= 1'b1;
      end
      if (wr && woff == 'h10) in_addr[31:0] <= merge(in_addr[31:0], wdata, wstrb);
      if (wr && woff == 'h14) in_addr[63:32] <= merge(in_addr[63:32], wdata, wstrb);
      if (wr && woff == 'h1C) out_addr[31:0] <= merge(out_addr[31:0], wdata, wstrb);
      if (wr && woff == 'h20) out_addr[63:32] <= merge(out_addr[63:32], wdata, wstrb);
      if (wr && woff == 'h28) frames <= merge(frames, wdata, wstrb);

      if (ar_fire) begin
        s_axi_rvalid <= 1'b1;
        case (roff)
          'h00: s_axi_rdata <= {24'b0, auto_restart, 3'b0, ap_ready, idle, ap_done, ap_start};
          'h04: s_axi_rdata <= {31'b0, gie};
          'h08: s_axi_rdata <= {30'b0, ier};
          'h0C: s_axi_rdata <= {30'b0, isr};
          'h10: s_axi_rdata <= in_addr[31:0];
          'h14: s_axi_rdata <= in_addr[63:32];
          'h1C: s_axi_rdata <= out_addr[31:0];
          'h20: s_axi_rdata <= out_addr[63:32];
          'h28: s_axi_rdata <= frames;
          'h30: s_axi_rdata <= cycles[31:0];
          'h34: s_axi_rdata <= cycles[63:32];
          'h40: s_axi_rdata <= MAGIC;
          'h44: s_axi_rdata <= DESIGN_ID;
          'h48: s_axi_rdata <= 32'(IN_WORD_BYTES);
          'h4C: s_axi_rdata <= 32'(OUT_WORD_BYTES);
          'h50: s_axi_rdata <= 32'(IN_WORDS);
          'h54: s_axi_rdata <= 32'(OUT_WORDS);
          default: s_axi_rdata <= '0;
        endcase
      end else if (s_axi_rvalid && s_axi_rready) begin
        s_axi_rvalid <= 1'b0;
      end
    end
  end

  assign interrupt = gie && |(ier & isr);

  logic unused_lsb;  // registers are 32-bit aligned
  assign unused_lsb = ^{s_axi_araddr[1:0], waddr[1:0]};
endmodule
