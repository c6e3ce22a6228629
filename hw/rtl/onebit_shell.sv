// onebit_shell: the accelerator (`onebit_accel`, written by onebit.hw.stitch) as a memory-mapped
// kernel: an AXI4-Lite control slave (ap_ctrl_hs, onebit_axil_ctrl), one AXI4 master
// (`m_axi_gmem`) that reads input frames from memory and writes output frames back, and an
// interrupt. The same module is a Vitis RTL kernel and a Zynq AXI peripheral. AXI-Lite writes
// at offsets >= 0x100 go to the accelerator's weight write port (`cfg_*`, as wide as the control
// address): the runtime-writable layers' windows (onebit.driver.weights); an accelerator
// without such layers ignores the port.
//
// Memory layout (docs/shell.md, onebit.hw.packing.frames_to_bytes): every stream word takes
// WORD_BYTES bytes (a power of two), its elements packed as onebit.hw.packing, little-endian;
// frames are contiguous. A run of F frames reads F * IN_WORDS * IN_WORD_BYTES bytes from the
// input address and writes F * OUT_WORDS * OUT_WORD_BYTES bytes to the output address. Both
// addresses must be aligned to the bus (C_M_AXI_DATA_WIDTH / 8 bytes); the reader fetches whole
// bus words (up to the next bus-word boundary after the input), the writer strobes only the
// output's bytes.
//
// Data path: reader -> onebit_dwc (bus -> input word) -> the first F * IN_WORDS words to the
// accelerator (the rest of the last bus word is dropped); accelerator -> frames counted by their
// last word (TLAST) -> zero words to fill the last bus word -> onebit_dwc (output word -> bus)
// -> writer. A run: accepted (ap_start while idle) -> LOAD (transfer sizes) -> GO (reader and
// writer start, converters cleared) -> RUN until every output frame arrived, every input beat
// was read and every write response came back -> ap_done. `cycles` counts from acceptance to
// ap_done.
module onebit_shell #(
  parameter int unsigned C_M_AXI_DATA_WIDTH         = 64,
  parameter int unsigned C_M_AXI_ADDR_WIDTH         = 64,
  parameter int unsigned C_S_AXI_CONTROL_ADDR_WIDTH = 8,
  parameter int unsigned IN_BITS         = 8,   // the accelerator's input tdata bits
  parameter int unsigned OUT_BITS        = 8,   // the accelerator's output tdata bits
  parameter int unsigned IN_WORD_BYTES   = 1,   // bytes of an input word in memory
  parameter int unsigned OUT_WORD_BYTES  = 1,
  parameter int unsigned IN_WORDS        = 1,   // input words per frame
  parameter int unsigned OUT_WORDS       = 1,   // output words per frame
  parameter logic [31:0] DESIGN_ID       = 32'h0,
  parameter int unsigned MAX_OUTSTANDING = 4
) (
  input  logic                                  ap_clk,
  input  logic                                  ap_rst_n,
  // AXI4 master: AR, R, AW, W, B
  output logic [C_M_AXI_ADDR_WIDTH-1:0]         m_axi_gmem_araddr,
  output logic [7:0]                            m_axi_gmem_arlen,
  output logic [2:0]                            m_axi_gmem_arsize,
  output logic [1:0]                            m_axi_gmem_arburst,
  output logic [3:0]                            m_axi_gmem_arcache,
  output logic [2:0]                            m_axi_gmem_arprot,
  output logic                                  m_axi_gmem_arvalid,
  input  logic                                  m_axi_gmem_arready,
  input  logic [C_M_AXI_DATA_WIDTH-1:0]         m_axi_gmem_rdata,
  input  logic [1:0]                            m_axi_gmem_rresp,
  input  logic                                  m_axi_gmem_rlast,
  input  logic                                  m_axi_gmem_rvalid,
  output logic                                  m_axi_gmem_rready,
  output logic [C_M_AXI_ADDR_WIDTH-1:0]         m_axi_gmem_awaddr,
  output logic [7:0]                            m_axi_gmem_awlen,
  output logic [2:0]                            m_axi_gmem_awsize,
  output logic [1:0]                            m_axi_gmem_awburst,
  output logic [3:0]                            m_axi_gmem_awcache,
  output logic [2:0]                            m_axi_gmem_awprot,
  output logic                                  m_axi_gmem_awvalid,
  input  logic                                  m_axi_gmem_awready,
  output logic [C_M_AXI_DATA_WIDTH-1:0]         m_axi_gmem_wdata,
  output logic [C_M_AXI_DATA_WIDTH/8-1:0]       m_axi_gmem_wstrb,
  output logic                                  m_axi_gmem_wlast,
  output logic                                  m_axi_gmem_wvalid,
  input  logic                                  m_axi_gmem_wready,
  input  logic [1:0]                            m_axi_gmem_bresp,
  input  logic                                  m_axi_gmem_bvalid,
  output logic                                  m_axi_gmem_bready,
  // AXI4-Lite control slave
  input  logic [C_S_AXI_CONTROL_ADDR_WIDTH-1:0] s_axi_control_awaddr,
  input  logic                                  s_axi_control_awvalid,
  output logic                                  s_axi_control_awready,
  input  logic [31:0]                           s_axi_control_wdata,
  input  logic [3:0]                            s_axi_control_wstrb,
  input  logic                                  s_axi_control_wvalid,
  output logic                                  s_axi_control_wready,
  output logic [1:0]                            s_axi_control_bresp,
  output logic                                  s_axi_control_bvalid,
  input  logic                                  s_axi_control_bready,
  input  logic [C_S_AXI_CONTROL_ADDR_WIDTH-1:0] s_axi_control_araddr,
  input  logic                                  s_axi_control_arvalid,
  output logic                                  s_axi_control_arready,
  output logic [31:0]                           s_axi_control_rdata,
  output logic [1:0]                            s_axi_control_rresp,
  output logic                                  s_axi_control_rvalid,
  input  logic                                  s_axi_control_rready,
  output logic                                  interrupt
);
  localparam int unsigned DW        = C_M_AXI_DATA_WIDTH;
  localparam int unsigned BUS_BYTES = DW / 8;
  localparam int unsigned SHIFT     = $clog2(BUS_BYTES);
  localparam int unsigned IW        = IN_WORD_BYTES * 8;
  localparam int unsigned OW        = OUT_WORD_BYTES * 8;
  localparam int unsigned MAX_BURST = 4096 / BUS_BYTES < 256 ? 4096 / BUS_BYTES : 256;
  // output words that fill one bus word (1 when a word spans whole bus words)
  localparam int unsigned OUT_PER_BUS = OW < DW ? DW / OW : 1;

  if (DW < 32 || DW > 512 || (1 << SHIFT) != BUS_BYTES) begin : g_bad_dw
    $error("onebit_shell: C_M_AXI_DATA_WIDTH must be a power of two in 32..512, got %0d", DW);
  end
  if (C_M_AXI_ADDR_WIDTH != 64) begin : g_bad_aw
    $error("onebit_shell: C_M_AXI_ADDR_WIDTH must be 64, got %0d", C_M_AXI_ADDR_WIDTH);
  end
  if ((1 << $clog2(IN_WORD_BYTES)) != IN_WORD_BYTES || IN_BITS > IW) begin : g_bad_in
    $error("onebit_shell: IN_WORD_BYTES (%0d) must be a power of two holding IN_BITS (%0d)",
           IN_WORD_BYTES, IN_BITS);
  end
  if ((1 << $clog2(OUT_WORD_BYTES)) != OUT_WORD_BYTES || OUT_BITS > OW) begin : g_bad_out
    $error("onebit_shell: OUT_WORD_BYTES (%0d) must be a power of two holding OUT_BITS (%0d)",
           OUT_WORD_BYTES, OUT_BITS);
  end
  if (IN_WORDS < 1 || OUT_WORDS < 1) begin : g_bad_words
    $error("onebit_shell: IN_WORDS and OUT_WORDS must be >= 1");
  end

  wire clk = ap_clk;
  wire rst_n = ap_rst_n;

  // ---- control
  typedef enum logic [1:0] {IDLE, LOAD, GO, RUN} state_t;
  state_t      state;
  logic        start, done;
  logic [63:0] in_addr, out_addr, cycles;
  logic [31:0] frames;
  logic        cfg_we;
  logic [C_S_AXI_CONTROL_ADDR_WIDTH-1:0] cfg_addr;
  logic [31:0] cfg_data;

  onebit_axil_ctrl #(
    .ADDR_W(C_S_AXI_CONTROL_ADDR_WIDTH), .DESIGN_ID(DESIGN_ID),
    .IN_WORD_BYTES(IN_WORD_BYTES), .OUT_WORD_BYTES(OUT_WORD_BYTES),
    .IN_WORDS(IN_WORDS), .OUT_WORDS(OUT_WORDS)
  ) u_ctrl (
    .clk, .rst_n,
    .s_axi_awaddr(s_axi_control_awaddr), .s_axi_awvalid(s_axi_control_awvalid),
    .s_axi_awready(s_axi_control_awready), .s_axi_wdata(s_axi_control_wdata),
    .s_axi_wstrb(s_axi_control_wstrb), .s_axi_wvalid(s_axi_control_wvalid),
    .s_axi_wready(s_axi_control_wready), .s_axi_bresp(s_axi_control_bresp),
    .s_axi_bvalid(s_axi_control_bvalid), .s_axi_bready(s_axi_control_bready),
    .s_axi_araddr(s_axi_control_araddr), .s_axi_arvalid(s_axi_control_arvalid),
    .s_axi_arready(s_axi_control_arready), .s_axi_rdata(s_axi_control_rdata),
    .s_axi_rresp(s_axi_control_rresp), .s_axi_rvalid(s_axi_control_rvalid),
    .s_axi_rready(s_axi_control_rready),
    .idle(state == IDLE), .done, .start, .in_addr, .out_addr, .frames, .cycles, .interrupt,
    .cfg_we, .cfg_addr, .cfg_data
  );

  // ---- run bookkeeping, registered at LOAD from the arguments latched at acceptance
  logic [63:0] run_in_addr, run_out_addr;
  logic [31:0] run_frames;
  logic [63:0] in_words, in_beats, out_beats;   // words to the accelerator, bus beats
  logic [63:0] in_all;                          // input words in the beats read
  logic [63:0] out_pad;                         // zero words after the last output word
  logic [BUS_BYTES-1:0] last_strb;
  logic [63:0] in_taken;                        // input words taken from the converter
  logic [31:0] out_frames;                      // output frames that arrived
  logic [31:0] out_word;                        // word index in the current output frame
  logic [63:0] pad_left;
  logic        reader_busy, writer_busy;

  wire [63:0] in_bytes  = 64'(run_frames) * 64'(IN_WORDS) * 64'(IN_WORD_BYTES);
  wire [63:0] out_bytes = 64'(run_frames) * 64'(OUT_WORDS) * 64'(OUT_WORD_BYTES);
  wire [63:0] out_total = 64'(run_frames) * 64'(OUT_WORDS);
  wire [SHIFT-1:0] tail_bytes = out_bytes[SHIFT-1:0];  // bytes of a partial last bus word

  wire go = state == GO;
  wire out_done = out_frames == run_frames && pad_left == 0;
  // done once every output frame is in memory and every beat read was taken (nothing is left
  // in the reader for the next run)
  assign done = state == RUN && !reader_busy && !writer_busy && out_done && in_taken == in_all;

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      state  <= IDLE;
      cycles <= '0;
    end else begin
      case (state)
        IDLE: if (start) state <= LOAD;
        LOAD: state <= GO;
        GO:   state <= RUN;
        RUN:  if (done) state <= IDLE;
        default: state <= IDLE;
      endcase
      if (start) cycles <= 64'd1;
      else if (state != IDLE) cycles <= cycles + 64'd1;
    end
  end

  always_ff @(posedge clk) begin
    if (start) begin
      run_in_addr  <= in_addr;
      run_out_addr <= out_addr;
      run_frames   <= frames;
    end
    if (state == LOAD) begin
      in_words  <= 64'(run_frames) * 64'(IN_WORDS);
      in_beats  <= (in_bytes + 64'(BUS_BYTES - 1)) >> SHIFT;
      in_all    <= ((in_bytes + 64'(BUS_BYTES - 1)) >> SHIFT << SHIFT) >> $clog2(IN_WORD_BYTES);
      out_beats <= (out_bytes + 64'(BUS_BYTES - 1)) >> SHIFT;
      out_pad   <= (64'd0 - out_total) & 64'(OUT_PER_BUS - 1);  // OUT_PER_BUS: a power of 2
      last_strb <= tail_bytes == 0 ? '1 : ~({BUS_BYTES{1'b1}} << tail_bytes);
    end
  end

  // ---- input: memory -> bus words -> input words -> accelerator
  logic [DW-1:0] rd_tdata;
  logic          rd_tvalid, rd_tready;
  logic [IW-1:0] iw_tdata;
  logic          iw_tvalid, iw_tready;
  logic [IN_BITS-1:0] acc_s_tdata;
  logic          acc_s_tvalid, acc_s_tready;

  onebit_axi_reader #(
    .DATA_W(DW), .ADDR_W(C_M_AXI_ADDR_WIDTH), .MAX_OUTSTANDING(MAX_OUTSTANDING),
    .FIFO_BEATS(2 * MAX_BURST)
  ) u_reader (
    .clk, .rst_n, .start(go), .base(run_in_addr), .beats(in_beats), .busy(reader_busy),
    .m_axi_araddr(m_axi_gmem_araddr), .m_axi_arlen(m_axi_gmem_arlen),
    .m_axi_arsize(m_axi_gmem_arsize), .m_axi_arburst(m_axi_gmem_arburst),
    .m_axi_arcache(m_axi_gmem_arcache), .m_axi_arprot(m_axi_gmem_arprot),
    .m_axi_arvalid(m_axi_gmem_arvalid), .m_axi_arready(m_axi_gmem_arready),
    .m_axi_rdata(m_axi_gmem_rdata), .m_axi_rresp(m_axi_gmem_rresp),
    .m_axi_rlast(m_axi_gmem_rlast), .m_axi_rvalid(m_axi_gmem_rvalid),
    .m_axi_rready(m_axi_gmem_rready),
    .m_axis_tdata(rd_tdata), .m_axis_tvalid(rd_tvalid), .m_axis_tready(rd_tready)
  );

  onebit_dwc #(.IN_BITS(DW), .OUT_BITS(IW)) u_in_dwc (
    .clk, .rst_n(rst_n && !go),
    .s_axis_tdata(rd_tdata), .s_axis_tvalid(rd_tvalid), .s_axis_tready(rd_tready),
    .m_axis_tdata(iw_tdata), .m_axis_tvalid(iw_tvalid), .m_axis_tready(iw_tready)
  );

  wire in_keep = in_taken < in_words;  // words past the run's input fill the last bus word
  assign acc_s_tdata  = iw_tdata[IN_BITS-1:0];
  assign acc_s_tvalid = iw_tvalid && in_keep && state == RUN;
  assign iw_tready    = state == RUN && (!in_keep || acc_s_tready);

  logic unused_in;  // memory word bits past the accelerator's port
  assign unused_in = ^iw_tdata;

  always_ff @(posedge clk) begin
    if (go) in_taken <= '0;
    else if (iw_tvalid && iw_tready) in_taken <= in_taken + 64'd1;
  end

  // ---- the accelerator
  logic [OUT_BITS-1:0] acc_m_tdata;
  logic                acc_m_tvalid, acc_m_tready;

  onebit_accel u_accel (
    .clk, .rst_n,
    .s_axis_tdata(acc_s_tdata), .s_axis_tvalid(acc_s_tvalid), .s_axis_tready(acc_s_tready),
    .m_axis_tdata(acc_m_tdata), .m_axis_tvalid(acc_m_tvalid), .m_axis_tready(acc_m_tready),
    .cfg_we, .cfg_addr, .cfg_data
  );

  // ---- output: accelerator -> frames (TLAST) -> output words -> bus words -> memory
  logic [OW-1:0] ow_tdata;
  logic          ow_tvalid, ow_tready;
  logic [DW-1:0] wr_tdata;
  logic          wr_tvalid, wr_tready;

  wire out_open  = state == RUN && out_frames != run_frames;
  wire out_tlast = out_word == 32'(OUT_WORDS - 1);  // the frame's last word
  wire out_fire  = acc_m_tvalid && acc_m_tready;
  wire padding   = state == RUN && out_frames == run_frames && pad_left != 0;
  assign acc_m_tready = out_open && ow_tready;
  assign ow_tvalid    = (out_open && acc_m_tvalid) || padding;
  assign ow_tdata     = padding ? '0 : OW'(acc_m_tdata);

  always_ff @(posedge clk) begin
    if (go) begin
      out_frames <= '0;
      out_word   <= '0;
      pad_left   <= out_pad;
    end else begin
      if (out_fire) begin
        out_word <= out_tlast ? '0 : out_word + 32'd1;
        if (out_tlast) out_frames <= out_frames + 32'd1;
      end
      if (padding && ow_tready) pad_left <= pad_left - 64'd1;
    end
  end

  onebit_dwc #(.IN_BITS(OW), .OUT_BITS(DW)) u_out_dwc (
    .clk, .rst_n(rst_n && !go),
    .s_axis_tdata(ow_tdata), .s_axis_tvalid(ow_tvalid), .s_axis_tready(ow_tready),
    .m_axis_tdata(wr_tdata), .m_axis_tvalid(wr_tvalid), .m_axis_tready(wr_tready)
  );

  onebit_axi_writer #(
    .DATA_W(DW), .ADDR_W(C_M_AXI_ADDR_WIDTH), .MAX_OUTSTANDING(MAX_OUTSTANDING),
    .FIFO_BEATS(2 * MAX_BURST)
  ) u_writer (
    .clk, .rst_n, .start(go), .base(run_out_addr), .beats(out_beats), .last_strb,
    .busy(writer_busy),
    .s_axis_tdata(wr_tdata), .s_axis_tvalid(wr_tvalid), .s_axis_tready(wr_tready),
    .m_axi_awaddr(m_axi_gmem_awaddr), .m_axi_awlen(m_axi_gmem_awlen),
    .m_axi_awsize(m_axi_gmem_awsize), .m_axi_awburst(m_axi_gmem_awburst),
    .m_axi_awcache(m_axi_gmem_awcache), .m_axi_awprot(m_axi_gmem_awprot),
    .m_axi_awvalid(m_axi_gmem_awvalid), .m_axi_awready(m_axi_gmem_awready),
    .m_axi_wdata(m_axi_gmem_wdata), .m_axi_wstrb(m_axi_gmem_wstrb),
    .m_axi_wlast(m_axi_gmem_wlast), .m_axi_wvalid(m_axi_gmem_wvalid),
    .m_axi_wready(m_axi_gmem_wready),
    .m_axi_bresp(m_axi_gmem_bresp), .m_axi_bvalid(m_axi_gmem_bvalid),
    .m_axi_bready(m_axi_gmem_bready)
  );
endmodule
